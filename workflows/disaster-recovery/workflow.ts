// Disaster recovery (seed 003 "Disaster Recovery > Complete System Failure": assess damage, provision,
// restore from the latest backup, verify data integrity, deploy, verify functionality):
//   find the newest verified set -> assess what each of its stores holds now -> approval -> stop the service
//   (maintenance mode, processors to 0) -> wait for the stores' servers -> rebuild each store that is
//   missing or empty from the set (database created, whole dump restored with its indexes; collections and
//   their indexes; Redis keys) -> verify counts and checksums against the manifest -> bring the service back
//   -> health and smoke checks -> report the RTO and the data-loss window.
// It only ever writes a store that holds no data; one that holds data is left alone and named in the report
// (replacing data is the restore runbook's job, with its safety backup). If recovery fails, the service is
// left in maintenance mode (it has no data to serve) and on-call is paged.
// `drill: true` rehearses it: every store into scratch copies on the same servers, verified and timed, then
// dropped; no approval, the service is not touched.
import { ApplicationFailure, sleep, workflowInfo } from '@temporalio/workflow';
import type { RecoveredStore, RecoveryPlan, Scratch, StoreState } from '../../activities';
import { durationMs } from '../../common/duration';
import { ErrorType } from '../lib/errors';
import { invalidInput, runRunbook, type Resume, type Run, type RunbookDefinition, type Step } from '../lib/kit';
import { health, lookups, recovery, restores, verify } from '../lib/proxies';
import { resumeWritesAsBefore, stopWrites } from '../lib/writes';
import { defaultRestoreApproval } from '../restore/contract';
import { humanMs, scratchNames } from '../restore-drill/contract';
import {
  describeRecovered,
  describeState,
  disasterRecoveryInputSchema,
  type DisasterRecoveryInput,
  type DisasterRecoveryParams,
  type DisasterRecoveryResult,
} from './contract';

const TYPE = 'disasterRecovery';
const PAGE = 'page on-call: the service stays in maintenance mode';

interface Target {
  plan?: RecoveryPlan;
  why?: string;
  startedAtMs: number;
  /** Drill: where the copies go. */
  scratch: { database: string; redisPrefix: string };
}

interface State {
  stores: StoreState[];
  before?: { replicas: number; maintenance: boolean };
  stopped: boolean;
  back: boolean;
  firstWriteMs?: number;
  recovered: RecoveredStore[];
  /** Where each recovered store can be compared with the manifest (the live store, or the drill's copy). */
  compare: Scratch[];
  /** Drill copies and RDB loading servers to drop. */
  scratch: Scratch[];
  differences: string[];
  healthy?: boolean;
  health?: string;
  rtoMs?: number;
  recoveryMs?: number;
  page?: string;
}

type DRun = Run<DisasterRecoveryParams, Target, State>;
type DStep = Step<DisasterRecoveryParams, Target, State>;

const lostAtMs = (r: { input: DisasterRecoveryParams; target: Target }): number => (r.input.lostAt ? Date.parse(r.input.lostAt) : r.target.startedAtMs);
const key = (s: { store: string; target: string }): string => `${s.store} ${s.target}`;
const toRecover = (r: DRun): StoreState[] => r.state.stores.filter((s) => s.state !== 'holds-data');

function recoverStep(input: DisasterRecoveryParams, t: Target, src: RecoveryPlan['set']['sources'][number]): DStep {
  const setId = t.plan!.set.setId;
  const { store, target } = src;
  const rdb = store === 'redis' && src.mode === 'rdb';
  const where = input.drill
    ? store === 'redis'
      ? rdb
        ? 'a scratch redis-server'
        : `keys under ${t.scratch.redisPrefix}`
      : `scratch database ${t.scratch.database}`
    : store === 'redis'
      ? `its own keys${rdb ? ' (RDB snapshot loaded in a scratch server, copied key by key)' : ''}`
      : `database ${src.database} (created)`;
  return {
    id: `recover-${store}-${target}`,
    kind: 'data',
    changes: true,
    title: `rebuild ${store} ${target} (${(src.bytes / 1024 / 1024).toFixed(1)} MB, ${src.rows} ${store === 'postgres' ? 'rows' : store === 'mongo' ? 'documents' : 'keys'}) into ${where}`,
    skipIf: (r) => {
      if (input.drill) return undefined;
      const s = r.state.stores.find((x) => key(x) === key(src));
      return s?.state === 'holds-data' ? `holds data, left alone: ${s.detail}` : undefined;
    },
    ...(input.drill
      ? {
          undo: {
            name: `drop scratch ${store} ${target}`,
            run: (r: DRun) => {
              const mine = r.state.scratch.filter((x) => key(x) === key(src));
              if (!mine.length)
                mine.push(store === 'redis' ? { store, target, mode: 'keys', prefix: t.scratch.redisPrefix } : { store, target, database: t.scratch.database });
              return restores.dropScratch({ scratch: mine });
            },
          },
        }
      : {}),
    run: async (r) => {
      r.state.firstWriteMs ??= Date.now();
      if (input.drill) {
        const args = { service: input.service, setId, target };
        const res =
          store === 'postgres'
            ? await restores.restorePostgres({ ...args, toDatabase: t.scratch.database })
            : store === 'mongo'
              ? await restores.restoreMongo({ ...args, toDatabase: t.scratch.database })
              : await restores.restoreRedis({ ...args, toPrefix: t.scratch.redisPrefix });
        r.state.scratch.push(res.scratch);
        r.state.compare.push(res.scratch);
        const name =
          res.scratch.store === 'redis' ? (res.scratch.mode === 'keys' ? res.scratch.prefix : `127.0.0.1:${res.scratch.port}`) : res.scratch.database;
        const rec: RecoveredStore = {
          store,
          target,
          name,
          items: res.items,
          rows: res.rows,
          bytes: res.bytes,
          ms: res.ms,
          ...(res.indexes !== undefined ? { indexes: res.indexes } : {}),
        };
        r.state.recovered.push(rec);
        return describeRecovered(rec);
      }
      const args = { service: input.service, setId, target, workflowId: r.workflowId };
      let rec: RecoveredStore;
      if (store === 'postgres') {
        rec = await recovery.recoverPostgres(args);
        r.state.compare.push({ store, target, database: rec.name });
      } else if (store === 'mongo') {
        rec = await recovery.recoverMongo(args);
        r.state.compare.push({ store, target, database: rec.name });
      } else if (!rdb) {
        rec = await recovery.recoverRedis(args);
        r.state.compare.push({ store, target, mode: 'keys', prefix: t.plan!.redisPrefix });
      } else {
        // The snapshot loads in a scratch server; its keys are copied; the scratch server is stopped.
        const loaded = await restores.restoreRedis({ ...args, toPrefix: t.scratch.redisPrefix });
        try {
          const s = loaded.scratch as Extract<Scratch, { mode: 'rdb' }>;
          rec = await recovery.recoverRedis({ ...args, fromScratch: { port: s.port, dir: s.dir } });
        } finally {
          await restores.dropScratch({ scratch: [loaded.scratch] });
        }
        if (rec.rows !== src.rows) r.state.differences.push(`redis ${target}: ${rec.rows} keys recovered, manifest says ${src.rows}`);
      }
      r.state.recovered.push(rec);
      return describeRecovered(rec);
    },
  };
}

async function waitHealthy(input: DisasterRecoveryParams, r: DRun): Promise<string> {
  const until = Date.now() + durationMs(input.healthTimeout);
  for (;;) {
    const h = await health.checkHealth({ service: input.service });
    r.state.health = `${h.status ?? 'no answer'}: ${h.detail}`.slice(0, 300);
    if (h.healthy) return r.state.health;
    if (Date.now() >= until) {
      r.state.page = `the service did not report healthy within ${input.healthTimeout} of coming back: ${r.state.health}`;
      throw ApplicationFailure.create({ type: ErrorType.VerificationFailed, nonRetryable: true, message: r.state.page });
    }
    await sleep('2s');
  }
}

function steps(input: DisasterRecoveryParams, t: Target): Array<DStep | false> {
  const plan = t.plan;
  const set = plan?.set;
  const service = input.service;
  const drill = input.drill;
  const policy = plan ? (input.approval ?? defaultRestoreApproval(plan.environment)) : undefined;
  const scratchUndos = drill ? (set?.sources ?? []).map((s) => `drop scratch ${s.store} ${s.target}`) : [];
  return [
    {
      id: 'find-set',
      kind: 'check',
      title: set
        ? `recover from set ${set.setId} (started ${set.startedAt}, finished ${set.finishedAt}${set.verified ? ', verified' : ', NOT verified'})`
        : `find the ${input.setId ? `backup set ${input.setId}` : 'newest verified backup set'} of ${service}`,
      run: async (r) => {
        if (!r.target.plan) throw ApplicationFailure.create({ type: 'NoBackupSet', nonRetryable: true, message: `nothing to recover from: ${r.target.why}` });
        const s = r.target.plan.set;
        if (!s.verified) r.warnings.push(`set ${s.setId} is not marked verified by its backup run`);
        return `data-loss window: ${humanMs(Math.max(0, lostAtMs(r) - Date.parse(s.startedAt)))} (what was written after ${s.startedAt} is not in the set)`;
      },
    },
    {
      id: 'assess',
      kind: 'check',
      title: plan ? `assess: ${plan.stores.map(describeState).join('; ')}` : 'assess what each store holds now',
      run: async (r) => {
        const p = r.target.plan!;
        r.state.stores = p.stores;
        const rebuild = toRecover(r);
        if (!rebuild.length && !drill)
          throw ApplicationFailure.create({
            type: ErrorType.InvalidTarget,
            nonRetryable: true,
            message: `nothing to recover: every store of set ${p.set.setId} holds data (${p.stores.map((s) => `${key(s)} ${s.name}`).join(', ')}); to replace data use the restore runbook`,
          });
        return drill
          ? `drill: every store of the set is rebuilt into scratch copies`
          : `rebuild ${rebuild.map((s) => `${key(s)} ${s.name} (${s.state})`).join(', ')}`;
      },
    },
    !drill && {
      id: 'approval',
      kind: 'gate',
      title: `approval by ${policy?.quorum} of role ${policy?.approverRoles.join('/')} (environment ${plan?.environment}; timeout ${policy?.timeout})`,
      run: async (r) => {
        const s = await r.approve({
          detail:
            `Rebuild ${toRecover(r)
              .map((x) => `${key(x)} ${x.name} (${x.state})`)
              .join(', ')} of ${service} from backup set ${set!.setId} ` +
            `(data written after ${set!.startedAt} is lost). The service goes into maintenance mode meanwhile.` +
            (r.state.stores.some((x) => x.state === 'holds-data')
              ? ` Left alone (they hold data): ${r.state.stores
                  .filter((x) => x.state === 'holds-data')
                  .map((x) => `${key(x)} ${x.name}`)
                  .join(', ')}.`
              : ''),
          deniedNote: 'nothing was changed',
        });
        return `${s.status}: ${s.reason ?? ''}`;
      },
    },
    !drill && {
      id: 'stop-service',
      kind: 'scale',
      changes: true,
      title: `stop ${service}: maintenance mode on, processors to 0`,
      // A recovery that fails leaves the service stopped (no data to serve): a person is paged.
      undo: {
        name: PAGE,
        run: async (r) => {
          r.state.page ??= 'the recovery stopped before the service was back';
          await r.tell(
            'disaster-recovery-failed-page',
            'critical',
            'escalation',
            `Disaster recovery of ${service} failed: the service stays in maintenance mode`,
            `${r.state.page}. Set ${set?.setId}. Recovered: ${r.state.recovered.map(describeRecovered).join('; ') || 'nothing'}.` +
              (r.state.differences.length ? ` Differences: ${r.state.differences.slice(0, 10).join('; ')}.` : ''),
          );
          return 'on-call paged; service left in maintenance mode';
        },
      },
      run: async (r) => {
        const stopped = await stopWrites(service);
        r.state.before = stopped.before;
        r.state.stopped = true;
        return stopped.detail;
      },
    },
    {
      id: 'wait-for-stores',
      kind: 'check',
      title: `wait up to ${input.waitForStores} for the stores' servers to answer`,
      run: async (r) => {
        const wanted = (drill ? r.state.stores : toRecover(r)).map((s) => ({ store: s.store, target: s.target }));
        const now = await recovery.waitForStores({ service, setId: set!.setId, stores: wanted, timeoutMs: durationMs(input.waitForStores) });
        // A store that came back with data (a server that was only down) is left alone.
        if (!drill) r.state.stores = r.state.stores.map((s) => now.find((n) => key(n) === key(s)) ?? s);
        return now.map(describeState).join('; ');
      },
    },
    ...(set?.sources ?? []).map((s) => recoverStep(input, t, s)),
    {
      id: 'verify',
      kind: 'verify',
      title: `verify every recovered table, collection and key set against the manifest of ${set?.setId ?? 'the set'} (counts and checksums)`,
      run: async (r) => {
        if (!r.state.recovered.length) return 'nothing was recovered (every store holds data)';
        const c = await restores.compareWithManifest({ service, setId: set!.setId, scratch: r.state.compare, partial: true });
        r.state.differences.push(...c.differences);
        if (drill) {
          r.state.recoveryMs = Date.now() - r.state.firstWriteMs!;
          r.state.rtoMs = r.state.recoveryMs;
        }
        if (r.state.differences.length) {
          const shown = r.state.differences.slice(0, 30);
          r.state.page = `the recovered data differs from set ${set!.setId} in ${r.state.differences.length} place(s)`;
          throw ApplicationFailure.create({
            type: ErrorType.VerificationFailed,
            nonRetryable: true,
            message:
              `the recovered data differs from the manifest of set ${set!.setId} in ${r.state.differences.length} place(s): ${shown.join('; ')}` +
              (r.state.differences.length > shown.length ? `; and ${r.state.differences.length - shown.length} more` : ''),
          });
        }
        return c.sources.map((s) => `${s.store} ${s.target} ${s.scratch}: ${s.restored.items} / ${s.restored.rows} equal to the manifest`).join('; ');
      },
    },
    drill && {
      id: 'drop-scratch',
      kind: 'data',
      title: 'drop the scratch copies',
      settles: scratchUndos,
      run: async (r) => (await restores.dropScratch({ scratch: r.state.scratch })).dropped.join(', ') || 'nothing to drop',
    },
    !drill && {
      id: 'bring-back',
      kind: 'scale',
      changes: true,
      title: `bring ${service} back: processors and maintenance mode as they were`,
      run: async (r) => {
        const done = await resumeWritesAsBefore(service, r.state.before!);
        r.state.back = true;
        return done;
      },
    },
    {
      id: 'health',
      kind: 'verify',
      title: drill
        ? `read ${service}'s health (not changed by a drill)`
        : `health, store connectivity and smoke requests of ${service} (up to ${input.healthTimeout})`,
      // Healthy settles the page: the service serves the recovered data.
      ...(drill ? {} : { settles: [PAGE] }),
      run: async (r) => {
        if (drill) {
          const h = await health.checkHealth({ service });
          r.state.health = `${h.status ?? 'no answer'}: ${h.detail}`.slice(0, 300);
          r.state.healthy = h.healthy;
          return r.state.health;
        }
        await waitHealthy(input, r);
        const conn = await health.checkConnectivity({ service });
        const down = conn.filter((c) => !c.ok);
        const smoke = await verify.smokeTest({ service, times: 3 });
        const failed = smoke.filter((s) => !s.ok);
        if (down.length || failed.length) {
          r.state.page = `after recovery: ${[...down.map((c) => `${c.kind} ${c.target}: ${c.error ?? 'down'}`), ...failed.map((s) => `smoke ${s.name}: ${JSON.stringify(s.statuses)}`)].join('; ')}`;
          throw ApplicationFailure.create({ type: ErrorType.VerificationFailed, nonRetryable: true, message: r.state.page });
        }
        r.state.healthy = true;
        r.state.rtoMs = Date.now() - lostAtMs(r);
        r.state.recoveryMs = Date.now() - (r.state.firstWriteMs ?? Date.now());
        return `${r.state.health}; ${conn.length} store(s) reachable; smoke ${smoke.map((s) => `${s.name} ${s.passed}/${s.sent}`).join(', ')}`;
      },
    },
    {
      id: 'record',
      kind: 'report',
      title: 'record the RTO and the data-loss window in the audit store',
      run: async (r) => {
        const lost = lostAtMs(r);
        await r.audit(drill ? 'disaster-recovery-drill' : 'disaster-recovery', 'recovered', {
          setId: set!.setId,
          setStartedAt: set!.startedAt,
          lostAt: new Date(lost).toISOString(),
          dataLossWindowMs: Math.max(0, lost - Date.parse(set!.startedAt)),
          rtoMs: r.state.rtoMs,
          recoveryMs: r.state.recoveryMs,
          recovered: r.state.recovered.map((x) => ({ store: x.store, target: x.target, name: x.name, items: x.items, rows: x.rows, ms: x.ms })),
          leftAlone: r.state.stores.filter((s) => s.state === 'holds-data').map((s) => key(s)),
        });
        return `RTO ${humanMs(r.state.rtoMs ?? 0)}; data-loss window ${humanMs(Math.max(0, lost - Date.parse(set!.startedAt)))}`;
      },
    },
  ];
}

export const disasterRecoveryRunbook: RunbookDefinition<DisasterRecoveryParams, Target, State, DisasterRecoveryResult> = {
  type: TYPE,
  schema: disasterRecoveryInputSchema,
  subject: (i) => `${i.drill ? 'disaster-recovery drill' : 'disaster recovery'} of ${i.service}`,
  target: (i) => i.service,
  validate(input, startedAtMs) {
    if (input.lostAt && Date.parse(input.lostAt) > startedAtMs) throw invalidInput(TYPE, `lostAt: ${input.lostAt} is in the future`);
  },
  async resolve(input, startedAtMs) {
    await lookups.resolveService({ service: input.service });
    const a = await recovery.assessRecovery({ service: input.service, ...(input.setId ? { setId: input.setId } : {}) });
    const scratch = scratchNames(a.found ? a.plan.set.setId : (input.setId ?? 'none'), workflowInfo().firstExecutionRunId);
    return a.found ? { plan: a.plan, startedAtMs, scratch } : { why: a.why, startedAtMs, scratch };
  },
  approval: (input, t) => (input.drill ? undefined : (input.approval ?? (t?.plan ? defaultRestoreApproval(t.plan.environment) : undefined))),
  exclusive: (i) => ({ key: `service:${i.service}`, waitAtMost: i.lockTimeout }),
  initialState: (_input, t) => ({ stores: t.plan?.stores ?? [], stopped: false, back: false, recovered: [], compare: [], scratch: [], differences: [] }),
  steps: (input, t) => steps(input, t),
  completed: (r) =>
    `${r.input.drill ? 'drill: ' : ''}${r.state.recovered.map((x) => `${x.store} ${x.target}`).join(', ')} of ${r.input.service} rebuilt from set ${r.target.plan?.set.setId} ` +
    `and equal to its manifest; RTO ${humanMs(r.state.rtoMs ?? 0)}, data-loss window ${humanMs(Math.max(0, lostAtMs(r) - Date.parse(r.target.plan!.set.startedAt)))}` +
    (r.input.drill ? '; scratch copies dropped, service not touched' : `; ${r.input.service} healthy`),
  progressNote: (r) =>
    `Recovered: ${r.state.recovered.map((x) => `${x.store} ${x.target} ${x.name}`).join(', ') || 'nothing'}.` +
    (r.state.stopped ? ` Service ${r.state.back ? 'stopped, then brought back' : 'stopped and left in maintenance mode'}.` : '') +
    (r.state.differences.length ? ` ${r.state.differences.length} difference(s) from the set.` : '') +
    (r.state.page ? ' On-call was paged.' : ''),
  result: (base, r) => {
    const set = r.target?.plan?.set;
    const lost = r.target ? lostAtMs(r) : undefined;
    return {
      ...base,
      service: r.input.service,
      drill: r.input.drill,
      ...(r.target?.plan ? { environment: r.target.plan.environment } : {}),
      ...(set ? { setId: set.setId, setStartedAt: set.startedAt, setFinishedAt: set.finishedAt } : {}),
      assessed: r.target?.plan?.stores ?? [],
      recovered: r.state?.recovered ?? [],
      leftAlone: r.input.drill ? [] : (r.state?.stores ?? []).filter((s) => s.state === 'holds-data'),
      differences: r.state?.differences ?? [],
      ...(lost !== undefined ? { lostAt: new Date(lost).toISOString() } : {}),
      ...(set && lost !== undefined ? { dataLossWindowMs: Math.max(0, lost - Date.parse(set.startedAt)) } : {}),
      ...(r.state?.rtoMs !== undefined ? { rtoMs: r.state.rtoMs } : {}),
      ...(r.state?.recoveryMs !== undefined ? { recoveryMs: r.state.recoveryMs } : {}),
      serviceState: {
        stopped: r.state?.stopped ?? false,
        back: r.state?.back ?? false,
        ...(r.state?.healthy !== undefined ? { healthy: r.state.healthy } : {}),
        ...(r.state?.health ? { health: r.state.health } : {}),
      },
    };
  },
};

export async function disasterRecovery(input: DisasterRecoveryInput, resume?: Resume<Target, State>): Promise<DisasterRecoveryResult> {
  return runRunbook(disasterRecoveryRunbook, input, resume);
}
