// The restore runbook's contract (issue "Disaster recovery", corruption and accidental deletion): input
// schema, result, example input, the default approval policy by environment, and the summary lines.
import { z } from 'zod';
import type { LiveItem } from '../../activities/backups/restore-live';
import { approvalPolicySchema, type ApprovalPolicy } from '../lib/approval-rules';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, collectionName, duration, relationName, targetName } from '../lib/schema';

/** A Redis key prefix: plain characters, no glob metacharacters (it is matched literally). */
const keyPrefix = z
  .string()
  .min(1)
  .max(200)
  .refine((s) => !/[*?[\]\\\u0000-\u001f\u007f]/.test(s), 'must be a literal key prefix (no * ? [ ] \\ or control characters)');

const distinct = <T extends z.ZodTypeAny>(item: T) =>
  z
    .array(item)
    .min(1)
    .max(200)
    .refine((xs) => new Set(xs).size === xs.length, 'must not name one twice');

export const restoreInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service whose data to restore, e.g. "reports"'),
    reason: z.string().min(1).max(500).describe('why: the corruption or deletion being repaired (shown to approvers)'),
    setId: z
      .string()
      .regex(/^\d{8}T\d{6}Z-[a-z0-9]{1,8}(-safety)?$/, 'must be a backup set id such as 20261126T031500Z-ab12cd34')
      .optional()
      .describe('the backup set to restore from; default the newest verified set of the service'),
    postgres: z
      .object({ tables: distinct(relationName.refine((s) => s.includes('.'), 'must be schema-qualified, e.g. "public.reports"')).optional() })
      .strict()
      .optional()
      .describe('tables ("schema.table") to replace with the set\'s rows; {} restores every table of the set; left out: Postgres is not touched'),
    mongo: z
      .object({ collections: distinct(collectionName).optional() })
      .strict()
      .optional()
      .describe("collections to replace with the set's documents (indexes recreated); {} every collection of the set; left out: not touched"),
    redis: z
      .object({ prefixes: distinct(keyPrefix).optional() })
      .strict()
      .optional()
      .describe("key prefixes whose keys are replaced by the set's; {} the set's whole prefix; left out: not touched"),
    approval: approvalPolicySchema.optional().describe('who approves; default by the service\'s environment: 2 of sre-lead/dba in "production", 1 elsewhere'),
    lockTimeout: duration('4h').default('30m').describe('how long to wait while another run holds the service'),
  })
  .strict()
  .superRefine((i, ctx) => {
    if (!i.postgres && !i.mongo && !i.redis)
      ctx.addIssue({ code: 'custom', path: ['postgres'], message: 'name at least one store to restore: postgres, mongo or redis' });
  });

export type RestoreInput = z.input<typeof restoreInputSchema>;
export type RestoreParams = z.output<typeof restoreInputSchema>;

/** The default approval policy of a restore in an environment: overwriting production data takes two people. */
export function defaultRestoreApproval(environment: string): ApprovalPolicy {
  return approvalPolicySchema.parse({ quorum: environment === 'production' ? 2 : 1, approverRoles: ['sre-lead', 'dba'], timeout: '1h' });
}

export interface RestoreResult extends RunbookResult {
  service: string;
  environment?: string;
  setId?: string;
  setFinishedAt?: string;
  /** What is (or would be, in a dry run) replaced: counts now and in the set. */
  replaces: LiveItem[];
  /** The set of what was replaced, as it was: written before the restore. */
  safetySetId?: string;
  /** Rows, documents and keys written by the restore. */
  restored: Array<{ store: string; target: string; name: string; restored: number }>;
  /** Differences between the restored data and the set's manifest (a completed restore has none). */
  differences: string[];
  /** Verification failed (or the restore was cut short) and the safety set was put back. */
  safetyRestored?: { setId: string; differences: string[] };
  writes: { stopped: boolean; resumed: boolean; processorsBefore?: number; maintenanceBefore?: boolean };
}

export function exampleRestoreInput(): RestoreInput {
  return {
    service: 'reports',
    requestedBy: 'bob',
    reason: 'report runs overwritten by a bad migration: restore them and the templates from the newest backup',
    postgres: { tables: ['public.report_runs'] },
    mongo: { collections: ['report_templates'] },
  };
}

export function describeItem(i: LiveItem): string {
  const unit = i.store === 'postgres' ? 'rows' : i.store === 'mongo' ? 'documents' : 'keys';
  return `${i.store} ${i.target} ${i.name}: ${i.current} ${unit} now -> ${i.inSet} from the set`;
}

export function summarizeRestore(r: RestoreResult): string[] {
  return [
    `set: ${r.setId ?? '(none)'}${r.setFinishedAt ? ` (finished ${r.setFinishedAt})` : ''}${r.environment ? `; environment ${r.environment}` : ''}`,
    ...r.replaces.map((i) => `replace ${describeItem(i)}`),
    ...(r.safetySetId ? [`safety backup: ${r.safetySetId}`] : []),
    ...r.restored.map((x) => `restored ${x.store} ${x.target} ${x.name}: ${x.restored}`),
    ...r.differences.slice(0, 20).map((d) => `DIFFERENCE ${d}`),
    ...(r.safetyRestored
      ? [
          `safety backup ${r.safetyRestored.setId} put back${r.safetyRestored.differences.length ? `, but ${r.safetyRestored.differences.length} difference(s) remain` : ', equal to it'}`,
        ]
      : []),
    `writes: ${r.writes.stopped ? `stopped, ${r.writes.resumed ? 'resumed' : 'NOT resumed'}` : 'not stopped'}`,
  ];
}
