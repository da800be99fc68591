// Backing up a service's data stores into one backup set (seed 002 Backup Strategy, 004 Backup Schedule):
//   resolve the service's targets -> one step per Postgres, MongoDB and Redis target -> manifest (last: a
//   set without one is incomplete) -> verify (read every object back) -> retention -> report.
// Read-only on the sources, so no approval; and no exclusive use of the service: a backup must never wait
// behind (or hold up) a maintenance window, which itself wants a fresh verified backup before it starts.
// Two runs never share a set: the set id carries the run's key, and each step's keys are deterministic, so
// a retried step after a worker crash finds and reuses what its first attempt verified.
import { workflowInfo } from '@temporalio/workflow';
import type { BackupTargets, RetentionResult, SourceResult, VerifyResult } from '../../activities';
import type { FileRef } from '../../activities/backups/contract';
import { setIdOf } from '../../common/backup-set-id';
import { runRunbook, type Resume, type Run, type RunbookDefinition, type Step } from '../lib/kit';
import { backupSets } from '../lib/proxies';
import { backupInputSchema, describeSource, humanBytes, type BackupInput, type BackupParams, type BackupResult, type BackupSourceSummary } from './contract';

const TYPE = 'backup';

interface State {
  setId: string;
  startedAt: string;
  /** By step id, in plan order. */
  results: Record<string, SourceResult>;
  manifest?: FileRef;
  totalBytes?: number;
  verify?: VerifyResult;
  retention?: RetentionResult;
}

type BRun = Run<BackupParams, BackupTargets, State>;
type BStep = Step<BackupParams, BackupTargets, State>;

function summary(r: SourceResult): BackupSourceSummary {
  const s = r.source;
  const base = { store: s.store, target: s.target, ms: s.ms, reused: r.reused };
  if (s.store === 'postgres') {
    const rows = s.tables.reduce((n, t) => n + t.rows, 0);
    return { ...base, files: 1, bytes: s.file.bytes, items: rows, what: `${rows} rows in ${s.tables.length} tables` };
  }
  if (s.store === 'mongo') {
    const docs = s.collections.reduce((n, c) => n + c.documents, 0);
    const bytes = s.collections.reduce((n, c) => n + c.bson.bytes + c.metadata.bytes, 0);
    return { ...base, files: s.collections.length * 2, bytes, items: docs, what: `${docs} documents in ${s.collections.length} collections` };
  }
  return { ...base, files: 1, bytes: s.file.bytes, items: s.keys, what: `${s.keys} keys (${s.mode}${s.prefix ? ` under ${s.prefix}` : ''})` };
}

const summaries = (r: BRun): BackupSourceSummary[] => Object.values(r.state.results).map(summary);

function sourceStep(id: string, title: string, call: (r: BRun, set: { service: string; setId: string }) => Promise<SourceResult>): BStep {
  return {
    id,
    kind: 'backup',
    title,
    run: async (r) => {
      r.status('running', title);
      const result = await call(r, { service: r.input.service, setId: r.state.setId });
      r.state.results[id] = result;
      return describeSource(summary(result));
    },
  };
}

function steps(input: BackupParams, t: BackupTargets): BStep[] {
  const where = t.location;
  const retentionPolicy = [
    input.retentionDays !== undefined ? `older than ${input.retentionDays}d` : 'older than the configured age',
    input.keepDaily !== undefined ? `keep ${input.keepDaily} daily` : undefined,
    input.keepWeekly !== undefined ? `keep ${input.keepWeekly} weekly` : undefined,
  ].filter(Boolean);
  return [
    ...t.postgres.map((target) =>
      sourceStep(`postgres-${target}`, `pg_dump of ${target} (custom format, with row counts and checksums from the same snapshot) into ${where}`, (_r, set) =>
        backupSets.backupSetPostgres({ ...set, target }),
      ),
    ),
    ...t.mongo.map((m) =>
      sourceStep(`mongo-${m.target}`, `export every collection of ${m.target} (${m.database}) in mongodump's layout, with indexes, into ${where}`, (_r, set) =>
        backupSets.backupSetMongo({ ...set, target: m.target }),
      ),
    ),
    ...t.redis.map((target) =>
      sourceStep(
        `redis-${target}`,
        input.redisMode === 'rdb'
          ? `BGSAVE of ${target} and a copy of its RDB file into ${where}`
          : `DUMP of every key${input.redisPrefix ? ` under ${input.redisPrefix}` : ''} of ${target} into ${where}`,
        (_r, set) => backupSets.backupSetRedis({ ...set, target, mode: input.redisMode, ...(input.redisPrefix ? { prefix: input.redisPrefix } : {}) }),
      ),
    ),
    {
      id: 'manifest',
      kind: 'backup',
      title: 'write the manifest (last: until it exists the set is incomplete)',
      run: async (r) => {
        const m = await backupSets.writeManifest({
          service: input.service,
          setId: r.state.setId,
          workflowId: r.workflowId,
          startedAt: r.state.startedAt,
          results: Object.values(r.state.results),
        });
        r.state.manifest = m.manifest;
        r.state.totalBytes = m.totalBytes;
        return `${m.manifest.key}: ${humanBytes(m.totalBytes)} in ${Object.keys(r.state.results).length} source(s)`;
      },
    },
    {
      id: 'verify',
      kind: 'verify',
      title: 'read every object back: checksums, pg_restore --list, documents and keys against the manifest; then mark it verified',
      run: async (r) => {
        r.state.verify = await backupSets.verifySet({ service: input.service, setId: r.state.setId });
        const v = r.state.verify;
        return `${v.files} objects, ${humanBytes(v.bytes)} read back in ${(v.ms / 1000).toFixed(1)}s${v.checks.length ? `; ${v.checks.join(', ')}` : ''}`;
      },
    },
    {
      id: 'retention',
      kind: 'task',
      title: `apply retention to the sets of ${input.service} (${retentionPolicy.join(', ') || 'configured policy'}; never the newest verified set)`,
      when: input.retention,
      run: async (r) => {
        r.state.retention = await backupSets.applyRetention({
          service: input.service,
          retention: {
            ...(input.retentionDays !== undefined ? { maxAge: `${input.retentionDays}d` } : {}),
            ...(input.keepDaily !== undefined ? { keepDaily: input.keepDaily } : {}),
            ...(input.keepWeekly !== undefined ? { keepWeekly: input.keepWeekly } : {}),
          },
        });
        const d = r.state.retention.delete;
        return `kept ${r.state.retention.keep.length}, deleted ${d.length}${d.length ? `: ${d.map((x) => x.setId).join(', ')}` : ''}`;
      },
    },
  ];
}

export const backupRunbook: RunbookDefinition<BackupParams, BackupTargets, State, BackupResult> = {
  type: TYPE,
  schema: backupInputSchema,
  subject: (i) => `backup of ${i.service}`,
  target: (i) => i.service,
  resolve: (input) => backupSets.resolveBackupTargets({ service: input.service, stores: input.stores }),
  initialState: () => ({ setId: setIdOf(new Date(), workflowInfo().firstExecutionRunId), startedAt: new Date().toISOString(), results: {} }),
  steps,
  completed: (r) =>
    `backup set ${r.input.service}/${r.state.setId} written and verified: ${humanBytes(r.state.totalBytes ?? 0)}, ` +
    `${summaries(r)
      .map((s) => `${s.store} ${s.target} ${s.what}`)
      .join('; ')}`,
  progressNote: (r) => {
    const done = Object.keys(r.state.results);
    return (
      `Set ${r.input.service}/${r.state.setId}: ${done.length ? `backed up ${done.join(', ')}` : 'nothing backed up'}; ` +
      `${r.state.manifest ? 'manifest written' : 'no manifest (the set is incomplete and retention deletes it after a day)'}; ` +
      `${r.state.verify ? 'verified' : 'not verified'}. The sources were only read.`
    );
  },
  result: (base, r) => ({
    ...base,
    service: r.input.service,
    setId: r.state.setId,
    location: r.target?.location ?? '',
    sources: summaries(r),
    totalBytes: r.state.totalBytes ?? 0,
    ...(r.state.manifest ? { manifest: r.state.manifest } : {}),
    verified: r.state.verify !== undefined,
    ...(r.state.verify ? { verifyMs: r.state.verify.ms } : {}),
    ...(r.state.retention ? { retention: { kept: r.state.retention.keep.length, deleted: r.state.retention.delete } } : {}),
  }),
};

export async function backup(input: BackupInput, resume?: Resume<BackupTargets, State>): Promise<BackupResult> {
  return runRunbook(backupRunbook, input, resume);
}
