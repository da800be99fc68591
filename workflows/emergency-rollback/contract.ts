// The emergency rollback's contract (seeds 000/002 "Emergency Rollback", 001 "Immediate Rollback", 004
// "Rollback Process"): input schema, result and example input.
import { z } from 'zod';
import type { DataRollbackCount, DeploymentState, Revision } from '../../activities';
import type { RollbackVerification } from '../lib/rollback';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, duration, targetName } from '../lib/schema';

export const alertSchema = z
  .object({
    name: z.string().min(1).max(200),
    startsAt: z.string().max(40).optional(),
    summary: z.string().max(500).optional(),
    fingerprint: z.string().max(64).optional(),
  })
  .strict();

export const emergencyRollbackInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service to roll back, e.g. "reports"'),
    toRevision: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('revision to go back to; default the one before the current (refused when the current revision is itself a rollback)'),
    databaseRollback: z.boolean().default(true).describe("run the service's configured database rollback steps (services.<name>.dataRollback)"),
    rolloutTimeout: duration('30m').default('5m').describe('how long the previous version may take to become ready'),
    smokeRequests: z.number().int().min(1).max(50).default(5).describe('how many times each configured smoke request is sent'),
    verifyWindow: duration('15m')
      .optional()
      .describe(
        "after the rollout: how long traffic is watched before the 5xx share and p95 are read from Prometheus over that window (default: the service's rollback.verifyWindow)",
      ),
    trigger: z
      .object({
        source: z.enum(['alertmanager', 'api', 'cli', 'ui', 'schedule']).default('cli'),
        alerts: z.array(alertSchema).max(50).default([]),
      })
      .strict()
      .prefault({})
      .describe('what asked for the rollback (the alerts that fired, when Alertmanager did)'),
  })
  .strict();

export type EmergencyRollbackInput = z.input<typeof emergencyRollbackInputSchema>;
export type EmergencyRollbackParams = z.output<typeof emergencyRollbackInputSchema>;

/** Starts of an emergency rollback of the same service within this window are one run (registry dedupe). */
export const ROLLBACK_DEDUPE_WINDOW = '10m';

export interface EmergencyRollbackResult extends RunbookResult {
  service: string;
  from?: Revision;
  to?: Revision;
  /** What each database rollback step counted before, and changed. */
  data: Array<DataRollbackCount & { changed?: number; saved?: number }>;
  verification: RollbackVerification;
  integrity?: { ok: boolean; checks: Array<{ name: string; ok: boolean; detail: string }> };
  incident?: { id: string };
  deployment?: DeploymentState;
}

export function exampleEmergencyRollbackInput(): EmergencyRollbackInput {
  return {
    service: 'reports',
    requestedBy: 'bob',
    reason: 'reports v1.5.0 answers 500 to a third of report requests',
    verifyWindow: '15s',
    trigger: { source: 'cli', alerts: [] },
  };
}

export function summarizeEmergencyRollback(r: EmergencyRollbackResult): string[] {
  const v = r.verification;
  return [
    r.from && r.to ? `rolled back: revision ${r.from.revision} (${r.from.version}) -> revision ${r.to.revision} (${r.to.version})` : 'not rolled back',
    ...r.data.map((d) => `data ${d.id}: ${d.count} counted${d.changed !== undefined ? `, ${d.changed} changed, ${d.saved ?? 0} saved for undo` : ''}`),
    ...(v.health ? [`health: ${v.health.healthy ? 'ok' : 'FAILED'} (HTTP ${v.health.status ?? v.health.detail})`] : []),
    ...(v.smoke ? v.smoke.map((s) => `smoke ${s.name}: ${s.passed}/${s.sent}`) : []),
    ...(v.metrics ? [`prometheus: ${v.metrics.detail}${v.metrics.breaches.length ? ` — ${v.metrics.breaches.join('; ')}` : ''}`] : []),
    ...(r.integrity ? [`data integrity: ${r.integrity.ok ? 'ok' : 'PROBLEMS'}`] : []),
    ...(r.incident ? [`incident #${r.incident.id}`] : []),
  ];
}
