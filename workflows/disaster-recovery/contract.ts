// The disaster-recovery runbook's contract (seed 003 "Disaster Recovery > Complete System Failure"; 000/004
// "complete system failure"): input schema, result, example input and the summary lines.
import { z } from 'zod';
import type { RecoveredStore, StoreState } from '../../activities/backups/recover';
import { approvalPolicySchema } from '../lib/approval-rules';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, duration, isoTime, targetName } from '../lib/schema';
import { humanMs } from '../restore-drill/contract';

export const disasterRecoveryInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service whose lost stores to rebuild, e.g. "reports"'),
    setId: z
      .string()
      .regex(/^\d{8}T\d{6}Z-[a-z0-9]{1,8}$/, 'must be a backup set id such as 20261126T031500Z-ab12cd34')
      .optional()
      .describe('the backup set to recover from; default the newest verified set of the service'),
    drill: z
      .boolean()
      .default(false)
      .describe('rehearse: rebuild every store of the set into scratch copies on the same servers, verify, time it, drop them; the service is not touched'),
    lostAt: isoTime.optional().describe('when the stores were lost (for the RTO and the data-loss window); default the start of this run'),
    waitForStores: duration('2h').default('10m').describe('how long to wait for the stores’ servers to answer (they may still be starting)'),
    healthTimeout: duration('30m').default('2m').describe('how long the service may take to report healthy once it is back'),
    approval: approvalPolicySchema.optional().describe('who approves; default by the service\'s environment: 2 of sre-lead/dba in "production", 1 elsewhere'),
    lockTimeout: duration('4h').default('30m').describe('how long to wait while another run holds the service'),
  })
  .strict();

export type DisasterRecoveryInput = z.input<typeof disasterRecoveryInputSchema>;
export type DisasterRecoveryParams = z.output<typeof disasterRecoveryInputSchema>;

export interface DisasterRecoveryResult extends RunbookResult {
  service: string;
  drill: boolean;
  environment?: string;
  setId?: string;
  /** When the set's backup began: nothing written after it is in the set. */
  setStartedAt?: string;
  setFinishedAt?: string;
  /** What each store of the set held when the run looked (before any change). */
  assessed: StoreState[];
  recovered: RecoveredStore[];
  /** Stores left alone because they hold data (the restore runbook replaces data; this one only rebuilds). A drill leaves none. */
  leftAlone: StoreState[];
  differences: string[];
  /** When the stores were lost (input lostAt, else the run's start). */
  lostAt?: string;
  /** Data written between the set's start and lostAt is not in the set: the data-loss window. */
  dataLossWindowMs?: number;
  /** From lostAt to the service answering healthy on the recovered data (drill: to the copies verified). */
  rtoMs?: number;
  /** From the first write of the recovery to verified (drill) or healthy (recovery). */
  recoveryMs?: number;
  serviceState: { stopped: boolean; back: boolean; healthy?: boolean; health?: string };
}

export function exampleDisasterRecoveryInput(): DisasterRecoveryInput {
  // The drill: it runs on a healthy stack (a real recovery writes only stores that are gone).
  return {
    service: 'reports',
    requestedBy: 'bob',
    reason: 'quarterly disaster-recovery drill: rebuild the newest verified backup into scratch copies',
    drill: true,
  };
}

export function describeState(s: StoreState): string {
  return `${s.store} ${s.target} ${s.name}: ${s.state} (${s.detail})`;
}

export function describeRecovered(s: RecoveredStore): string {
  const counts =
    s.store === 'postgres'
      ? `${s.items} tables, ${s.rows} rows`
      : s.store === 'mongo'
        ? `${s.items} collections, ${s.rows} documents, ${s.indexes ?? 0} indexes`
        : `${s.rows} keys`;
  return `${s.store} ${s.target} -> ${s.name}: ${counts} in ${humanMs(s.ms)}`;
}

export function summarizeDisasterRecovery(r: DisasterRecoveryResult): string[] {
  return [
    `${r.drill ? 'DRILL (scratch copies, service untouched); ' : ''}set: ${r.setId ?? '(none)'}${r.setStartedAt ? ` (started ${r.setStartedAt}, finished ${r.setFinishedAt})` : ''}`,
    ...r.assessed.map((s) => `found ${describeState(s)}`),
    ...r.recovered.map((s) => `recovered ${describeRecovered(s)}`),
    ...r.leftAlone.map((s) => `LEFT ALONE (holds data) ${s.store} ${s.target} ${s.name}`),
    ...r.differences.slice(0, 20).map((d) => `DIFFERENCE ${d}`),
    `RTO: ${r.rtoMs === undefined ? 'not reached' : humanMs(r.rtoMs)}${r.recoveryMs === undefined ? '' : ` (recovery work ${humanMs(r.recoveryMs)})`}; ` +
      `data-loss window: ${r.dataLossWindowMs === undefined ? 'unknown' : `${humanMs(r.dataLossWindowMs)} (${r.setStartedAt} to ${r.lostAt})`}`,
    r.drill
      ? `service: not touched${r.serviceState.health ? `; health now: ${r.serviceState.health}` : ''}`
      : `service: ${r.serviceState.stopped ? 'stopped' : 'not stopped'}, ${r.serviceState.back ? 'back' : 'NOT back'}${r.serviceState.health ? `; health: ${r.serviceState.health}` : ''}`,
  ];
}
