// The maintenance-window runbook's contract: its input schema (validated by the workflow and, before
// starting a run, by every front door through the registry), its result, and an example input.
import { z } from 'zod';
import type { BackupInfo, MaintenanceTask } from '../../activities';
import { approvalPolicySchema } from '../lib/approval-rules';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, collectionName, duration, isoTime, relationName, targetName, toMs } from '../lib/schema';

const pgTarget = targetName.optional().describe("postgres target; default: the service's first");
const mongoTarget = targetName.optional().describe("mongo target; default: the service's first");

export const TASK_KINDS = ['vacuum-analyze', 'analyze', 'reindex-table', 'refresh-materialized-view', 'mongo-rebuild-indexes'] as const;

export const maintenanceTaskSchema = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('vacuum-analyze'), table: relationName, database: pgTarget }).strict(),
    z.object({ kind: z.literal('analyze'), table: relationName, database: pgTarget }).strict(),
    z.object({ kind: z.literal('reindex-table'), table: relationName, database: pgTarget }).strict(),
    z.object({ kind: z.literal('refresh-materialized-view'), view: relationName, database: pgTarget }).strict(),
    z.object({ kind: z.literal('mongo-rebuild-indexes'), collection: collectionName, database: mongoTarget }).strict(),
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
    ...r.tasks.map((t) => `${mark[t.status]} ${t.description}${t.durationMs !== undefined ? ` (${t.durationMs}ms)` : ''}`),
    ...(r.backup ? [`backup: ${r.backup.file} (${r.backup.bytes} bytes, ${r.backup.tables} tables)`] : []),
  ];
}
