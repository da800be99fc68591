// The one list of runbooks every front door reads: the CLI, the stack's banner, and the coming HTTP API
// and schedules. Each entry: the workflow (typed starts), its input schema, CLI name, id prefix, example
// input and a summary of a result. Adding a runbook adds one entry here; no front door names a runbook.
import { z } from 'zod';
import type { RunbookResult } from '../workflows/lib/result';
import { describeIssues } from '../workflows/lib/validate';
import { durationMs } from '../common/duration';
import { backupInputSchema, exampleBackupInput, summarizeBackup, type BackupResult } from '../workflows/backup/contract';
import type { backup } from '../workflows/backup/workflow';
import {
  cacheInvalidateInputSchema,
  exampleCacheInvalidateInput,
  summarizeCacheInvalidate,
  type CacheInvalidateResult,
} from '../workflows/cache-invalidate/contract';
import type { cacheInvalidate } from '../workflows/cache-invalidate/workflow';
import { cacheWarmInputSchema, exampleCacheWarmInput, summarizeCacheWarm, type CacheWarmResult } from '../workflows/cache-warm/contract';
import type { cacheWarm } from '../workflows/cache-warm/workflow';
import {
  certificateRenewalInputSchema,
  exampleCertificateRenewalInput,
  summarizeCertificateRenewal,
  type CertificateRenewalResult,
} from '../workflows/certificate-renewal/contract';
import type { certificateRenewal } from '../workflows/certificate-renewal/workflow';
import {
  emergencyRollbackInputSchema,
  exampleEmergencyRollbackInput,
  ROLLBACK_DEDUPE_WINDOW,
  summarizeEmergencyRollback,
  type EmergencyRollbackResult,
} from '../workflows/emergency-rollback/contract';
import type { emergencyRollback } from '../workflows/emergency-rollback/workflow';
import {
  exampleGradualRollbackInput,
  gradualRollbackInputSchema,
  summarizeGradualRollback,
  type GradualRollbackResult,
} from '../workflows/gradual-rollback/contract';
import type { gradualRollback } from '../workflows/gradual-rollback/workflow';
import {
  exampleMaintenanceInput,
  maintenanceWindowInputSchema,
  summarizeMaintenance,
  type MaintenanceWindowResult,
} from '../workflows/maintenance-window/contract';
import type { maintenanceWindow } from '../workflows/maintenance-window/workflow';
import { exampleQueueRecoveryInput, queueRecoveryInputSchema, summarizeQueueRecovery, type QueueRecoveryResult } from '../workflows/queue-recovery/contract';
import type { queueRecovery } from '../workflows/queue-recovery/workflow';
import { exampleRestartWorkersInput, restartWorkersInputSchema, summarizeRestart, type RestartWorkersResult } from '../workflows/restart-workers/contract';
import type { restartWorkers } from '../workflows/restart-workers/workflow';
import { exampleRestoreDrillInput, restoreDrillInputSchema, summarizeRestoreDrill, type RestoreDrillResult } from '../workflows/restore-drill/contract';
import type { restoreDrill } from '../workflows/restore-drill/workflow';
import { exampleRestoreInput, restoreInputSchema, summarizeRestore, type RestoreResult } from '../workflows/restore/contract';
import type { restore } from '../workflows/restore/workflow';
import {
  exampleUndoDataRollbackInput,
  summarizeUndoDataRollback,
  undoDataRollbackInputSchema,
  type UndoDataRollbackResult,
} from '../workflows/undo-data-rollback/contract';
import type { undoDataRollback } from '../workflows/undo-data-rollback/workflow';
import {
  disasterRecoveryInputSchema,
  exampleDisasterRecoveryInput,
  summarizeDisasterRecovery,
  type DisasterRecoveryResult,
} from '../workflows/disaster-recovery/contract';
import type { disasterRecovery } from '../workflows/disaster-recovery/workflow';
import { exampleIncidentInput, incidentInputSchema, summarizeIncident, type IncidentResult } from '../workflows/incident/contract';
import type { incident } from '../workflows/incident/workflow';
import { exampleHealthCheckInput, healthCheckInputSchema, summarizeHealthCheck, type HealthCheckResultReport } from '../workflows/health-check/contract';
import type { healthCheck } from '../workflows/health-check/workflow';

/** Any runbook workflow function: (input, resume?) => result. */
export type RunbookWorkflow = (input: never, resume?: never) => Promise<RunbookResult>;
export type InputOf<W> = W extends (input: infer I, ...rest: never[]) => unknown ? I : never;
export type ResultOf<W> = W extends (...args: never[]) => Promise<infer R> ? R : never;

/** A runbook as its own code declares it, fully typed. */
export interface RunbookSpec<W extends RunbookWorkflow> {
  /** CLI name, kebab case: `npm run runbook -- start <name>`. */
  name: string;
  /** The workflow type (the workflow function's name). */
  workflowType: string;
  summary: string;
  /** Workflow ids are `<idPrefix>-<target>-<time>-<random>`. */
  idPrefix: string;
  schema: z.ZodType<{ requestedBy: string; reason?: string; dryRun?: boolean }, InputOf<W>>;
  /** An input that really runs on the local stack. */
  example(): InputOf<W>;
  /** What a run acts on, for its workflow id. */
  targetOf(input: InputOf<W>): string;
  summarize(result: ResultOf<W>): string[];
  /**
   * Starts for the same key within `windowMs` join the run already started (running, or completed in the
   * window) instead of starting a second one: e.g. one emergency rollback per service, however many
   * alerts and people ask for it. A run that failed or was cancelled does not count.
   */
  dedupe?: {
    windowMs: number;
    key(input: InputOf<W>): string;
    /**
     * The deployment revision a completed run left the target at. A completed run is joined only while the
     * target is still at that revision: after a new deploy, the same request is a new run.
     */
    revisionAfter(result: ResultOf<W>): number | undefined;
  };
}

/** A registry entry as front doors use it: input arrives as unknown JSON and is validated here. */
export interface RunbookEntry {
  readonly name: string;
  readonly workflowType: string;
  readonly summary: string;
  readonly idPrefix: string;
  /** Validates input with the runbook's own schema (the workflow checks it again). */
  parse(input: unknown): { ok: true; target: string; requestedBy: string; reason?: string; dryRun: boolean } | { ok: false; error: string };
  example(): Record<string, unknown>;
  summarize(result: RunbookResult): string[];
  /** JSON Schema of the input, generated from the same zod schema that validates it (OpenAPI). */
  inputJsonSchema(): Record<string, unknown>;
  /** See RunbookSpec.dedupe; `key` of a parsed input. */
  readonly dedupe?: { windowMs: number; key(input: unknown): string; revisionAfter(result: RunbookResult): number | undefined };
}

/** An entry that keeps its runbook's types, for typed starts (client/runbooks.ts startTypedRunbook). */
export interface TypedRunbookEntry<W extends RunbookWorkflow> extends RunbookEntry {
  readonly spec: RunbookSpec<W>;
}

function defineRunbook<W extends RunbookWorkflow>(spec: RunbookSpec<W>): TypedRunbookEntry<W> {
  return {
    spec,
    name: spec.name,
    workflowType: spec.workflowType,
    summary: spec.summary,
    idPrefix: spec.idPrefix,
    parse(input) {
      const r = spec.schema.safeParse(input);
      if (!r.success) return { ok: false, error: `invalid ${spec.name} input: ${describeIssues(r.error)}` };
      const { requestedBy, reason, dryRun } = r.data;
      return { ok: true, target: spec.targetOf(input as InputOf<W>), requestedBy, ...(reason ? { reason } : {}), dryRun: dryRun ?? false };
    },
    example: () => spec.example() as Record<string, unknown>,
    summarize: (result) => spec.summarize(result as ResultOf<W>),
    inputJsonSchema: () => z.toJSONSchema(spec.schema, { io: 'input', unrepresentable: 'any' }),
    ...(spec.dedupe
      ? {
          dedupe: {
            windowMs: spec.dedupe.windowMs,
            key: (input: unknown) => spec.dedupe!.key(input as InputOf<W>),
            revisionAfter: (result: RunbookResult) => spec.dedupe!.revisionAfter(result as ResultOf<W>),
          },
        }
      : {}),
  };
}

/** Every runbook, by workflow type, with its types: `startTypedRunbook(client, runbooks.restartWorkers, input)`. */
export const runbooks = {
  maintenanceWindow: defineRunbook<typeof maintenanceWindow>({
    name: 'maintenance-window',
    workflowType: 'maintenanceWindow',
    summary: 'planned maintenance: backup, drain, database tasks, verify, monitor, after approval',
    idPrefix: 'maintenance',
    schema: maintenanceWindowInputSchema,
    example: exampleMaintenanceInput,
    targetOf: (i) => i.service,
    summarize: (r: MaintenanceWindowResult) => summarizeMaintenance(r),
  }),
  restartWorkers: defineRunbook<typeof restartWorkers>({
    name: 'restart-workers',
    workflowType: 'restartWorkers',
    summary: "restart a service's job processors gracefully; force-restart them after approval if that does not recover them",
    idPrefix: 'restart',
    schema: restartWorkersInputSchema,
    example: exampleRestartWorkersInput,
    targetOf: (i) => i.service,
    summarize: (r: RestartWorkersResult) => summarizeRestart(r),
  }),
  emergencyRollback: defineRunbook<typeof emergencyRollback>({
    name: 'emergency-rollback',
    workflowType: 'emergencyRollback',
    summary: 'roll a service back to its previous revision now: stop new work, deployment, database steps, verify, incident record',
    idPrefix: 'rollback',
    schema: emergencyRollbackInputSchema,
    example: exampleEmergencyRollbackInput,
    targetOf: (i) => i.service,
    summarize: (r: EmergencyRollbackResult) => summarizeEmergencyRollback(r),
    // One rollback per service, however many alerts and people ask for it within the window.
    dedupe: { windowMs: durationMs(ROLLBACK_DEDUPE_WINDOW), key: (i) => i.service, revisionAfter: (r: EmergencyRollbackResult) => r.to?.revision },
  }),
  gradualRollback: defineRunbook<typeof gradualRollback>({
    name: 'gradual-rollback',
    workflowType: 'gradualRollback',
    summary: 'planned rollback: reduce traffic, back up, approval, set the previous-stable version, verify, watch, restore',
    idPrefix: 'gradual-rollback',
    schema: gradualRollbackInputSchema,
    example: exampleGradualRollbackInput,
    targetOf: (i) => i.service,
    summarize: (r: GradualRollbackResult) => summarizeGradualRollback(r),
  }),
  undoDataRollback: defineRunbook<typeof undoDataRollback>({
    name: 'undo-data-rollback',
    workflowType: 'undoDataRollback',
    summary: "put back the rows and documents a completed rollback's database steps changed (from what they saved), after approval",
    idPrefix: 'undo-data',
    schema: undoDataRollbackInputSchema,
    example: exampleUndoDataRollbackInput,
    targetOf: (i) => i.service,
    summarize: (r: UndoDataRollbackResult) => summarizeUndoDataRollback(r),
  }),
  backup: defineRunbook<typeof backup>({
    name: 'backup',
    workflowType: 'backup',
    summary: "back up a service's Postgres, MongoDB and Redis into one verified backup set (manifest, checksums), then apply retention",
    idPrefix: 'backup',
    schema: backupInputSchema,
    example: exampleBackupInput,
    targetOf: (i) => i.service,
    summarize: (r: BackupResult) => summarizeBackup(r),
  }),
  restoreDrill: defineRunbook<typeof restoreDrill>({
    name: 'restore-drill',
    workflowType: 'restoreDrill',
    summary: 'restore the newest verified backup set into scratch databases, compare it with its manifest, measure RTO and RPO, drop the scratch copies',
    idPrefix: 'restore-drill',
    schema: restoreDrillInputSchema,
    example: exampleRestoreDrillInput,
    targetOf: (i) => i.service,
    summarize: (r: RestoreDrillResult) => summarizeRestoreDrill(r),
  }),
  restore: defineRunbook<typeof restore>({
    name: 'restore',
    workflowType: 'restore',
    summary:
      'replace corrupted or deleted tables, collections and key prefixes of a service from a verified backup set: approval, writes stopped, safety backup first, verified against the manifest (put back and paged if not)',
    idPrefix: 'restore',
    schema: restoreInputSchema,
    example: exampleRestoreInput,
    targetOf: (i) => i.service,
    summarize: (r: RestoreResult) => summarizeRestore(r),
  }),
  disasterRecovery: defineRunbook<typeof disasterRecovery>({
    name: 'disaster-recovery',
    workflowType: 'disasterRecovery',
    summary:
      "rebuild a service's lost stores (missing or empty) from the newest verified backup set: approval, service stopped, databases created, restored with indexes, verified, service back and healthy; RTO and data-loss window reported (drill: into scratch copies)",
    idPrefix: 'disaster-recovery',
    schema: disasterRecoveryInputSchema,
    example: exampleDisasterRecoveryInput,
    targetOf: (i) => i.service,
    summarize: (r: DisasterRecoveryResult) => summarizeDisasterRecovery(r),
  }),
  cacheWarm: defineRunbook<typeof cacheWarm>({
    name: 'cache-warm',
    workflowType: 'cacheWarm',
    summary: "warm a service's per-user metrics cache for its active users (batched, resumable, error budget), verify every key, hit rate before and after",
    idPrefix: 'cache-warm',
    schema: cacheWarmInputSchema,
    example: exampleCacheWarmInput,
    targetOf: (i) => i.service,
    summarize: (r: CacheWarmResult) => summarizeCacheWarm(r),
  }),
  cacheInvalidate: defineRunbook<typeof cacheInvalidate>({
    name: 'cache-invalidate',
    workflowType: 'cacheInvalidate',
    summary:
      "invalidate a service's cache keys by pattern or user (SCAN + UNLINK in bounded batches, protected keys left alone, counted first), TTL hygiene, hit-rate check",
    idPrefix: 'cache-invalidate',
    schema: cacheInvalidateInputSchema,
    example: exampleCacheInvalidateInput,
    targetOf: (i) => i.service,
    summarize: (r: CacheInvalidateResult) => summarizeCacheInvalidate(r),
  }),
  queueRecovery: defineRunbook<typeof queueRecovery>({
    name: 'queue-recovery',
    workflowType: 'queueRecovery',
    summary:
      "check a service's job queues (list layout and BullMQ) against thresholds; recover: stuck and failed jobs back to work without losing or duplicating one, clean old BullMQ jobs; or wait for them to drain",
    idPrefix: 'queue-recovery',
    schema: queueRecoveryInputSchema,
    example: exampleQueueRecoveryInput,
    targetOf: (i) => i.service,
    summarize: (r: QueueRecoveryResult) => summarizeQueueRecovery(r),
  }),
  incident: defineRunbook<typeof incident>({
    name: 'incident',
    workflowType: 'incident',
    summary:
      'declare an incident (P0-P3): the communication template to the severity audience (P0/P1 paged), status updates until resolved, escalation while unacknowledged, acknowledge/update/resolve, post-incident report from its timeline',
    idPrefix: 'incident',
    schema: incidentInputSchema,
    example: exampleIncidentInput,
    targetOf: (i) => i.service ?? 'incident',
    summarize: (r: IncidentResult) => summarizeIncident(r),
  }),
  certificateRenewal: defineRunbook<typeof certificateRenewal>({
    name: 'certificate-renewal',
    workflowType: 'certificateRenewal',
    summary:
      "renew a TLS front's certificate when it expires within the threshold (or forced): read it over TLS, back up the pair, obtain and validate the new one, install, reload nginx gracefully, verify over TLS, restore on failure",
    idPrefix: 'certificate-renewal',
    schema: certificateRenewalInputSchema,
    example: exampleCertificateRenewalInput,
    targetOf: (i) => i.certificate,
    summarize: (r: CertificateRenewalResult) => summarizeCertificateRenewal(r),
  }),
  healthCheck: defineRunbook<typeof healthCheck>({
    name: 'health-check',
    workflowType: 'healthCheck',
    summary:
      'check a service (daily: HTTP, Postgres connections, Redis memory, Mongo, queues, error rate, job freshness, disk, certificates; weekly adds slow queries, cache hit rate, growth); a critical check opens one incident',
    idPrefix: 'health-check',
    schema: healthCheckInputSchema,
    example: exampleHealthCheckInput,
    targetOf: (i) => i.service,
    summarize: (r: HealthCheckResultReport) => summarizeHealthCheck(r),
  }),
};

/** The same list for front doors that take input as JSON (CLI, banner, HTTP API, schedules). */
export const RUNBOOKS: readonly RunbookEntry[] = Object.values(runbooks);

export class UnknownRunbookError extends Error {
  override name = 'UnknownRunbookError';
}

export function runbookByName(name: string): RunbookEntry {
  const e = RUNBOOKS.find((r) => r.name === name);
  if (!e) throw new UnknownRunbookError(`no runbook "${name}"; known runbooks: ${RUNBOOKS.map((r) => r.name).join(', ')}`);
  return e;
}

export function runbookByType(workflowType: string): RunbookEntry | undefined {
  return RUNBOOKS.find((r) => r.workflowType === workflowType);
}
