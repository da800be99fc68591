// Database rollback steps as reviewed configuration (seed 001 "Database Rollback Scripts"), not scripts:
// each step names one collection or table, a filter made of plain equality / $in / comparison conditions,
// and one change (delete, or set/unset fields). Nothing here can run arbitrary code ($where, $function and
// SQL text are not representable). The activities in activities/data-rollback/ count what each step would
// touch, save those documents/rows, and apply the change idempotently.
import { z } from 'zod';

const name = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes, starting with a letter');
const stepId = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes, starting with a letter');
/** A document field or column: letters, digits, _ (Mongo: dotted paths allowed). No `$`. */
const field = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62}){0,4}$/, 'a field name (letters, digits, _; dotted for Mongo)');
const column = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a column name (lower-case letters, digits, _)');
const scalar = z.union([z.string().max(500), z.number(), z.boolean(), z.null()]);

/** One Mongo condition on a field: a value, or one of $in/$nin/$gte/$gt/$lte/$lt/$ne/$exists. */
export const mongoConditionSchema = z.union([
  scalar,
  z.object({ $in: z.array(scalar).min(1).max(100) }).strict(),
  z.object({ $nin: z.array(scalar).min(1).max(100) }).strict(),
  z.object({ $gte: scalar }).strict(),
  z.object({ $gt: scalar }).strict(),
  z.object({ $lte: scalar }).strict(),
  z.object({ $lt: scalar }).strict(),
  z.object({ $ne: scalar }).strict(),
  z.object({ $exists: z.boolean() }).strict(),
]);

const change = {
  delete: z.literal(true).optional().describe('delete the matching documents/rows'),
  set: z.record(z.string(), scalar).optional().describe('fields/columns set to these values on the matching documents/rows'),
};

export const mongoRollbackStepSchema = z
  .object({
    id: stepId,
    description: z.string().max(300).optional(),
    store: z.literal('mongo'),
    target: name.describe('a mongo target of the service'),
    collection: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,119}$/, 'a collection name'),
    filter: z.record(field, mongoConditionSchema).refine((f) => Object.keys(f).length > 0, 'must name at least one condition (no unbounded changes)'),
    ...change,
    set: z.record(field, scalar).optional(),
    unset: z.array(field).min(1).optional().describe('fields removed from the matching documents'),
  })
  .strict();

export const postgresRollbackStepSchema = z
  .object({
    id: stepId,
    description: z.string().max(300).optional(),
    store: z.literal('postgres'),
    target: name.describe('a postgres target of the service'),
    migration: z.string().max(100).optional().describe('the down-migration this step belongs to, e.g. 0002_reports_v2'),
    table: z.string().regex(/^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$/, 'schema.table, e.g. public.report_exports'),
    where: z
      .record(column, z.array(scalar).min(1).max(100))
      .refine((w) => Object.keys(w).length > 0, 'must name at least one column (no unbounded changes)')
      .describe('column -> values: rows where every named column is one of its values'),
    ...change,
    set: z.record(column, scalar).optional(),
  })
  .strict();

export const dataRollbackStepSchema = z.discriminatedUnion('store', [mongoRollbackStepSchema, postgresRollbackStepSchema]).superRefine((s, ctx) => {
  const sets = Object.keys(s.set ?? {}).length > 0 || ('unset' in s && !!s.unset?.length);
  if (s.delete && sets) ctx.addIssue({ code: 'custom', message: 'either delete, or set/unset fields, not both' });
  if (!s.delete && !sets) ctx.addIssue({ code: 'custom', message: 'needs a change: delete: true, set or unset' });
});

export const dataRollbackSchema = z
  .object({
    description: z.string().max(300).describe('what release these steps undo, e.g. "reports v2 (seed 001)"'),
    steps: z
      .array(dataRollbackStepSchema)
      .min(1)
      .max(50)
      .refine((steps) => new Set(steps.map((s) => s.id)).size === steps.length, 'step ids must be unique'),
  })
  .strict();

export type DataRollback = z.infer<typeof dataRollbackSchema>;
export type DataRollbackStep = z.infer<typeof dataRollbackStepSchema>;
export type MongoRollbackStep = z.infer<typeof mongoRollbackStepSchema>;
export type PostgresRollbackStep = z.infer<typeof postgresRollbackStepSchema>;
