// The restart-workers runbook's contract (seed 004 "Restarting Queue": graceful restart; force restart if
// graceful fails): input schema, result and example input.
import { z } from 'zod';
import type { RecoveryResult, RestartResult } from '../../activities';
import { approvalPolicySchema } from '../lib/approval-rules';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, duration, targetName } from '../lib/schema';

export const restartWorkersInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service whose job processors to restart, e.g. "reports"'),
    recoveryTimeout: duration('1h').default('2m').describe('after each restart, how long to wait for jobs to be processed again (a probe job completes)'),
    force: z.boolean().default(true).describe('if the graceful restart does not recover the processors, ask for approval to force-restart them'),
    approval: approvalPolicySchema
      .prefault({ approverRoles: ['sre-lead'], timeout: '30m' })
      .describe('who must approve a force restart (graceful restarts need no approval)'),
    lockTimeout: duration('4h').default('15m').describe('how long to wait while another run holds the service'),
  })
  .strict();

export type RestartWorkersInput = z.input<typeof restartWorkersInputSchema>;
export type RestartWorkersParams = z.output<typeof restartWorkersInputSchema>;

export interface RestartAttempt {
  restart: RestartResult;
  recovery: RecoveryResult;
}

export interface RestartWorkersResult extends RunbookResult {
  service: string;
  /** Which restart brought the processors back, if any. */
  recoveredBy: 'graceful' | 'force' | 'none';
  graceful?: RestartAttempt;
  force?: RestartAttempt;
}

export function exampleRestartWorkersInput(): RestartWorkersInput {
  return {
    service: 'reports',
    requestedBy: 'bob',
    reason: 'report jobs are not being processed',
    recoveryTimeout: '1m',
    approval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '30m' },
  };
}

function attempt(name: string, a: RestartAttempt | undefined): string | undefined {
  if (!a) return undefined;
  const r = a.recovery;
  return (
    `${name} restart (generation ${a.restart.generation}${a.restart.killed !== undefined ? `, ${a.restart.killed} killed` : ''}): ` +
    `${r.recovered ? 'recovered' : 'NOT recovered'} in ${(r.waitedMs / 1000).toFixed(1)}s, probe ${r.probe}, queue ${r.depthBefore} -> ${r.depthAfter}`
  );
}

export function summarizeRestart(r: RestartWorkersResult): string[] {
  return [attempt('graceful', r.graceful), attempt('force', r.force), `recovered by: ${r.recoveredBy}`].filter((x): x is string => !!x);
}
