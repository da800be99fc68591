// The gradual (planned) rollback's contract (seed 001 "Gradual Rollback"): input schema, result, example.
import { z } from 'zod';
import type { BackupInfo, DataRollbackCount, MongoBackupInfo, Revision } from '../../activities';
import { approvalPolicySchema } from '../lib/approval-rules';
import type { RunbookResult } from '../lib/result';
import type { RollbackVerification } from '../lib/rollback';
import { baseInputShape, duration, targetName } from '../lib/schema';
import { parseDuration } from '../../common/duration';

export const gradualRollbackInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service to roll back, e.g. "reports"'),
    toRevision: z.number().int().min(1).optional().describe('revision whose version is set (the previous-stable); default the one before the current'),
    reducedReplicas: z.number().int().min(0).max(32).default(1).describe('processors while the rollback runs (seed: scale down to a single replica)'),
    backup: z.boolean().default(true).describe('back up the collections and tables the database rollback touches first (verified)'),
    databaseRollback: z.boolean().default(true).describe("run the service's configured database rollback steps"),
    approval: approvalPolicySchema.prefault({ approverRoles: ['sre-lead'], timeout: '1h' }).describe('who approves the rollback, after the backup'),
    rolloutTimeout: duration('1h').default('10m'),
    smokeRequests: z.number().int().min(1).max(50).default(5),
    watchFor: duration('24h').default('10m').describe('after routing is restored: how long the metrics are watched'),
    watchInterval: duration('1h').default('1m').describe('how often the metrics are read while watching (each read covers one interval)'),
    onBreach: z
      .enum(['stop', 'roll-forward'])
      .default('stop')
      .describe('a breach while watching: stop and leave it to a person, or deploy the version rolled back from again'),
    lockTimeout: duration('4h').default('30m').describe('how long to wait while another run holds the service'),
  })
  .strict()
  .superRefine((i, ctx) => {
    // Zod runs this even when a field already failed (its issues are continuable): a bad duration is reported
    // by its own field, and must not throw here.
    const watchFor = parseDuration(i.watchFor);
    const interval = parseDuration(i.watchInterval);
    if (watchFor === undefined || interval === undefined) return;
    const reads = watchFor / interval;
    if (reads > 500)
      ctx.addIssue({ code: 'custom', path: ['watchInterval'], message: `watchFor / watchInterval must be at most 500 reads (is ${Math.ceil(reads)})` });
    if (interval < 5000) ctx.addIssue({ code: 'custom', path: ['watchInterval'], message: 'must be at least 5s' });
  });

export type GradualRollbackInput = z.input<typeof gradualRollbackInputSchema>;
export type GradualRollbackParams = z.output<typeof gradualRollbackInputSchema>;

export interface WatchRead {
  at: string;
  healthy: boolean;
  detail: string;
  breaches: string[];
}

export interface GradualRollbackResult extends RunbookResult {
  service: string;
  from?: Revision;
  to?: Revision;
  backups: { postgres: BackupInfo[]; mongo: MongoBackupInfo[] };
  data: Array<DataRollbackCount & { changed?: number; saved?: number }>;
  verification: RollbackVerification;
  watch: WatchRead[];
  /** Set when a breach while watching deployed the version rolled back from again. */
  rolledForward?: Revision;
}

export function exampleGradualRollbackInput(): GradualRollbackInput {
  return {
    service: 'reports',
    requestedBy: 'bob',
    reason: 'planned rollback of reports v2 (v1.5.0) to the previous stable release',
    approval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '1h' },
    watchFor: '30s',
    watchInterval: '10s',
  };
}

export function summarizeGradualRollback(r: GradualRollbackResult): string[] {
  return [
    r.from && r.to ? `version set: revision ${r.from.revision} (${r.from.version}) -> revision ${r.to.revision} (${r.to.version})` : 'version not changed',
    ...r.backups.postgres.map((b) => `backup ${b.database}: ${b.file} (${b.tables} tables, sha256 ${b.sha256.slice(0, 12)})`),
    ...r.backups.mongo.map((b) => `backup ${b.target}: ${b.file} (${JSON.stringify(b.documents)})`),
    ...r.data.map((d) => `data ${d.id}: ${d.count} counted${d.changed !== undefined ? `, ${d.changed} changed` : ''}`),
    `watched: ${r.watch.length} read(s), ${r.watch.filter((w) => w.breaches.length || !w.healthy).length} with problems`,
    ...(r.rolledForward ? [`rolled forward again to revision ${r.rolledForward.revision} (${r.rolledForward.version})`] : []),
  ];
}
