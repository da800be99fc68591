// The restore drill (seed 002 Backup Strategy > Verification; 000 Weekly "Check backup integrity"):
//   find the set -> restore each source into a scratch copy (Postgres database, Mongo database, Redis
//   prefix or scratch redis-server) -> compare every table, collection and key set with the manifest ->
//   record the measured RTO and RPO -> drop the scratch copies -> report.
// A backup is proven restorable only by restoring it. Any difference fails the run, listing all of them;
// the scratch copies are dropped on every ending (their undo is registered before each restore starts),
// unless keepScratch asks to keep them for a person to inspect. Nothing of the service itself changes.
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import type { DrillSet, FindSetResult, RestoreResult, Scratch } from '../../activities';
import { ErrorType } from '../lib/errors';
import { runRunbook, type Resume, type Run, type RunbookDefinition, type Step } from '../lib/kit';
import { lookups, restores } from '../lib/proxies';
import {
  describeSet,
  describeSource,
  humanMs,
  restoreDrillInputSchema,
  scratchNames,
  type DrillSourceResult,
  type RestoreDrillInput,
  type RestoreDrillParams,
  type RestoreDrillResult,
} from './contract';

const TYPE = 'restoreDrill';

interface Target {
  service: string;
  find: FindSetResult;
  database: string;
  redisPrefix: string;
}

interface State {
  rpoMs?: number;
  restoreStartedMs?: number;
  rtoMs?: number;
  restored: Array<RestoreResult & { store: Scratch['store']; target: string }>;
  sources: DrillSourceResult[];
  differences: string[];
  dropped: string[];
}

type DrillRun = Run<RestoreDrillParams, Target, State>;
type DrillStep = Step<RestoreDrillParams, Target, State>;

const scratchOf = (r: DrillRun): Scratch[] => r.state.restored.map((x) => x.scratch);

function restoreStep(input: RestoreDrillParams, t: Target, source: DrillSet['sources'][number]): DrillStep {
  const { store, target, bytes } = source;
  const where =
    store !== 'redis'
      ? `scratch database ${t.database}`
      : source.mode === 'rdb'
        ? 'a scratch redis-server on loopback (its RDB snapshot)'
        : `keys under ${t.redisPrefix}`;
  const undoName = `drop scratch ${store} ${target}`;
  const setId = t.find.found ? t.find.set.setId : '';
  return {
    id: `restore-${store}-${target}`,
    kind: 'data',
    title: `restore ${store} ${target} (${(bytes / 1024 / 1024).toFixed(1)} MB) into ${where}`,
    // Registered before the restore starts: a restore cut short (failure, cancellation) is dropped too.
    ...(input.keepScratch
      ? {}
      : {
          undo: {
            name: undoName,
            run: (r: DrillRun) => {
              const scratch: Scratch[] = r.state.restored.filter((x) => x.store === store && x.target === target).map((x) => x.scratch);
              // Not yet returned (cut short): drop by the names this run would have used.
              if (!scratch.length && store !== 'redis') scratch.push({ store, target, database: t.database });
              if (!scratch.length && store === 'redis') scratch.push({ store, target, mode: 'keys', prefix: t.redisPrefix });
              return restores.dropScratch({ scratch });
            },
          },
        }),
    run: async (r) => {
      r.state.restoreStartedMs ??= Date.now();
      const args = { service: input.service, setId, target, replace: input.replace };
      const res =
        store === 'postgres'
          ? await restores.restorePostgres({ ...args, toDatabase: t.database })
          : store === 'mongo'
            ? await restores.restoreMongo({ ...args, toDatabase: t.database })
            : await restores.restoreRedis({ ...args, toPrefix: t.redisPrefix });
      r.state.restored.push({ ...res, store, target });
      const where =
        res.scratch.store === 'redis' && res.scratch.mode === 'rdb' ? `scratch redis-server 127.0.0.1:${res.scratch.port}` : describeScratch(res.scratch);
      const counts =
        store === 'postgres'
          ? `${res.items} tables, ${res.rows} rows`
          : store === 'mongo'
            ? `${res.items} collections, ${res.rows} documents, ${res.indexes ?? 0} indexes`
            : `${res.rows} keys`;
      return `${counts} into ${where} in ${humanMs(res.ms)}`;
    },
  };
}

function describeScratch(s: Scratch): string {
  if (s.store === 'redis') return s.mode === 'keys' ? `${s.prefix}*` : `127.0.0.1:${s.port}`;
  return s.database;
}

function steps(input: RestoreDrillParams, t: Target): DrillStep[] {
  const set = t.find.found ? t.find.set : undefined;
  const undos = (set?.sources ?? []).map((s) => `drop scratch ${s.store} ${s.target}`);
  return [
    {
      id: 'find-set',
      kind: 'check',
      title: set
        ? `use backup ${describeSet(set)}`
        : `find the ${input.setId ? `backup set ${input.setId}` : 'newest verified backup set'} of ${input.service}`,
      run: async (r) => {
        if (!r.target.find.found) {
          throw ApplicationFailure.create({ type: 'NoBackupSet', nonRetryable: true, message: `no backup set to restore: ${r.target.find.why}` });
        }
        const s = r.target.find.set;
        if (!s.verified) r.warnings.push(`set ${s.setId} is not marked verified by its backup run`);
        r.state.rpoMs = Math.max(0, Date.now() - Date.parse(s.finishedAt));
        return `${s.setId}: finished ${s.finishedAt}, ${humanMs(r.state.rpoMs)} ago (RPO); ${s.sources.length} source(s)`;
      },
    },
    ...(set?.sources ?? []).map((s) => restoreStep(input, t, s)),
    {
      id: 'compare',
      kind: 'verify',
      title: 'compare every table, collection and key set of the scratch copies with the manifest (counts and checksums)',
      run: async (r) => {
        const c = await restores.compareWithManifest({ service: input.service, setId: set!.setId, scratch: scratchOf(r) });
        r.state.rtoMs = Date.now() - r.state.restoreStartedMs!;
        r.state.sources = c.sources.map((s) => {
          const restored = r.state.restored.find((x) => x.store === s.store && x.target === s.target);
          return { ...s, restoreMs: restored?.ms ?? 0, bytes: restored?.bytes ?? 0 };
        });
        r.state.differences = c.differences;
        if (c.differences.length) {
          const shown = c.differences.slice(0, 30);
          throw ApplicationFailure.create({
            type: ErrorType.VerificationFailed,
            nonRetryable: true,
            message:
              `the restored copies differ from the manifest of set ${set!.setId} in ${c.differences.length} place(s): ${shown.join('; ')}` +
              (c.differences.length > shown.length ? `; and ${c.differences.length - shown.length} more` : ''),
          });
        }
        return `${c.sources.map(describeSource).join('; ')}; RTO ${humanMs(r.state.rtoMs)}`;
      },
    },
    {
      id: 'drop-scratch',
      kind: 'data',
      title: input.keepScratch ? 'keep the scratch copies (keepScratch)' : 'drop the scratch copies',
      skipIf: () => (input.keepScratch ? `keepScratch: kept ${t.database} / ${t.redisPrefix}` : undefined),
      settles: undos,
      run: async (r) => {
        const { dropped } = await restores.dropScratch({ scratch: scratchOf(r) });
        r.state.dropped = dropped;
        return dropped.join(', ') || 'nothing to drop';
      },
    },
    {
      id: 'record',
      kind: 'report',
      title: 'record the measured RTO and RPO in the audit store',
      run: async (r) => {
        await r.audit('restore-drill-measured', 'measured', {
          setId: set!.setId,
          setFinishedAt: set!.finishedAt,
          rtoMs: r.state.rtoMs,
          rpoMs: r.state.rpoMs,
          sources: r.state.sources.map((s) => ({ store: s.store, target: s.target, items: s.restored.items, rows: s.restored.rows, restoreMs: s.restoreMs })),
        });
        return `RTO ${humanMs(r.state.rtoMs!)}, RPO ${humanMs(r.state.rpoMs!)}`;
      },
    },
  ];
}

export const restoreDrillRunbook: RunbookDefinition<RestoreDrillParams, Target, State, RestoreDrillResult> = {
  type: TYPE,
  schema: restoreDrillInputSchema,
  subject: (i) => `restore drill of ${i.service}`,
  target: (i) => i.service,
  async resolve(input) {
    await lookups.resolveService({ service: input.service });
    const find = await restores.findBackupSet({ service: input.service, ...(input.setId ? { setId: input.setId } : {}) });
    const names = scratchNames(find.found ? find.set.setId : (input.setId ?? 'none'), workflowInfo().firstExecutionRunId);
    return { service: input.service, find, database: names.database, redisPrefix: names.redisPrefix };
  },
  initialState: () => ({ restored: [], sources: [], differences: [], dropped: [] }),
  steps,
  completed: (r) =>
    `backup set ${r.target.find.found ? r.target.find.set.setId : '?'} of ${r.input.service} restored and equal to its manifest: ` +
    `RTO ${humanMs(r.state.rtoMs ?? 0)} (restore to verified), RPO ${humanMs(r.state.rpoMs ?? 0)} (backup age); ` +
    (r.input.keepScratch ? `scratch copies kept: ${scratchOf(r).map(describeScratch).join(', ')}` : 'scratch copies dropped'),
  progressNote: (r) => {
    const restored = r.state.restored.map((x) => `${x.store} ${x.target} -> ${describeScratch(x.scratch)} (${x.rows})`);
    return (
      `Restored: ${restored.join(', ') || 'nothing'}.` +
      (r.state.differences.length ? ` ${r.state.differences.length} difference(s).` : '') +
      (r.state.rpoMs !== undefined ? ` RPO (backup age) ${humanMs(r.state.rpoMs)}.` : '') +
      (r.input.keepScratch && restored.length ? ' Scratch copies kept (keepScratch).' : '')
    );
  },
  result: (base, r) => ({
    ...base,
    service: r.input.service,
    ...(r.target.find.found ? { setId: r.target.find.set.setId, setFinishedAt: r.target.find.set.finishedAt } : {}),
    ...(r.state.rtoMs !== undefined ? { rtoMs: r.state.rtoMs } : {}),
    ...(r.state.rpoMs !== undefined ? { rpoMs: r.state.rpoMs } : {}),
    sources: r.state.sources,
    differences: r.state.differences,
    scratch: { kept: r.input.keepScratch, names: scratchOf(r).map(describeScratch), dropped: r.state.dropped },
  }),
};

export async function restoreDrill(input: RestoreDrillInput, resume?: Resume<Target, State>): Promise<RestoreDrillResult> {
  return runRunbook(restoreDrillRunbook, input, resume);
}
