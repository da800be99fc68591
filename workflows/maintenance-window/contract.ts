// The maintenance-window runbook's contract: its input schema (validated by the workflow and, before
// starting a run, by every front door through the registry), its result, and an example input.
import { z } from 'zod';
import type { BackupInfo, MaintenanceTask } from '../../activities';
import { approvalPolicySchema } from '../lib/approval-rules';
import type { RunbookResult } from '../lib/result';
import { parseDuration } from '../../common/duration';
import { baseInputShape, collectionName, duration, isoTime, relationName, targetName, toMs } from '../lib/schema';

const pgTarget = targetName.optional().describe("postgres target; default: the service's first");
const mongoTarget = targetName.optional().describe("mongo target; default: the service's first");

export const TASK_KINDS = [
  'vacuum-analyze',
  'analyze',
  'reindex-table',
  'refresh-materialized-view',
  'mongo-rebuild-indexes',
  'reindex-if-bloated',
  'report',
  'terminate-sessions',
  'archive-rows',
  'mongo-retention',
] as const;

/** A plain column or field name: letters, digits, underscores (quoted by the driver's helper anyway). */
const columnName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'must be a plain column name (letters, digits, underscores)');
/** A Mongo field path without operators: `createdAt`, `meta.createdAt`. */
const fieldName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62}){0,3}$/, 'must be a field name like "createdAt" (no $ operators)');
/** Rows/documents older than a duration ('2y', '7d') or an ISO time; the cutoff is fixed when the run is planned. */
const olderThan = z
  .string()
  .refine((s) => parseDuration(s) !== undefined || !Number.isNaN(Date.parse(s)), 'must be a duration such as "2y" or "7d", or an ISO time')
  .refine((s) => parseDuration(s) === undefined || parseDuration(s)! <= toMs('100y'), 'must be at most 100y');
const batchSize = z.number().int().min(1, 'must be at least 1').max(100_000).default(1000).describe('rows or documents per batch (one transaction each)');
const pgRoleName = z.string().min(1).max(63);

export const maintenanceTaskSchema = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('vacuum-analyze'), table: relationName, database: pgTarget }).strict(),
    z.object({ kind: z.literal('analyze'), table: relationName, database: pgTarget }).strict(),
    z.object({ kind: z.literal('reindex-table'), table: relationName, database: pgTarget }).strict(),
    z.object({ kind: z.literal('refresh-materialized-view'), view: relationName, database: pgTarget }).strict(),
    z.object({ kind: z.literal('mongo-rebuild-indexes'), collection: collectionName, database: mongoTarget }).strict(),
    z
      .object({
        kind: z.literal('reindex-if-bloated'),
        table: relationName,
        minBloatRatio: z.number().min(0).max(1).default(0.3).describe('reindex when at least this share of the index pages is estimated waste'),
        database: pgTarget,
      })
      .strict(),
    z
      .object({
        kind: z.literal('report'),
        top: z.number().int().min(1).max(50).default(10).describe("how many of pg_stat_statements' queries to list"),
        over: duration('24h').default('1m').describe('list queries running, and transactions idle, longer than this'),
        database: pgTarget,
      })
      .strict(),
    z
      .object({
        kind: z.literal('terminate-sessions'),
        idleInTransactionOver: duration('7d').describe('terminate sessions idle in a transaction longer than this'),
        queryOver: duration('7d').optional().describe('also terminate sessions running one query longer than this'),
        allowUsers: z.array(pgRoleName).max(50).default([]).describe('never terminate sessions of these users'),
        allowApplications: z.array(z.string().max(200)).max(50).default([]).describe('never terminate sessions of these application_names'),
        database: pgTarget,
      })
      .strict(),
    z
      .object({
        kind: z.literal('archive-rows'),
        table: relationName,
        archiveTable: relationName,
        timeColumn: columnName,
        olderThan: olderThan.default('2y'),
        batchSize,
        database: pgTarget,
      })
      .strict()
      .refine((t) => t.table !== t.archiveTable, { path: ['archiveTable'], message: 'must differ from table' }),
    z
      .object({
        kind: z.literal('mongo-retention'),
        collection: collectionName,
        timeField: fieldName,
        olderThan,
        filter: z
          .record(fieldName, z.union([z.string().max(200), z.number(), z.boolean()]))
          .refine((f) => Object.keys(f).length <= 10, 'at most 10 fields')
          .optional()
          .describe('equality only, e.g. {"status": "completed"}'),
        batchSize,
        database: mongoTarget,
      })
      .strict(),
  ],
  { error: () => `unknown task kind; known kinds: ${TASK_KINDS.join(', ')}` },
);

// The schema's output is what the activities take: a compile-time check that the two never drift apart.
const _sameTask: MaintenanceTask = {} as z.output<typeof maintenanceTaskSchema>;
void _sameTask;

export const DEFAULT_WINDOW_LENGTH = '2h';
export const MAX_WINDOW_LENGTH = '7d';

/** The window as epoch milliseconds; `now` is when the run started. */
export function resolveWindow(w: { start?: string; end?: string; length?: string }, now: number): { start: number; end: number } {
  const start = w.start ? Date.parse(w.start) : now;
  return { start, end: w.end ? Date.parse(w.end) : start + toMs(w.length ?? DEFAULT_WINDOW_LENGTH) };
}

export const maintenanceWindowInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service to maintain, e.g. "reports"'),
    window: z
      .object({
        start: isoTime.optional().describe('when work may begin; default: when the run starts'),
        end: isoTime.optional().describe('hard stop: no step that changes anything starts after it'),
        length: duration(MAX_WINDOW_LENGTH).optional().describe('instead of end: how long the window lasts (default 2h)'),
      })
      .strict()
      .refine((w) => !(w.end && w.length), { path: ['length'], message: 'give window.end or window.length, not both' })
      .refine((w) => !w.start || !w.end || Date.parse(w.end) > Date.parse(w.start), { path: ['end'], message: 'must be after window.start' })
      .refine((w) => !w.start || !w.end || Date.parse(w.end) - Date.parse(w.start) <= toMs(MAX_WINDOW_LENGTH), {
        path: ['end'],
        message: `a window lasts at most ${MAX_WINDOW_LENGTH}`,
      })
      .prefault({})
      .describe('the maintenance window; {} means "from now for 2 hours"'),
    tasks: z.array(maintenanceTaskSchema).min(1, 'needs at least one task').max(50),
    approval: approvalPolicySchema.prefault({}),
    backup: z.boolean().default(true).describe('pg_dump the service database before any change'),
    drainTimeout: duration('4h').default('10m').describe('how long to wait for the job queue to empty'),
    monitoringPeriod: duration('24h').default('30m').describe('how long to watch the service after maintenance'),
    monitorInterval: duration('1h').default('1m').describe('how often to check during monitoring'),
  })
  .strict();

export type MaintenanceWindowInput = z.input<typeof maintenanceWindowInputSchema>;
export type MaintenanceWindowParams = z.output<typeof maintenanceWindowInputSchema>;

export interface TaskOutcome {
  index: number;
  description: string;
  status: 'done' | 'skipped' | 'not-run';
  durationMs?: number;
  detail?: string;
}

export interface MaintenanceWindowResult extends RunbookResult {
  service: string;
  tasks: TaskOutcome[];
  backup?: BackupInfo;
}

/** A ready-to-paste example input (README, CLI `--example`, Web UI): a window from now for 2 hours. */
export function exampleMaintenanceInput(): MaintenanceWindowInput {
  return {
    service: 'reports',
    requestedBy: 'bob',
    reason: 'weekly database maintenance',
    window: { length: '2h' },
    tasks: [
      { kind: 'vacuum-analyze', table: 'public.reports' },
      { kind: 'reindex-table', table: 'public.report_runs' },
      { kind: 'refresh-materialized-view', view: 'public.report_daily_stats' },
      { kind: 'analyze', table: 'public.report_runs' },
      { kind: 'mongo-rebuild-indexes', collection: 'report_audit_logs' },
    ],
    approval: { quorum: 1, approverRoles: ['sre-lead', 'dba'], timeout: '1h' },
    monitoringPeriod: '2m',
    monitorInterval: '30s',
  };
}

export function summarizeMaintenance(r: MaintenanceWindowResult): string[] {
  const mark = { done: '✓', skipped: '–', 'not-run': '·' } as const;
  return [
    ...r.tasks.map(
      (t) =>
        `${mark[t.status]} ${t.description}${t.durationMs !== undefined ? ` (${t.durationMs}ms)` : ''}${t.detail ? `\n      ${t.detail.replace(/\n/g, '\n      ')}` : ''}`,
    ),
    ...(r.backup ? [`backup: ${r.backup.file} (${r.backup.bytes} bytes, ${r.backup.tables} tables)`] : []),
  ];
}
