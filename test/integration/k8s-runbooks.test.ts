// The runbooks, unchanged, against a service whose platform is Kubernetes (the local plane): selected by its
// configuration alone, acting with the shipped least-privilege Role (deploy/k8s/role.yaml) through a token of
// its ServiceAccount. Each scenario has a namespace of its own with the demo objects; every assertion reads
// the Kubernetes objects through the admin API: the workers' scale subresource, the Service selector, the
// ReplicaSet revisions, the rollout's conditions and the flags ConfigMap.
// Pods are simulated (kwok): no container runs, so the demo service process of the test env still answers
// health checks, smoke requests and probe jobs, while the platform side effects land in Kubernetes.
import { rmSync } from 'node:fs';
import { runbooks } from '../../client/registry';
import { castVote, InputError, startRunbookRun } from '../../client/runbooks';
import type { ConfigInput } from '../../config/schema';
import { platformForService } from '../../activities/platform/for-service';
import type { EmergencyRollbackResult } from '../../workflows/emergency-rollback/contract';
import type { GradualRollbackInput, GradualRollbackResult } from '../../workflows/gradual-rollback/contract';
import type { MaintenanceWindowResult } from '../../workflows/maintenance-window/contract';
import type { RestartWorkersInput, RestartWorkersResult } from '../../workflows/restart-workers/contract';
import { plan } from '../../workflows/lib/progress';
import { createTestEnv, eventually, maintenanceInput, type TestEnv } from '../helpers/env';
import { demoNamespace, tokenOf, type DemoNamespace } from '../helpers/k8s';
import {
  condition,
  deploymentOf,
  flags,
  imageOf,
  IMAGE,
  patchSpec,
  pods,
  replicaSets,
  requestRecord,
  resourceVersions,
  RESTARTED_AT,
  REVISION,
  revisions,
  rolledOut,
  scaleWorkers,
  selector,
  setImage,
  waitRolledOut,
  workerReplicas,
} from '../helpers/k8s-objects';
import { admin, enqueue, failureOf, gateOpen, platform as demoPlatform, startRun, stepReaches } from '../helpers/runs';

/** One namespace, and one configured service on it, per scenario. */
const SCENARIOS = ['mw', 'rw', 'er', 'pde', 'gr', 'bad'] as const;
type Scenario = (typeof SCENARIOS)[number];
const service = (s: Scenario): string => `k8s-${s}`;

let env: TestEnv;
const ns = {} as Record<Scenario, DemoNamespace>;
const kubeconfigs = {} as Record<Scenario, string>;

beforeAll(async () => {
  const made = await Promise.all(
    SCENARIOS.map(async (s) => {
      const n = await demoNamespace(`rb-${s}`);
      return { s, n, kubeconfig: await n.operatorKubeconfig() };
    }),
  );
  for (const m of made) [ns[m.s], kubeconfigs[m.s]] = [m.n, m.kubeconfig];
  env = await createTestEnv({
    configure: (raw) => {
      // The test env's `reports` service with its platform switched to Kubernetes: nothing else changes.
      // Its database rollback steps are left out: the data side of rollbacks is covered by the local tests.
      const { dataRollback: _data, ...reports } = raw.services.reports!;
      for (const m of made) {
        const svc: ConfigInput['services'][string] = { ...structuredClone(reports), platform: m.n.platform({ kubeconfig: m.kubeconfig }) };
        raw.services[service(m.s)] = svc;
      }
      // Bad configuration: Deployments that do not exist in the namespace.
      const bad = made.find((m) => m.s === 'bad')!;
      raw.services['k8s-no-deployment'] = { ...structuredClone(reports), platform: bad.n.platform({ kubeconfig: bad.kubeconfig, deployment: 'reprots' }) };
      raw.services['k8s-no-workers'] = { ...structuredClone(reports), platform: bad.n.platform({ kubeconfig: bad.kubeconfig, workers: 'reports-workers' }) };
    },
  });
  await env.startWorker();
});

afterAll(async () => {
  await env?.cleanup();
  await Promise.all(Object.values(ns).map((n) => n.remove()));
  // The token files: their ServiceAccounts go with the namespaces, the files would stay.
  for (const file of Object.values(kubeconfigs)) rmSync(file, { force: true });
});

describe('maintenance-window on Kubernetes', () => {
  test('after approval the workers Deployment is scaled to 0 and the Service points at the maintenance pods during the window; both are put back after', async () => {
    const n = ns.mw;
    // A task that takes a few seconds, so the window can be looked at while it is open.
    await env.pool.query('CREATE MATERIALIZED VIEW k8s_slow AS SELECT 1 AS id, pg_sleep(2)::text AS slept');
    await env.pool.query('CREATE UNIQUE INDEX k8s_slow_id ON k8s_slow (id)');
    // Not the manifest's count: "back to what it was" must be read, not assumed.
    await scaleWorkers(n, 3);
    await waitRolledOut(n, 'reports-worker');
    const versionsBefore = await resourceVersions(n);

    const h = await startRun<MaintenanceWindowResult>(
      env,
      'maintenanceWindow',
      maintenanceInput({ service: service('mw'), tasks: [{ kind: 'refresh-materialized-view', view: 'k8s_slow' }], backup: false }),
    );
    await gateOpen(h);
    // Nothing changes before the approval.
    expect(await resourceVersions(n)).toEqual(versionsBefore);
    await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });

    await stepReaches(h, 'task-1', 'running', 30_000);
    expect(await workerReplicas(n)).toBe(0);
    expect(await selector(n)).toEqual({ app: 'reports-maintenance' });

    const r = await h.result();
    expect(r.outcome).toBe('completed');
    expect(r.plan.find((s) => s.id === 'scale-down')!.detail).toBe('3 -> 0');
    expect(r.plan.find((s) => s.id === 'scale-up')!.detail).toBe('0 -> 3');
    expect(await workerReplicas(n)).toBe(3);
    expect(await selector(n)).toEqual({ app: 'reports' });
    expect((await deploymentOf(n, 'reports-worker')).spec?.replicas).toBe(3);
  });
});

describe('restart-workers on Kubernetes', () => {
  const input = (o: Partial<RestartWorkersInput> = {}): RestartWorkersInput => ({
    service: service('rw'),
    requestedBy: 'bob',
    reason: 'test: jobs not processed',
    recoveryTimeout: '20s',
    approval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '10m' },
    ...o,
  });

  test('graceful: a rollout restart (restartedAt on the template, a new ReplicaSet revision) that completes; no approval asked', async () => {
    const n = ns.rw;
    const before = await replicaSets(n, 'reports-worker');
    expect(before.map((r) => r.revision)).toEqual([1]);
    const r = await (await startRun<RestartWorkersResult>(env, 'restartWorkers', input())).result();
    expect(r.outcome).toBe('completed');
    expect(r.recoveredBy).toBe('graceful');
    expect(r.graceful!.recovery).toMatchObject({ recovered: true, probe: 'done', rollout: 'complete' });
    expect(r.approval.status).toBe('not-requested');

    const d = await deploymentOf(n, 'reports-worker');
    expect(d.spec?.template?.metadata?.annotations?.[RESTARTED_AT]).toEqual(expect.any(String));
    expect(rolledOut(d)).toBe(true);
    const after = await replicaSets(n, 'reports-worker');
    expect(after.map((x) => [x.revision, x.replicas])).toEqual([
      [1, 0],
      [2, 2],
    ]);
    expect(after[1]!.ready).toBe(2);
  });

  test('force, after the graceful restart did not recover wedged processors and after approval: the old pods are deleted, new ones are Ready', async () => {
    const n = ns.rw;
    // Wedge the demo's processors: each hangs on a job, so the probe job cannot complete.
    await admin(env, 'PUT', '/faults', { wedged: true });
    await enqueue(env, 6, `k8s-wedge-${Date.now()}`);
    await eventually(async () => (await demoPlatform(env)).wedged === 2, 10_000, 'both demo processors to wedge');
    await admin(env, 'PUT', '/faults', { wedged: false });
    try {
      const h = await startRun<RestartWorkersResult>(env, 'restartWorkers', input({ recoveryTimeout: '3s' }));
      await gateOpen(h, 30_000);
      expect((await h.query(plan)).find((s) => s.id === 'graceful-recovery')!.detail).toMatch(/^not recovered after 3\.\ds \(probe queued/);
      // The graceful restart's pods (its predecessors may still be on their way out).
      const old = await eventually(
        async () => {
          const live = (await pods(n, 'reports-worker')).filter((p) => !p.deleting);
          return live.length === 2 && live.map((p) => p.name);
        },
        10_000,
        'two live worker pods',
      );
      await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });

      // kwok runs no container: the test plays the kubelet's part for the demo's processes, which die with their pods.
      await eventually(async () => !(await pods(n, 'reports-worker')).some((p) => old.includes(p.name)), 30_000, 'the old worker pods to be gone');
      await admin(env, 'POST', '/workers/restart', { mode: 'force', requestId: `k8s-kubelet-${Date.now()}` });

      const r = await h.result();
      expect(r.outcome).toBe('completed');
      expect(r.recoveredBy).toBe('force');
      expect(r.force!.restart.killed).toBe(2);
      const now = await pods(n, 'reports-worker');
      expect(now.filter((p) => old.includes(p.name))).toEqual([]);
      expect(now.filter((p) => !p.deleting && p.ready)).toHaveLength(2);
      expect(rolledOut(await deploymentOf(n, 'reports-worker'))).toBe(true);
    } finally {
      await admin(env, 'PUT', '/faults', { wedged: false });
    }
  });
});

describe('emergency-rollback on Kubernetes', () => {
  test('after a bad `set image`: the previous template is back as the next revision (rollout undo), the rollout completes, pause flags restored and release flags left off', async () => {
    const n = ns.er;
    await setImage(n, 'v1.5.0-broken');
    await eventually(async () => (await revisions(n))[2] === 'v1.5.0-broken', 10_000, 'revision 2');
    const bad = await deploymentOf(n);
    expect(rolledOut(bad)).toBe(false);

    const h = await startRun<EmergencyRollbackResult>(env, 'emergencyRollback', {
      service: service('er'),
      requestedBy: 'bob',
      reason: 'v1.5.0-broken never becomes ready',
      verifyWindow: '1s',
    });
    const r = await h.result();
    expect(r.outcome).toBe('completed');
    expect(r.from).toMatchObject({ revision: 2, version: 'v1.5.0-broken' });
    expect(r.to).toMatchObject({ revision: 3, version: 'v1.4.2', cause: 'rollback' });
    expect(r.plan.find((s) => s.id === 'stop-new-work')!.detail).toBe('processors 2 -> 0; REPORTS_MODULE_ENABLED, REPORTS_V2_ENABLED off');
    expect(r.plan.find((s) => s.id === 'rollout')!.detail).toMatch(/^complete in \d+\.\ds$/);

    // `kubectl rollout undo`: v1.4.2's ReplicaSet is reused and moved to revision 3; the broken one is scaled away.
    const d = await deploymentOf(n);
    expect(imageOf(d)).toBe(`${IMAGE}:v1.4.2`);
    expect(d.metadata?.annotations?.[REVISION]).toBe('3');
    expect(rolledOut(d)).toBe(true);
    const rss = await replicaSets(n);
    expect(rss.map((x) => [x.revision, x.image, x.replicas])).toEqual([
      [2, `${IMAGE}:v1.5.0-broken`, 0],
      [3, `${IMAGE}:v1.4.2`, 2],
    ]);
    expect(rss[1]!.history).toBe('1');
    expect(condition(d, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
    // The Deployment records the one request that changed it (a retry of it would change nothing).
    expect(requestRecord(d).map((x) => [x.id, x.kind])).toEqual([[`${h.workflowId}:${(await h.describe()).runId}:rollback`, 'rollback']]);
    // As the service's rollback settings say: the pause flag is back on, the release's flag stays off.
    expect(await flags(n)).toEqual({ REPORTS_MODULE_ENABLED: 'true', REPORTS_V2_ENABLED: 'false' });
    expect(await workerReplicas(n)).toBe(2);
    // The service account's token (in the kubeconfig file the configuration names) is nowhere in the history.
    const token = tokenOf(kubeconfigs.er);
    expect(JSON.stringify(await h.fetchHistory())).not.toContain(token);
  });
});

describe('a rollout Kubernetes gives up on (ProgressDeadlineExceeded)', () => {
  test('emergency-rollback to a broken revision fails its verification naming ProgressDeadlineExceeded, restores processors and the pause flag, and leaves the deployment for a person', async () => {
    const n = ns.pde;
    // History: v1.4.2 -> v1.4.2-broken -> v1.5.0, the last one served; a rollback goes to the broken one.
    await setImage(n, 'v1.4.2-broken');
    await eventually(async () => (await revisions(n))[2] === 'v1.4.2-broken', 10_000, 'revision 2');
    await setImage(n, 'v1.5.0');
    await waitRolledOut(n);
    await patchSpec(n, 'reports', { progressDeadlineSeconds: 4 });

    const h = await startRun<EmergencyRollbackResult>(env, 'emergencyRollback', {
      service: service('pde'),
      requestedBy: 'bob',
      verifyWindow: '1s',
      rolloutTimeout: '5m',
    });
    const f = await failureOf(h);
    // Ended by the platform giving up, not by the runbook's 5m timeout.
    expect(f.message).toMatch(/^failed at rollout: the rollout of revision 4 \(v1\.4\.2-broken\) failed: ProgressDeadlineExceeded/);
    expect(f.message).not.toMatch(/did not complete in/);
    expect(f.message).toMatch(/Undone: restore processors and paused flags ok\.$/);

    const d = await deploymentOf(n);
    expect(imageOf(d)).toBe(`${IMAGE}:v1.4.2-broken`);
    expect(condition(d, 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    // maxUnavailable 0: v1.5.0's pods still serve while the broken revision's never become ready.
    const rss = await replicaSets(n);
    expect(rss.map((x) => [x.revision, x.image])).toEqual([
      [1, `${IMAGE}:v1.4.2`],
      [3, `${IMAGE}:v1.5.0`],
      [4, `${IMAGE}:v1.4.2-broken`],
    ]);
    expect(rss.find((x) => x.revision === 3)!.ready).toBe(2);
    expect(rss.find((x) => x.revision === 4)!.ready).toBe(0);
    expect(await workerReplicas(n)).toBe(2);
    expect(await flags(n)).toEqual({ REPORTS_MODULE_ENABLED: 'true', REPORTS_V2_ENABLED: 'false' });
  });

  test('gradual-rollback to a broken revision fails the same way and restores routing and processors', async () => {
    const n = ns.gr;
    await setImage(n, 'v1.4.3-broken');
    await eventually(async () => (await revisions(n))[2] === 'v1.4.3-broken', 10_000, 'revision 2');
    await setImage(n, 'v1.5.0');
    await waitRolledOut(n);
    await patchSpec(n, 'reports', { progressDeadlineSeconds: 4 });

    const input: GradualRollbackInput = {
      service: service('gr'),
      requestedBy: 'bob',
      toRevision: 2,
      backup: false,
      databaseRollback: false,
      approval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '10m' },
      watchFor: '5s',
      watchInterval: '5s',
    };
    const h = await startRun<GradualRollbackResult>(env, 'gradualRollback', input);
    await gateOpen(h);
    expect(await workerReplicas(n)).toBe(1);
    expect(await selector(n)).toEqual({ app: 'reports-maintenance' });
    await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });
    const f = await failureOf(h);
    expect(f.message).toMatch(/^failed at rollout: the rollout of revision 4 \(v1\.4\.3-broken\) failed: ProgressDeadlineExceeded/);
    expect(f.message).toMatch(/Undone: restore processors and routing ok\.$/);

    expect(condition(await deploymentOf(n), 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect(await selector(n)).toEqual({ app: 'reports' });
    expect(await workerReplicas(n)).toBe(2);
  });
});

describe('bad input fails fast and changes nothing in Kubernetes', () => {
  // Every case below leaves every object of the namespace as it was.
  let before: Record<string, string>;
  beforeAll(async () => {
    before = await resourceVersions(ns.bad);
  });

  test('a service configured with a Deployment that does not exist: the run fails before changing anything, naming it', async () => {
    const er = await failureOf(await startRun(env, 'emergencyRollback', { service: 'k8s-no-deployment', requestedBy: 'bob', verifyWindow: '1s' }));
    expect(er).toMatchObject({
      type: 'InvalidInputError',
      nonRetryable: true,
      message: `invalid emergencyRollback input: Deployment "reprots" not found in namespace "${ns.bad.namespace}": check platform.deployment`,
    });
    const rw = await failureOf(await startRun(env, 'restartWorkers', { service: 'k8s-no-workers', requestedBy: 'bob', recoveryTimeout: '5s' }));
    expect(rw.message).toBe(
      `failed at precheck: Deployment "reports-workers" not found in namespace "${ns.bad.namespace}": check platform.workers. Graceful restart: not run. Force restart: not run.`,
    );
    expect(await resourceVersions(ns.bad)).toEqual(before);
  });

  test('negative replicas (gradual-rollback reducedReplicas) and a version with spaces are refused at the edge and by the workflow, naming the field', async () => {
    const base: GradualRollbackInput = { service: service('bad'), requestedBy: 'bob', backup: false, databaseRollback: false };
    const opts = { taskQueue: env.taskQueue };
    await expect(startRunbookRun(env.client, runbooks.gradualRollback, { ...base, reducedReplicas: -1 }, opts)).rejects.toThrow(InputError);
    const neg = await failureOf(await startRun(env, 'gradualRollback', { ...base, reducedReplicas: -1 }));
    expect(neg).toMatchObject({ type: 'InvalidInputError', nonRetryable: true });
    expect(neg.message).toMatch(/^invalid gradualRollback input: reducedReplicas: /);
    // No runbook input takes a version: a rollback names a revision of the platform's history.
    const spaced = await failureOf(await startRun(env, 'gradualRollback', { ...base, version: 'v1.5.0 rc1' }));
    expect(spaced).toMatchObject({ type: 'InvalidInputError' });
    expect(spaced.message).toMatch(/version/);
    const notRevision = await failureOf(await startRun(env, 'gradualRollback', { ...base, toRevision: '2 ' }));
    expect(notRevision.message).toMatch(/^invalid gradualRollback input: toRevision: /);
    // The one way a version reaches the platform, the adapter's deploy: refused before any request.
    const adapter = platformForService(service('bad'), env.config.services[service('bad')]!);
    await expect(adapter.deploy('v1.5.0 rc1', 'k8s-bad-version')).rejects.toThrow(/v1\.5\.0 rc1/);
    expect(await resourceVersions(ns.bad)).toEqual(before);
  });

  test('a revision that is not in the ReplicaSet history: aborted, nothing changed', async () => {
    const r = await (
      await startRun<EmergencyRollbackResult>(env, 'emergencyRollback', { service: service('bad'), requestedBy: 'bob', toRevision: 99, verifyWindow: '1s' })
    ).result();
    expect(r.outcome).toBe('aborted');
    expect(r.reason).toMatch(/^nothing was changed: toRevision: there is no revision 99; history: revision 1 \(v1\.4\.2\)$/);
    expect(await resourceVersions(ns.bad)).toEqual(before);
  });
});
