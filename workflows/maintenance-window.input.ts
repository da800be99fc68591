// Input, result and plan types of the maintenance-window runbook. Shared by the workflow (which validates
// its own input) and the clients (which validate the same schema before starting a run).
import { z } from 'zod';
import { approvalPolicySchema, type ApprovalState } from './lib/approval-rules';
import type { PlanStep, RunOutcome } from './lib/runbook';
import type { CompensationResult } from './lib/saga';
import { collectionName, duration, isoTime, person, relationName, targetName, toMs } from './lib/schema';

const pgTarget = targetName.optional().describe('postgres target; default: the service\'s first');
const mongoTarget = targetName.optional().describe('mongo target; default: the service\'s first');

export const TASK_KINDS = [
  'vacuum-analyze',
  'analyze',
  'reindex-table',
  'refresh-materialized-view',
  'mongo-rebuild-indexes',
] as const;

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

export type MaintenanceTask = z.output<typeof maintenanceTaskSchema>;

export const DEFAULT_WINDOW_LENGTH = '2h';

/** The window as epoch milliseconds; `now` is when the run started. */
export function resolveWindow(w: { start?: string; end?: string; length?: string }, now: number): { start: number; end: number } {
  const start = w.start ? Date.parse(w.start) : now;
  return { start, end: w.end ? Date.parse(w.end) : start + toMs(w.length ?? DEFAULT_WINDOW_LENGTH) };
}

export const maintenanceWindowInputSchema = z
  .object({
    service: targetName.describe('configured service to maintain, e.g. "reports"'),
    requestedBy: person.describe('who asks for this run; cannot approve it'),
    reason: z.string().max(500).optional().describe('shown to approvers and in notifications'),
    window: z
      .object({
        start: isoTime.optional().describe('when work may begin; default: when the run starts'),
        end: isoTime.optional().describe('hard stop: no step that changes anything starts after it'),
        length: duration.optional().describe('instead of end: how long the window lasts (default 2h)'),
      })
      .strict()
      .refine((w) => !(w.end && w.length), { path: ['length'], message: 'give window.end or window.length, not both' })
      .refine((w) => !w.start || !w.end || Date.parse(w.end) > Date.parse(w.start), { path: ['end'], message: 'must be after window.start' })
      .prefault({})
      .describe('the maintenance window; {} means "from now for 2 hours"'),
    tasks: z.array(maintenanceTaskSchema).min(1, 'needs at least one task').max(50),
    approval: approvalPolicySchema.prefault({}),
    dryRun: z.boolean().default(false).describe('validate and return the plan; change nothing'),
    backup: z.boolean().default(true).describe('pg_dump the service database before any change'),
    drainTimeout: duration.default('10m').describe('how long to wait for the job queue to empty'),
    monitoringPeriod: duration.default('30m').describe('how long to watch the service after maintenance'),
    monitorInterval: duration.default('1m').describe('how often to check during monitoring'),
  })
  .strict();

export type MaintenanceWindowInput = z.input<typeof maintenanceWindowInputSchema>;
export type MaintenanceWindowParams = z.output<typeof maintenanceWindowInputSchema>;

export type MaintenanceOutcome = RunOutcome;

export interface TaskOutcome {
  index: number;
  description: string;
  status: 'done' | 'skipped' | 'not-run';
  durationMs?: number;
  detail?: string;
}

export interface BackupInfo {
  database: string;
  file: string;
  bytes: number;
  sha256: string;
  tables: number;
  reused: boolean;
}

export interface MaintenanceWindowResult {
  outcome: MaintenanceOutcome;
  reason: string;
  service: string;
  plan: PlanStep[];
  tasks: TaskOutcome[];
  approval: ApprovalState;
  backup?: BackupInfo;
  compensations: CompensationResult[];
  warnings: string[];
  startedAt: string;
  finishedAt: string;
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
