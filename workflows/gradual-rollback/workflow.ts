// Gradual (planned) rollback of a service (seed 001 "Gradual Rollback"):
//   pre-check -> notify -> [exclusive use of the service] -> reduce traffic (scale to 1, reports traffic to
//   the maintenance page) -> back up what the database rollback touches (verified) -> approval -> set the
//   previous-stable version -> wait for the rollout -> database rollback -> verify health and stores ->
//   restore routing and scale -> smoke requests and watch the metrics for a while (on a breach: stop, or
//   roll forward again) -> audit record -> notify.
// Routing is restored before the watch: behind the maintenance page there is no user traffic to judge.
import { ApplicationFailure, sleep } from '@temporalio/workflow';
import type { BackupInfo, MongoBackupInfo, Revision } from '../../activities';
import { ErrorType } from '../lib/errors';
import { runRunbook, type Resume, type Run, type RunbookDefinition, type Step } from '../lib/kit';
import { backups, health, platform, verify } from '../lib/proxies';
import {
  awaitRollout,
  dataProgress,
  dataResult,
  dataRollbackSteps,
  promWindow,
  resolveRollback,
  rev,
  verificationProblems,
  type DataState,
  type RollbackTarget,
  type RollbackVerification,
} from '../lib/rollback';
import { toMs } from '../lib/schema';
import { gradualRollbackInputSchema, type GradualRollbackInput, type GradualRollbackParams, type GradualRollbackResult, type WatchRead } from './contract';

const TYPE = 'gradualRollback';
const RESTORE = 'restore processors and routing';

interface State extends DataState {
  before?: { replicas: number; maintenance: boolean };
  from?: Revision;
  to?: Revision;
  backups: { postgres: BackupInfo[]; mongo: MongoBackupInfo[] };
  verification: RollbackVerification;
  watch: WatchRead[];
  rolledForward?: Revision;
}

type GrRun = Run<GradualRollbackParams, RollbackTarget, State>;
type GrStep = Step<GradualRollbackParams, RollbackTarget, State>;

/** What the database rollback touches, by store target: collections and tables to back up first. */
function affected(t: RollbackTarget): { mongo: Map<string, string[]>; postgres: Map<string, string[]> } {
  const mongo = new Map<string, string[]>();
  const postgres = new Map<string, string[]>();
  for (const d of t.data) {
    const m = d.store === 'mongo' ? mongo : postgres;
    const name = d.store === 'mongo' ? d.collection : d.table;
    if (!name) continue;
    const list = m.get(d.target) ?? [];
    if (!list.includes(name)) list.push(name);
    m.set(d.target, list);
  }
  return { mongo, postgres };
}

async function restoreTraffic(service: string, r: GrRun): Promise<string> {
  const b = r.state.before!;
  await platform.setMaintenanceMode({ service, enabled: b.maintenance });
  await platform.scaleWorkers({ service, replicas: b.replicas });
  return `routing ${b.maintenance ? 'left on the maintenance page (as before)' : 'back to the service'}; processors back to ${b.replicas}`;
}

function steps(input: GradualRollbackParams, t: RollbackTarget): GrStep[] {
  const service = input.service;
  const data = input.databaseRollback ? t.data : [];
  const target = t.to ? rev(t.to) : 'the previous revision';
  const { mongo, postgres } = affected({ ...t, data });
  const backupList = [...[...mongo].map(([k, v]) => `${k}: ${v.join(', ')}`), ...[...postgres].map(([k, v]) => `${k}: ${v.join(', ')}`)];
  const intervalMs = toMs(input.watchInterval);
  const reads = Math.max(1, Math.ceil(toMs(input.watchFor) / intervalMs));

  return [
    {
      id: 'precheck',
      kind: 'check',
      title: `read the deployment, processors and routing of ${service}`,
      run: async (r) => {
        r.status('pre-checks', 'reading the deployment');
        if (t.refusal || !t.to) r.stop('aborted', `nothing was changed: ${t.refusal ?? 'no revision to roll back to'}`);
        const h = await health.checkHealth({ service });
        const state = await platform.platformState({ service });
        r.state.before = { replicas: state.replicas, maintenance: state.maintenance };
        r.state.from = t.deployment.current;
        return `current ${rev(t.deployment.current)}, setting ${t.to?.version ?? '?'} (${target}); ${state.replicas} processor(s); health ${h.healthy ? 'ok' : `failing (${h.status ?? h.detail})`}`;
      },
    },
    {
      id: 'notify-start',
      kind: 'notify',
      title: 'notify stakeholders of the planned rollback',
      run: (r) =>
        r.tell(
          'planned',
          'warning',
          'stakeholders',
          `Planned rollback of ${service}`,
          `${input.requestedBy} rolls ${service} back from ${rev(t.deployment.current)} to ${target}${input.reason ? ` (${input.reason})` : ''}. ` +
            `Reports traffic goes to the maintenance page meanwhile; approval by ${input.approval.approverRoles.join('/')} after the backup.`,
        ),
    },
    {
      id: 'reduce-traffic',
      kind: 'scale',
      changes: true,
      title: `reduce traffic: processors of ${service} to ${input.reducedReplicas}, reports traffic to the maintenance page`,
      undo: { name: RESTORE, run: (r) => restoreTraffic(service, r) },
      run: async () => {
        const scaled = await platform.scaleWorkers({ service, replicas: input.reducedReplicas });
        await platform.setMaintenanceMode({ service, enabled: true });
        return `processors ${scaled.previous} -> ${input.reducedReplicas}; maintenance page on`;
      },
    },
    {
      id: 'backup',
      kind: 'backup',
      when: input.backup && backupList.length > 0,
      title: `back up what the database rollback touches (verified): ${backupList.join('; ')}`,
      run: async (r) => {
        for (const [db, collections] of mongo)
          r.state.backups.mongo.push(await backups.backupMongoCollections({ target: db, collections, name: `${r.runKey}-pre-rollback` }));
        for (const [db, tables] of postgres)
          r.state.backups.postgres.push(await backups.backupPostgres({ database: db, tables, name: `${r.runKey}-pre-rollback` }));
        await r.audit('backups-taken', 'backups', { ...r.state.backups });
        return [
          ...r.state.backups.mongo.map((b) => `${b.target} ${JSON.stringify(b.documents)} sha256 ${b.sha256.slice(0, 12)}`),
          ...r.state.backups.postgres.map((b) => `${b.database} ${b.tables} table(s) sha256 ${b.sha256.slice(0, 12)}`),
        ].join('; ');
      },
    },
    {
      id: 'approval',
      kind: 'gate',
      title: `approval by ${input.approval.quorum} of role ${input.approval.approverRoles.join('/')} (timeout ${input.approval.timeout})`,
      run: async (r) => {
        const s = await r.approve({
          detail: `Set ${service} from ${rev(t.deployment.current)} to ${t.to?.version ?? '?'}; ${data.length} database rollback step(s): ${data.map((d) => `${d.id} (${d.count})`).join(', ') || 'none'}.`,
          deniedNote: `${service} keeps ${t.deployment.current.version}; processors and routing are restored`,
        });
        return `${s.status}: ${s.reason ?? ''}`;
      },
    },
    {
      id: 'set-version',
      kind: 'deploy',
      changes: true,
      title: `set the previous-stable version: ${service} back to ${t.to?.version ?? '?'} (${target})`,
      run: async (r) => {
        // `kubectl rollout undo --to-revision`: recorded as a rollback, so no later rollback re-deploys the release it replaced.
        const res = await platform.rollbackDeployment({ service, requestId: r.key('set-version'), toRevision: t.to!.revision });
        r.state.to = res.revision;
        await r.audit('version-set', 'set-version', { ...res });
        return `now ${rev(res.revision)}${res.repeated ? ' (already applied)' : ''}`;
      },
    },
    {
      id: 'rollout',
      kind: 'wait',
      title: `wait up to ${input.rolloutTimeout} for the rollout to complete`,
      run: (r) => awaitRollout(service, r.state.to!, input.rolloutTimeout),
    },
    ...dataRollbackSteps<GradualRollbackParams, State>(service, data),
    {
      id: 'verify',
      kind: 'verify',
      title: `verify ${service}: health and its stores`,
      run: async (r) => {
        const v = r.state.verification;
        [v.health, v.connectivity] = await Promise.all([health.checkHealth({ service }), health.checkConnectivity({ service })]);
        const problems = verificationProblems(v);
        if (problems.length) {
          throw ApplicationFailure.create({ type: ErrorType.VerificationFailed, nonRetryable: true, message: `verification failed: ${problems.join('; ')}` });
        }
        return `healthy (HTTP ${v.health.status}); ${v.connectivity.length} store(s) reachable`;
      },
    },
    {
      id: 'restore-traffic',
      kind: 'scale',
      changes: true,
      title: 'restore routing and processors',
      settles: [RESTORE],
      run: (r) => restoreTraffic(service, r),
    },
    {
      id: 'watch',
      kind: 'monitor',
      title:
        `smoke requests, then watch health${t.settings.metrics ? ', 5xx share and p95' : ''} for ${input.watchFor} (every ${input.watchInterval}); ` +
        `on a breach: ${input.onBreach === 'stop' ? 'stop' : `roll forward to ${t.deployment.current.version}`}`,
      run: async (r) => {
        const v = r.state.verification;
        v.smoke = await verify.smokeTest({ service, times: input.smokeRequests });
        const failedSmoke = v.smoke.filter((s) => !s.ok).map((s) => `smoke "${s.name}": ${s.passed}/${s.sent} passed`);
        let breach = failedSmoke.join('; ');
        r.status('monitoring', `watching ${service} for ${input.watchFor}`);
        for (let i = 0; i < reads && !breach; i++) {
          await sleep(intervalMs);
          const [h, m] = await Promise.all([
            health.checkHealth({ service }),
            t.settings.metrics ? verify.checkServiceMetrics({ service, window: promWindow(intervalMs) }) : Promise.resolve(undefined),
          ]);
          const read: WatchRead = {
            at: new Date().toISOString(),
            healthy: h.healthy,
            detail: m?.detail ?? `health HTTP ${h.status ?? h.detail}`,
            breaches: m?.breaches ?? [],
          };
          r.state.watch.push(read);
          if (m) v.metrics = m;
          if (!h.healthy || read.breaches.length) breach = [...(h.healthy ? [] : [`health failing (${h.status ?? h.detail})`]), ...read.breaches].join('; ');
        }
        r.status('running', breach ? `breach: ${breach}` : 'watched without a breach');
        if (!breach) return `${r.state.watch.length} read(s) without a breach${v.metrics ? `; last ${v.metrics.detail}` : ''}`;
        if (input.onBreach === 'roll-forward') {
          const res = await platform.deployVersion({ service, version: t.deployment.current.version, requestId: r.key('roll-forward') });
          r.state.rolledForward = res.revision;
          await r.audit('rolled-forward', 'roll-forward', { ...res, breach });
          await awaitRollout(service, res.revision, input.rolloutTimeout);
          r.stop('aborted', `a breach while watching (${breach}): rolled forward again to ${rev(res.revision)}`);
        }
        throw ApplicationFailure.create({
          type: ErrorType.VerificationFailed,
          nonRetryable: true,
          message: `a breach while watching ${service} on ${r.state.to ? rev(r.state.to) : '?'}: ${breach}; stopped for a person to decide`,
        });
      },
    },
    {
      id: 'record',
      kind: 'notify',
      title: 'write the rollback to the audit store',
      run: (r) =>
        r.audit('rollback-completed', 'rollback-completed', {
          service,
          from: r.state.from ?? null,
          to: r.state.to ?? null,
          data: r.state.applied,
          watchReads: r.state.watch.length,
        }),
    },
  ];
}

export const gradualRollbackRunbook: RunbookDefinition<GradualRollbackParams, RollbackTarget, State, GradualRollbackResult> = {
  type: TYPE,
  schema: gradualRollbackInputSchema,
  subject: (i) => `gradual rollback of ${i.service}`,
  target: (i) => i.service,
  resolve: (input) => resolveRollback(input),
  approval: (i) => i.approval,
  exclusive: (i) => ({ key: `service:${i.service}`, waitAtMost: i.lockTimeout }),
  initialState: () => ({ applied: {}, backups: { postgres: [], mongo: [] }, verification: {}, watch: [] }),
  steps,
  completed: (r) =>
    `${r.input.service} rolled back from ${r.state.from ? rev(r.state.from) : '?'} to ${r.state.to ? rev(r.state.to) : '?'}; ` +
    `watched ${r.state.watch.length} time(s) without a breach`,
  progressNote: (r) =>
    `Version: ${r.state.to ? `set to ${rev(r.state.to)}` : 'not changed'}${r.state.rolledForward ? `, rolled forward to ${rev(r.state.rolledForward)}` : ''}. ` +
    `Database: ${dataProgress(r.state.applied)}. ` +
    `Backups: ${r.state.backups.mongo.length + r.state.backups.postgres.length}.`,
  result: (base, r) => ({
    ...base,
    service: r.input.service,
    ...(r.state.from ? { from: r.state.from } : {}),
    ...(r.state.to ? { to: r.state.to } : {}),
    backups: r.state.backups,
    data: dataResult(r),
    verification: r.state.verification,
    watch: r.state.watch,
    ...(r.state.rolledForward ? { rolledForward: r.state.rolledForward } : {}),
  }),
};

export async function gradualRollback(input: GradualRollbackInput, resume?: Resume<RollbackTarget, State>): Promise<GradualRollbackResult> {
  return runRunbook(gradualRollbackRunbook, input, resume);
}
