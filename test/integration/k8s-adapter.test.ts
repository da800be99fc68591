// The Kubernetes platform adapter (activities/platform/kubernetes.ts) against the local plane: every port call,
// run with a token of the `runbooks` ServiceAccount bound to the shipped Role only (deploy/k8s/role.yaml), so
// passing proves the Role is enough. One namespace per test with the demo objects; each effect is read back
// through the admin API: the scale subresource, the Service selector, ReplicaSet revisions, pods, the ConfigMap.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { Deps } from '../../activities/deps';
import { createPlatformActivities } from '../../activities/platform';
import { kubernetesPlatform } from '../../activities/platform/kubernetes';
import type { Platform } from '../../activities/platform/port';
import { serviceSchema, type KubernetesPlatformConfig } from '../../config/schema';
import { DATA } from '../../scripts/stack/paths';
import { eventually } from '../helpers/env';
import { demoNamespace, tokenOf, type DemoNamespace } from '../helpers/k8s';
import {
  condition,
  deploymentOf,
  flags,
  IMAGE,
  imageOf,
  patchSpec,
  pods,
  replicaSets,
  requestRecord,
  resourceVersions,
  RESTARTED_AT,
  revisions,
  selector,
  waitRolledOut,
  workerReplicas,
} from '../helpers/k8s-objects';

const VERSIONS = ['v1.4.2', 'v1.5.0', 'v1.5.1-slow', 'v1.5.0-broken'];
const logger = new DefaultLogger('ERROR');
const inActivity = <R>(fn: () => Promise<R>, mock = new MockActivityEnvironment({}, { logger })): Promise<R> => mock.run<[], R, () => Promise<R>>(fn);
const failure = (p: Promise<unknown>): Promise<Error> =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: Error) => e,
  );

let ns: DemoNamespace;
let operator: string;
let cfg: KubernetesPlatformConfig;
let platform: Platform;
const extra: DemoNamespace[] = [];

beforeEach(async () => {
  ns = await demoNamespace('k8s-adapter');
  operator = await ns.operatorKubeconfig();
  cfg = ns.platform({ kubeconfig: operator, versions: VERSIONS });
  platform = kubernetesPlatform('reports', cfg);
});
afterEach(async () => {
  await Promise.all([ns, ...extra.splice(0)].map((n) => n.remove()));
});

const revisionOf = (o: { metadata?: { annotations?: Record<string, string> } }): number =>
  Number(o.metadata?.annotations?.['deployment.kubernetes.io/revision']);

describe('workers', () => {
  test('scaleWorkers sets the scale subresource to exactly N and returns once N are ready: 2 -> 0 -> 3, and 3 again changes nothing', async () => {
    expect(await platform.scaleWorkers(0)).toEqual({ previous: 2, replicas: 0 });
    let d = await deploymentOf(ns, 'reports-worker');
    expect([(await workerReplicas(ns)) ?? 0, d.status?.readyReplicas ?? 0, d.status?.replicas ?? 0]).toEqual([0, 0, 0]);

    expect(await platform.scaleWorkers(3)).toEqual({ previous: 0, replicas: 3 });
    d = await deploymentOf(ns, 'reports-worker');
    expect([await workerReplicas(ns), d.status?.readyReplicas, d.status?.updatedReplicas]).toEqual([3, 3, 3]);
    expect(await platform.state()).toMatchObject({ replicas: 3, maintenance: false, generation: 1, rollout: { status: 'complete', updated: 3, total: 3 } });

    const generation = d.metadata?.generation;
    expect(await platform.scaleWorkers(3)).toEqual({ previous: 3, replicas: 3 });
    expect((await deploymentOf(ns, 'reports-worker')).metadata?.generation).toBe(generation);
  });

  test('a retried scaleWorkers answers the count its first attempt found (heartbeat details), heartbeating while it waits', async () => {
    const mock = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { previous: 2 } }, { logger });
    const beats: unknown[] = [];
    mock.on('heartbeat', (d: unknown) => beats.push(d));
    await platform.scaleWorkers(4);
    // The first attempt scaled 2 -> 4 and lost its reply: the retry still reports 2, the count to undo to.
    expect(await inActivity(() => platform.scaleWorkers(4), mock)).toEqual({ previous: 2, replicas: 4 });
    expect(beats).toContainEqual({ previous: 2 });
    expect(await workerReplicas(ns)).toBe(4);
  });

  test('graceful restart makes a new revision with restartedAt in the template; the same request id again changes nothing', async () => {
    const requestId = randomUUID();
    const restarted = await platform.restartWorkers('graceful', requestId);
    expect(restarted).toEqual({ mode: 'graceful', requestId, generation: 2, replicas: 2, repeated: false });
    // Rolled out, so the controller writes no more status: a second write would show as a new resourceVersion.
    const d = await waitRolledOut(ns, 'reports-worker');
    expect(revisionOf(d)).toBe(2);
    expect(Date.parse(d.spec?.template?.metadata?.annotations?.[RESTARTED_AT] ?? '')).toBeGreaterThan(0);
    expect(requestRecord(d)).toEqual([expect.objectContaining({ id: requestId, kind: 'restart', asked: 'a graceful restart' })]);
    expect((await replicaSets(ns, 'reports-worker')).map((r) => r.revision)).toEqual([1, 2]);

    expect(await platform.restartWorkers('graceful', requestId)).toEqual({ ...restarted, repeated: true });
    expect((await deploymentOf(ns, 'reports-worker')).metadata?.resourceVersion).toBe(d.metadata?.resourceVersion);
    expect((await replicaSets(ns, 'reports-worker')).map((r) => r.revision)).toEqual([1, 2]);
    await expect(platform.restartWorkers('force', requestId)).rejects.toMatchObject({
      name: 'UnsafeOperationError',
      message: `request ${requestId} was applied as a graceful restart, not a force restart: use a new request id`,
    });
    // What waitForRecovery reads: the restart's revision, rolled out.
    expect((await platform.state()).rollout).toEqual({ status: 'complete', generation: 2, updated: 2, total: 2 });
  });

  test('force restart deletes every worker pod and says how many; the same request id again kills nothing', async () => {
    const before = await pods(ns, 'reports-worker');
    expect(before).toHaveLength(2);
    const requestId = randomUUID();
    const restarted = await platform.restartWorkers('force', requestId);
    expect(restarted).toEqual({ mode: 'force', requestId, generation: 1, replicas: 2, killed: 2, repeated: false });
    const after = await pods(ns, 'reports-worker');
    for (const p of before) expect(after.find((a) => a.name === p.name && !a.deleting)).toBeUndefined();
    // Their ReplicaSet starts new ones.
    const replaced = await eventually(async () => {
      const running = (await pods(ns, 'reports-worker')).filter((p) => p.ready && !p.deleting).map((p) => p.name);
      return running.length === 2 && running;
    });
    expect(replaced.filter((name) => before.some((p) => p.name === name))).toEqual([]);

    expect(await platform.restartWorkers('force', requestId)).toEqual({ ...restarted, repeated: true });
    expect((await pods(ns, 'reports-worker')).filter((p) => !p.deleting).map((p) => p.name)).toEqual(replaced);
    expect(revisionOf(await deploymentOf(ns, 'reports-worker'))).toBe(1);
  });
});

describe('maintenance mode', () => {
  test('points the Service at the maintenance pods and back to exactly the selector it had; on twice or off twice changes nothing', async () => {
    const core = ns.core;
    const name = 'reports';
    const namespace = ns.namespace;
    await core.patchNamespacedService(
      { name, namespace, body: { spec: { selector: { app: 'reports', tier: 'web' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(await platform.setMaintenance(true)).toEqual({ previous: false, enabled: true });
    expect(await selector(ns)).toEqual({ app: 'reports-maintenance' });
    const on = await core.readNamespacedService({ name, namespace });
    expect(JSON.parse(on.metadata?.annotations?.['runbooks.temporal.io/selector-before-maintenance'] ?? '')).toEqual({ app: 'reports', tier: 'web' });
    expect((await platform.state()).maintenance).toBe(true);

    expect(await platform.setMaintenance(true)).toEqual({ previous: true, enabled: true });
    expect((await core.readNamespacedService({ name, namespace })).metadata?.resourceVersion).toBe(on.metadata?.resourceVersion);

    expect(await platform.setMaintenance(false)).toEqual({ previous: true, enabled: false });
    const off = await core.readNamespacedService({ name, namespace });
    expect(off.spec?.selector).toEqual({ app: 'reports', tier: 'web' });
    expect(off.metadata?.annotations?.['runbooks.temporal.io/selector-before-maintenance']).toBeUndefined();
    expect(await platform.setMaintenance(false)).toEqual({ previous: false, enabled: false });
    expect((await core.readNamespacedService({ name, namespace })).metadata?.resourceVersion).toBe(off.metadata?.resourceVersion);
    expect((await platform.state()).maintenance).toBe(false);
  });

  test('a service without maintenance routing is refused at once, naming the setting', async () => {
    const { maintenance: _m, ...without } = cfg;
    const e = await failure(kubernetesPlatform('reports', without).setMaintenance(true));
    expect(e).toMatchObject({
      name: 'InvalidTargetError',
      message: expect.stringContaining('service "reports" has no maintenance routing configured: set platform.maintenance'),
    });
  });
});

describe('deployments', () => {
  test('deploy makes revision 2 with the image; the same request id again makes no second revision; the id reused for another change is refused', async () => {
    const requestId = randomUUID();
    const deployed = await platform.deploy('v1.5.0', requestId);
    expect(deployed).toEqual({
      revision: { revision: 2, version: 'v1.5.0', cause: 'deploy', requestId, at: expect.any(String) },
      previous: { revision: 1, version: 'v1.4.2', cause: 'deploy', requestId: '', at: expect.any(String) },
      repeated: false,
    });
    const d = await waitRolledOut(ns);
    expect([imageOf(d), revisionOf(d)]).toEqual([`${IMAGE}:v1.5.0`, 2]);
    expect(d.metadata?.annotations?.['kubernetes.io/change-cause']).toBe(`runbooks: a deploy of v1.5.0 (request ${requestId})`);
    expect((await replicaSets(ns)).map((r) => [r.revision, r.image])).toEqual([
      [1, `${IMAGE}:v1.4.2`],
      [2, `${IMAGE}:v1.5.0`],
    ]);

    expect(await platform.deploy('v1.5.0', requestId)).toEqual({ ...deployed, repeated: true });
    expect((await deploymentOf(ns)).metadata?.resourceVersion).toBe(d.metadata?.resourceVersion);
    expect(await replicaSets(ns)).toHaveLength(2);
    await expect(platform.deploy('v1.5.1-slow', requestId)).rejects.toMatchObject({
      name: 'UnsafeOperationError',
      message: `request ${requestId} was applied as a deploy of v1.5.0, not a deploy of v1.5.1-slow: use a new request id`,
    });
    await expect(platform.rollback(requestId)).rejects.toMatchObject({ name: 'UnsafeOperationError' });

    const state = await platform.deployment();
    expect(state).toEqual({
      current: deployed.revision,
      history: [deployed.previous, deployed.revision],
      rollout: { revision: 2, status: 'complete', updated: 2, total: 2 },
      available: VERSIONS,
    });
    // Without configured versions, the versions are those of the history.
    expect((await kubernetesPlatform('reports', { ...cfg, versions: undefined }).deployment()).available).toEqual(['v1.4.2', 'v1.5.0']);
  });

  test('rollback after a bad deploy restores the previous template as revision 3 (its ReplicaSet re-used, as kubectl rollout undo), once per request id', async () => {
    const [first] = await replicaSets(ns);
    const template = (await deploymentOf(ns)).spec?.template;
    const bad = await platform.deploy('v1.5.0-broken', randomUUID());
    expect(bad.revision).toMatchObject({ revision: 2, version: 'v1.5.0-broken' });

    const requestId = randomUUID();
    const rolled = await platform.rollback(requestId);
    expect(rolled).toEqual({
      revision: { revision: 3, version: 'v1.4.2', cause: 'rollback', requestId, at: expect.any(String) },
      previous: bad.revision,
      repeated: false,
    });
    expect((await deploymentOf(ns)).spec?.template).toEqual(template);
    const rss = await replicaSets(ns);
    expect(rss.map((r) => [r.name, r.revision, r.history])).toEqual([
      [expect.any(String), 2, undefined],
      [first!.name, 3, '1'],
    ]);

    const activities = createPlatformActivities(depsFor(cfg));
    const waited = await inActivity(() => activities.waitForRollout({ service: 'reports', revision: 3, timeoutMs: 30_000, pollMs: 100 }));
    expect(waited).toMatchObject({ complete: true, failed: false, superseded: false, rollout: { revision: 3, status: 'complete', updated: 2, total: 2 } });

    // The retry of the same request: answered from the record, not "the revision before current" again.
    expect(await platform.rollback(requestId)).toEqual({ ...rolled, repeated: true });
    expect((await replicaSets(ns)).map((r) => r.revision)).toEqual([2, 3]);
    expect((await platform.deployment()).history.map((r) => [r.revision, r.version, r.cause])).toEqual([
      [2, 'v1.5.0-broken', 'deploy'],
      [3, 'v1.4.2', 'rollback'],
    ]);
  });

  test('rollback(toRevision) goes back to that revision; an unknown one is refused listing the revisions there are', async () => {
    await platform.deploy('v1.5.0', randomUUID());
    await platform.deploy('v1.5.1-slow', randomUUID());
    const rolled = await platform.rollback(randomUUID(), 1);
    expect(rolled.revision).toMatchObject({ revision: 4, version: 'v1.4.2', cause: 'rollback' });
    expect(rolled.previous).toMatchObject({ revision: 3, version: 'v1.5.1-slow' });
    expect(imageOf(await deploymentOf(ns))).toBe(`${IMAGE}:v1.4.2`);
    const rv = (await waitRolledOut(ns)).metadata?.resourceVersion;

    await expect(platform.rollback(randomUUID(), 9)).rejects.toMatchObject({
      name: 'InvalidTargetError',
      message: `Deployment "reports" in namespace "${ns.namespace}" has no revision 9 to roll back to; its revisions: 2, 3, 4`,
    });
    await expect(platform.rollback(randomUUID(), 4)).rejects.toMatchObject({
      name: 'UnsafeOperationError',
      message: expect.stringContaining('revision 4 is the current revision'),
    });
    expect((await deploymentOf(ns)).metadata?.resourceVersion).toBe(rv);
  });

  test('two deploys at once both apply, each as its own revision: the write that lost re-reads and re-plans', async () => {
    const [a, b] = await Promise.all([platform.deploy('v1.5.0', randomUUID()), platform.deploy('v1.5.1-slow', randomUUID())]);
    expect([a.revision.revision, b.revision.revision].sort()).toEqual([2, 3]);
    const last = a.revision.revision === 3 ? a : b;
    const first = last === a ? b : a;
    expect(last.previous).toEqual(first.revision);
    expect(imageOf(await deploymentOf(ns))).toBe(`${IMAGE}:${last.revision.version}`);
    expect(await revisions(ns)).toEqual({ 1: 'v1.4.2', [first.revision.revision]: first.revision.version, [last.revision.revision]: last.revision.version });
    expect(requestRecord(await deploymentOf(ns)).map((r) => r.id)).toEqual([first.revision.requestId, last.revision.requestId]);
  });

  test('a rollout to a broken image ends failed with ProgressDeadlineExceeded, and waitForRollout ends with failed=true instead of waiting out its timeout', async () => {
    await patchSpec(ns, 'reports', { progressDeadlineSeconds: 3 });
    const bad = await platform.deploy('v1.5.0-broken', randomUUID());
    const activities = createPlatformActivities(depsFor(cfg));
    const waited = await inActivity(() => activities.waitForRollout({ service: 'reports', revision: bad.revision.revision, timeoutMs: 50_000, pollMs: 200 }));
    expect(waited).toMatchObject({
      complete: false,
      failed: true,
      superseded: false,
      rollout: { revision: 2, status: 'failed', reason: 'ProgressDeadlineExceeded', message: expect.stringContaining('has timed out progressing') },
    });
    expect(condition(await deploymentOf(ns), 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect((await platform.deployment()).rollout.status).toBe('failed');
  });
});

describe('feature flags', () => {
  test('flags are the flag-shaped keys of the ConfigMap; setFlags changes only the named keys and returns what they were', async () => {
    await ns.core.patchNamespacedConfigMap(
      { name: 'reports-config', namespace: ns.namespace, body: { data: { 'log.level': 'debug', REPORTS_BETA: 'yes' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(await platform.flags()).toEqual({ REPORTS_BETA: false, REPORTS_MODULE_ENABLED: true, REPORTS_V2_ENABLED: true });

    expect(await platform.setFlags({ REPORTS_V2_ENABLED: false, REPORTS_NEW: true })).toEqual({
      previous: { REPORTS_V2_ENABLED: true },
      flags: { REPORTS_BETA: false, REPORTS_MODULE_ENABLED: true, REPORTS_NEW: true, REPORTS_V2_ENABLED: false },
    });
    expect(await flags(ns)).toEqual({
      'log.level': 'debug',
      REPORTS_BETA: 'yes',
      REPORTS_MODULE_ENABLED: 'true',
      REPORTS_NEW: 'true',
      REPORTS_V2_ENABLED: 'false',
    });

    // Two changes at once: neither is lost, and each answers what it replaced.
    const [x, y] = await Promise.all([platform.setFlags({ REPORTS_NEW: false }), platform.setFlags({ REPORTS_BETA: true })]);
    expect([x.previous, y.previous]).toEqual([{ REPORTS_NEW: true }, { REPORTS_BETA: false }]);
    expect(await platform.flags()).toMatchObject({ REPORTS_NEW: false, REPORTS_BETA: true });

    const rv = (await ns.core.readNamespacedConfigMap({ name: 'reports-config', namespace: ns.namespace })).metadata?.resourceVersion;
    await expect(platform.setFlags({ 'log.level': false })).rejects.toMatchObject({
      name: 'UnsafeOperationError',
      message: expect.stringContaining('"log.level"'),
    });
    expect((await ns.core.readNamespacedConfigMap({ name: 'reports-config', namespace: ns.namespace })).metadata?.resourceVersion).toBe(rv);
  });
});

describe('refusals and bad input', () => {
  test('in a namespace where the operator has no RoleBinding, the error names the verb, the resource, the namespace and the user', async () => {
    const other = await demoNamespace('k8s-adapter-other');
    extra.push(other);
    const there = kubernetesPlatform('reports', { ...cfg, namespace: other.namespace });
    const user = `system:serviceaccount:${ns.namespace}:runbooks`;
    await expect(there.scaleWorkers(1)).rejects.toMatchObject({
      name: 'InvalidTargetError',
      message: `kubernetes refused: get deployments/scale "reports-worker" in namespace "${other.namespace}": forbidden (${user}); the runbooks need the Role of deploy/k8s/role.yaml bound in that namespace`,
    });
    // Allowed to read but not to scale: the refusal names the patch.
    const rbac = other.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const namespace = other.namespace;
    await rbac.createNamespacedRole({
      namespace,
      body: { metadata: { name: 'read-scale' }, rules: [{ apiGroups: ['apps'], resources: ['deployments/scale', 'deployments'], verbs: ['get'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'read-scale' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-scale' },
        subjects: [{ kind: 'ServiceAccount', name: 'runbooks', namespace: ns.namespace }],
      },
    });
    const refused = await eventually(async () => {
      const e = await failure(there.scaleWorkers(1));
      return e.message.includes('patch') && e;
    });
    expect(refused).toMatchObject({
      name: 'InvalidTargetError',
      message: expect.stringContaining(`kubernetes refused: patch deployments/scale "reports-worker" in namespace "${namespace}": forbidden (${user})`),
    });
    expect(await workerReplicas(other)).toBe(2);
  });

  test('bad input fails before any request (even with unreadable credentials) and the objects are unchanged', async () => {
    const before = await resourceVersions(ns);
    const unreachable = kubernetesPlatform('reports', { ...cfg, kubeconfig: path.join(DATA, 'test', 'no-such-kubeconfig') });
    for (const p of [platform, unreachable]) {
      await expect(p.scaleWorkers(-1)).rejects.toMatchObject({ name: 'UnsafeOperationError', message: 'replicas -1 must be a whole number from 0 to 1000' });
      await expect(p.scaleWorkers(1.5)).rejects.toMatchObject({ name: 'UnsafeOperationError', message: 'replicas 1.5 must be a whole number from 0 to 1000' });
      await expect(p.deploy('registry.local/reports:v1 .5', randomUUID())).rejects.toMatchObject({
        name: 'UnsafeOperationError',
        message: expect.stringContaining('version "registry.local/reports:v1 .5" is not an image tag'),
      });
      await expect(p.deploy('v9.9.9', randomUUID())).rejects.toMatchObject({ message: `unknown version "v9.9.9"; available: ${VERSIONS.join(', ')}` });
      await expect(p.rollback(randomUUID(), 0)).rejects.toMatchObject({ name: 'UnsafeOperationError', message: expect.stringContaining('toRevision 0') });
      await expect(p.restartWorkers('graceful', '')).rejects.toMatchObject({ name: 'UnsafeOperationError', message: expect.stringContaining('requestId ""') });
      await expect(p.setFlags({})).rejects.toMatchObject({ name: 'UnsafeOperationError' });
    }
    // With good input, the unreadable kubeconfig is what fails, named by its path.
    await expect(unreachable.state()).rejects.toMatchObject({
      name: 'InvalidTargetError',
      message: expect.stringContaining('no-such-kubeconfig" (platform.kubeconfig) cannot be read'),
    });

    await expect(platform.rollback(randomUUID())).rejects.toMatchObject({
      name: 'InvalidTargetError',
      message: `Deployment "reports" in namespace "${ns.namespace}" has no revision before the current one (1) to roll back to; its revisions: 1`,
    });
    const missing = kubernetesPlatform('reports', { ...cfg, deployment: 'nope', workers: 'nope-workers' });
    await expect(missing.deploy('v1.5.0', randomUUID())).rejects.toMatchObject({
      name: 'InvalidTargetError',
      message: `Deployment "nope" not found in namespace "${ns.namespace}": check platform.deployment`,
    });
    await expect(missing.scaleWorkers(1)).rejects.toMatchObject({
      name: 'InvalidTargetError',
      message: `Deployment "nope-workers" not found in namespace "${ns.namespace}": check platform.workers`,
    });
    expect(await resourceVersions(ns)).toEqual(before);
  });

  test('no error message carries the token: refused, missing, invalid, unauthorized and unreachable calls', async () => {
    const token = tokenOf(operator);
    expect(token.length).toBeGreaterThan(20);
    const other = await demoNamespace('k8s-adapter-tok');
    extra.push(other);
    const variant = (name: string, edit: (text: string) => string): string => {
      const file = path.join(DATA, 'test', `kubeconfig-${ns.namespace}-${name}`);
      writeFileSync(file, edit(readFileSync(operator, 'utf8')), { mode: 0o600 });
      return file;
    };
    const unauthorized = variant('bad-token', (t) => t.replace(token, `${token.slice(0, -4)}AAAA`));
    const unreachable = variant('no-server', (t) => t.replace(/https:\/\/127\.0\.0\.1:\d+/, 'https://127.0.0.1:1'));
    const errors = await Promise.all([
      failure(kubernetesPlatform('reports', { ...cfg, namespace: other.namespace }).deploy('v1.5.0', randomUUID())),
      failure(kubernetesPlatform('reports', { ...cfg, configMap: 'nope' }).setFlags({ A: true })),
      failure(kubernetesPlatform('reports', { ...cfg, maintenance: { service: 'reports', selector: { app: 'not a label value!' } } }).setMaintenance(true)),
      failure(kubernetesPlatform('reports', { ...cfg, kubeconfig: unauthorized }).state()),
      failure(kubernetesPlatform('reports', { ...cfg, kubeconfig: unreachable }).flags()),
    ]);
    expect(errors.map((e) => e.name)).toEqual(['InvalidTargetError', 'InvalidTargetError', 'UnsafeOperationError', 'Error', 'Error']);
    expect(errors[2].message).toContain(`kubernetes rejected: patch services "reports" in namespace "${ns.namespace}": Service "reports" is invalid`);
    expect(errors[3].message).toContain('the credentials were not accepted (401 Unauthorized)');
    expect(errors[4].message).toContain('ECONNREFUSED');
    for (const e of errors) {
      expect(`${e.message}\n${e.stack}\n${JSON.stringify(e)}`).not.toContain(token.slice(0, 24));
      expect(`${e.message}\n${e.stack}`).not.toContain(token.slice(-24));
    }
  });
});

/** All the platform activities need of a worker's deps: the service's configuration. */
function depsFor(platformCfg: KubernetesPlatformConfig): Deps {
  const svc = serviceSchema.parse({ healthUrl: 'http://127.0.0.1:1/health', platform: platformCfg });
  return { service: () => svc } as unknown as Deps;
}
