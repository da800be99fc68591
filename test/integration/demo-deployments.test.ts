// Deployments of the demo reports service, against the real servers: the revision history in Redis, a bad
// release that really fails report requests, rollbacks, idempotent request ids, rollouts of the job
// processors, feature flags, what survives a restart of the service, the data release v2 left behind for the
// database rollback steps of config/local.json, and the platform activities that drive all of it.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { escapeIdentifier } from 'pg';
import { createPlatformActivities, type DeployResult, type DeploymentState } from '../../activities/platform';
import { dataRollbackSchema } from '../../config/data-rollback';
import { seedMongo, seedPostgres } from '../../demo/seed';
import { startDemo, type DemoOptions } from '../../demo/server';
import { FAULTY_VERSION, SLOW_DELAY_MS, SLOW_VERSION, STABLE_VERSION, VERSIONS } from '../../demo/versions';
import { adminToken } from '../helpers/runs';
import { createTestEnv, eventually, mongoUrl, pgUrl, redisUrl, type TestEnv } from '../helpers/env';

let env: TestEnv;
let token: string;
beforeAll(async () => {
  env = await createTestEnv();
  token = adminToken(env);
});
afterAll(async () => env?.cleanup());

const AVAILABLE = VERSIONS.map((v) => v.name);

const call = (base: string, auth: string, method: string, path: string, body?: unknown): Promise<Response> =>
  fetch(`${base}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const admin = (method: string, path: string, body?: unknown): Promise<Response> => call(env.demo.url, token, method, path, body);
const json = async <T>(res: Response | Promise<Response>): Promise<T> => (await (await res).json()) as T;
const deployment = (): Promise<DeploymentState> => json(admin('GET', '/deployment'));
const deploy = (version: string, requestId = randomUUID()): Promise<Response> => admin('POST', '/deployment', { version, requestId });
const rollback = (body: { requestId?: string; toRevision?: number } = {}): Promise<Response> =>
  admin('POST', '/deployment/rollback', { requestId: randomUUID(), ...body });
const generation = async (): Promise<number> => (await json<{ generation: number }>(admin('GET', '/state'))).generation;
const postReport = (base = env.demo.url): Promise<Response> =>
  fetch(`${base}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
async function reportCodes(n: number): Promise<Record<number, number>> {
  const codes: Record<number, number> = {};
  for (let i = 0; i < n; i++) {
    const { status } = await postReport();
    codes[status] = (codes[status] ?? 0) + 1;
  }
  return codes;
}
const drained = async (): Promise<boolean> => (await env.redis.llen(env.queue.pending)) + (await env.redis.llen(env.queue.processing)) === 0;
const metrics = async (): Promise<string> => (await fetch(`${env.demo.url}/metrics`)).text();

describe('the deployment history and the admin API', () => {
  test('a fresh service has one revision of the initial version, shown by /admin/deployment, /health, /admin/state and /metrics', async () => {
    const d = await deployment();
    const first = { revision: 1, version: STABLE_VERSION, cause: 'deploy', requestId: 'initial-1', at: expect.any(String) };
    expect(d).toEqual({ current: first, history: [first], rollout: { revision: 1, status: 'complete', updated: 2, total: 2 }, available: AVAILABLE });
    expect(await env.redis.lrange(`rbt:${env.id}:platform:deploy`, 0, -1)).toHaveLength(1);
    expect(await json(fetch(`${env.demo.url}/health`))).toMatchObject({
      status: 'ok',
      version: STABLE_VERSION,
      revision: 1,
      flags: { REPORTS_MODULE_ENABLED: true, REPORTS_V2_ENABLED: true },
    });
    expect(await json(admin('GET', '/state'))).toMatchObject({ version: STABLE_VERSION });
    const m = await metrics();
    expect(m).toMatch(/^reports_version_info\{version="v1\.4\.2"\} 1$/m);
    expect(m).toMatch(/^reports_deployment_revision 1$/m);
    expect(env.demo.version()).toBe(STABLE_VERSION);
  });

  test('refused requests change nothing: no revision to roll back to (409), an unknown version (400), invalid bodies (400), no token (401)', async () => {
    const g0 = await generation();
    const none = await rollback();
    expect(none.status).toBe(409);
    expect(await none.json()).toEqual({ error: 'there is no revision before the current one (revision 1, v1.4.2) to roll back to' });
    const unknown = await deploy('v9.9.9');
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({ error: 'unknown version "v9.9.9"; available: v1.4.2, v1.5.0, v1.5.1-slow' });
    for (const bad of [
      { version: 'v1.5.0' },
      { requestId: 'r1' },
      { version: '', requestId: 'r1' },
      { version: 'v1.5.0', requestId: 'r1', extra: 1 },
      { version: 1, requestId: 'r1' },
    ]) {
      expect((await admin('POST', '/deployment', bad)).status).toBe(400);
    }
    for (const bad of [{}, { requestId: '' }, { requestId: 'r1', toRevision: 0 }, { requestId: 'r1', toRevision: '1' }, { requestId: 'r1', extra: 1 }]) {
      expect((await admin('POST', '/deployment/rollback', bad)).status).toBe(400);
    }
    expect((await call(env.demo.url, 'wrong', 'POST', '/deployment', { version: FAULTY_VERSION, requestId: 'r1' })).status).toBe(401);
    expect((await call(env.demo.url, 'wrong', 'GET', '/deployment')).status).toBe(401);
    expect((await call(env.demo.url, 'wrong', 'PUT', '/flags', { flags: { REPORTS_MODULE_ENABLED: false } })).status).toBe(401);
    expect((await deployment()).history).toHaveLength(1);
    expect(await generation()).toBe(g0);
  });

  test('deploying the faulty v1.5.0 makes revision 2 and fails ~30 % of report requests at once; probes and /health are unaffected', async () => {
    const g0 = await generation();
    const requestId = randomUUID();
    const res = await deploy(FAULTY_VERSION, requestId);
    expect(res.status).toBe(201);
    const result = await json<DeployResult>(res);
    expect(result).toEqual({
      revision: { revision: 2, version: FAULTY_VERSION, cause: 'deploy', requestId, at: expect.any(String) },
      previous: expect.objectContaining({ revision: 1, version: STABLE_VERSION }),
      repeated: false,
    });
    expect(await generation()).toBe(g0 + 1);
    expect(await env.redis.hget(`rbt:${env.id}:platform`, 'generation')).toBe(String(g0 + 1));
    await eventually(async () => (await deployment()).rollout.status === 'complete', 10_000, 'the rollout of revision 2');
    expect((await deployment()).rollout).toEqual({ revision: 2, status: 'complete', updated: 2, total: 2 });

    const codes = await reportCodes(40);
    expect(codes[500]).toBeGreaterThanOrEqual(11);
    expect(codes[500]).toBeLessThanOrEqual(13);
    expect(codes[500]! + codes[202]!).toBe(40);
    const probeId = `deploy-${randomUUID()}`;
    expect(
      (await fetch(`${env.demo.url}/probes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ probeId }) })).status,
    ).toBe(202);
    await eventually(
      async () => ((await json<{ status: string }>(fetch(`${env.demo.url}/probes/${probeId}`))).status === 'done' ? true : undefined),
      10_000,
      'the probe',
    );
    for (let i = 0; i < 5; i++) expect((await fetch(`${env.demo.url}/health`)).status).toBe(200);
    expect(await json(fetch(`${env.demo.url}/health`))).toMatchObject({ version: FAULTY_VERSION, revision: 2 });
    const m = await metrics();
    expect(m).toMatch(/^reports_version_info\{version="v1\.5\.0"\} 1$/m);
    expect(m).not.toMatch(/reports_version_info\{version="v1\.4\.2"\}/);
    expect(m).toMatch(/^reports_deployment_revision 2$/m);
    expect(m).toMatch(/^reports_http_requests_total\{route="\/reports",code="500"\} \d+$/m);
    await eventually(drained, 15_000, 'the queue to drain');
  });

  test('a rollback makes revision 3 with the previous version (cause rollback): no more 500s, and its rollout completes with generation +1', async () => {
    const g0 = await generation();
    const requestId = randomUUID();
    const res = await rollback({ requestId });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({
      revision: { revision: 3, version: STABLE_VERSION, cause: 'rollback', requestId, at: expect.any(String) },
      previous: expect.objectContaining({ revision: 2, version: FAULTY_VERSION }),
      repeated: false,
    });
    expect(await reportCodes(30)).toEqual({ 202: 30 });
    await eventually(async () => (await deployment()).rollout.status === 'complete', 10_000, 'the rollout of revision 3');
    const d = await deployment();
    expect(d.history.map((r) => [r.revision, r.version, r.cause])).toEqual([
      [1, STABLE_VERSION, 'deploy'],
      [2, FAULTY_VERSION, 'deploy'],
      [3, STABLE_VERSION, 'rollback'],
    ]);
    expect(d.rollout).toEqual({ revision: 3, status: 'complete', updated: 2, total: 2 });
    expect(await generation()).toBe(g0 + 1);
    expect(env.demo.generation()).toBe(g0 + 1);

    // To a named revision; not to the current one, nor to one that does not exist.
    const current = await rollback({ toRevision: 3 });
    expect(current.status).toBe(409);
    expect(await current.json()).toEqual({ error: 'revision 3 (v1.4.2) is the current revision already' });
    const missing = await rollback({ toRevision: 99 });
    expect(missing.status).toBe(409);
    expect(await missing.json()).toEqual({ error: 'there is no revision 99 to roll back to; revisions are 1 to 3' });
    const toFirst = await json<DeployResult>(rollback({ toRevision: 1 }));
    expect(toFirst.revision).toMatchObject({ revision: 4, version: STABLE_VERSION, cause: 'rollback' });
    expect((await deployment()).history).toHaveLength(4);
    await eventually(drained, 15_000, 'the queue to drain');
  });

  test('a request id applies once: a repeat answers the recorded result (200, repeated) and makes no revision; its reuse for something else is 409', async () => {
    const requestId = randomUUID();
    const first = await json<DeployResult>(deploy(FAULTY_VERSION, requestId));
    const g = await generation();
    const repeat = await deploy(FAULTY_VERSION, requestId);
    expect(repeat.status).toBe(200);
    expect(await repeat.json()).toEqual({ ...first, repeated: true });
    const reused = await deploy(SLOW_VERSION, requestId);
    expect(reused.status).toBe(409);
    expect(await reused.json()).toEqual({ error: `deployment request ${requestId} was applied as a deploy of v1.5.0, not a deploy of v1.5.1-slow` });
    expect((await rollback({ requestId })).status).toBe(409);
    expect((await deployment()).current.revision).toBe(first.revision.revision);
    expect(await generation()).toBe(g);

    // A rollback's id too, and two deliveries at once (a retry racing the original) apply once.
    const rb = randomUUID();
    const both = await Promise.all([json<DeployResult>(rollback({ requestId: rb })), json<DeployResult>(rollback({ requestId: rb }))]);
    expect(both.map((b) => b.repeated).sort()).toEqual([false, true]);
    expect(both[0].revision).toEqual(both[1].revision);
    expect(both[0].revision).toMatchObject({ revision: first.revision.revision + 1, version: STABLE_VERSION, cause: 'rollback' });
    const again = await rollback({ requestId: rb, toRevision: 1 });
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({ error: `deployment request ${rb} was applied as a rollback to the previous revision, not a rollback to 1` });
    expect((await deployment()).history).toHaveLength(first.revision.revision + 1);
    expect(await env.redis.hlen(`rbt:${env.id}:platform:deploy-requests`)).toBeGreaterThanOrEqual(2);
    await eventually(async () => (await deployment()).rollout.status === 'complete', 10_000, 'the rollout');
  });

  test('a rollout is in progress until every processor runs the new generation: wedged processors hold it, a force restart completes it', async () => {
    await admin('PUT', '/faults', { wedged: true });
    const res = await json<DeployResult>(deploy(FAULTY_VERSION));
    await sleep(1000);
    expect((await deployment()).rollout).toEqual({ revision: res.revision.revision, status: 'in-progress', updated: 0, total: 2 });
    // The public API is the new version already.
    expect(await json(fetch(`${env.demo.url}/health`))).toMatchObject({ version: FAULTY_VERSION, revision: res.revision.revision });
    const g = await generation();
    await admin('POST', '/workers/restart', { mode: 'force', requestId: randomUUID() });
    await admin('PUT', '/faults', { wedged: false });
    expect((await deployment()).rollout).toEqual({ revision: res.revision.revision, status: 'complete', updated: 2, total: 2 });
    expect(await generation()).toBe(g + 1);

    // With no processors there is nothing to roll: complete at once, 0 of 0.
    await admin('PUT', '/workers', { replicas: 0 });
    const none = await json<DeployResult>(rollback());
    expect((await deployment()).rollout).toEqual({ revision: none.revision.revision, status: 'complete', updated: 0, total: 0 });
    await admin('PUT', '/workers', { replicas: 2 });
    expect((await deployment()).rollout).toEqual({ revision: none.revision.revision, status: 'complete', updated: 2, total: 2 });
    await eventually(drained, 15_000, 'the queue to drain');
  });
});

describe('feature flags', () => {
  test('set flags persist in Redis and answer their previous values; REPORTS_MODULE_ENABLED false answers 503 to report requests only', async () => {
    expect(await json(admin('GET', '/flags'))).toEqual({ flags: { REPORTS_MODULE_ENABLED: true, REPORTS_V2_ENABLED: true } });
    const off = await json(admin('PUT', '/flags', { flags: { REPORTS_MODULE_ENABLED: false, NEW_EXPORTS: true } }));
    expect(off).toEqual({ previous: { REPORTS_MODULE_ENABLED: true }, flags: { NEW_EXPORTS: true, REPORTS_MODULE_ENABLED: false, REPORTS_V2_ENABLED: true } });
    expect(await env.redis.hgetall(`rbt:${env.id}:platform:flags`)).toEqual({ REPORTS_MODULE_ENABLED: 'false', NEW_EXPORTS: 'true' });
    const refused = await postReport();
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({ error: 'the reports module is disabled (feature flag REPORTS_MODULE_ENABLED)' });
    expect((await fetch(`${env.demo.url}/health`)).status).toBe(200);
    expect(await json(fetch(`${env.demo.url}/health`))).toMatchObject({ flags: { REPORTS_MODULE_ENABLED: false } });
    const probeId = `flags-${randomUUID()}`;
    expect(
      (await fetch(`${env.demo.url}/probes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ probeId }) })).status,
    ).toBe(202);

    expect(await json(admin('PUT', '/flags', { flags: { REPORTS_MODULE_ENABLED: true } }))).toMatchObject({ previous: { REPORTS_MODULE_ENABLED: false } });
    expect((await postReport()).status).toBe(202);
    for (const bad of [
      {},
      { flags: {} },
      { flags: { lower_case: true } },
      { flags: { '1ABC': true } },
      { flags: { OK: 'true' } },
      { flags: { OK: true }, extra: 1 },
    ]) {
      expect((await admin('PUT', '/flags', bad)).status).toBe(400);
    }
    expect((await json<{ flags: Record<string, boolean> }>(admin('GET', '/flags'))).flags).toEqual({
      NEW_EXPORTS: true,
      REPORTS_MODULE_ENABLED: true,
      REPORTS_V2_ENABLED: true,
    });
    await eventually(drained, 15_000, 'the queue to drain');
  });
});

describe('a restart of the service', () => {
  test('keeps the history and the flags (initial versions only seed an empty history); the slow version delays report requests', async () => {
    const opts: DemoOptions = {
      port: 0,
      pgUrl: pgUrl(env.dbName),
      redisUrl: redisUrl(),
      mongoUrl,
      mongoDb: env.dbName,
      adminToken: randomUUID(),
      stateKey: `rbt:${env.id}:platform-deploys`,
      queue: { pending: `rbt:${env.id}:deploys_pending`, processing: `rbt:${env.id}:deploys_processing`, failed: `rbt:${env.id}:deploys_failed` },
      initialReplicas: 1,
      jobMs: 5,
      seed: false,
      // The catalog's slow version, 1.5 s slow instead of 12 s.
      versions: VERSIONS.map((v) => (v.name === SLOW_VERSION ? { ...v, delayMs: 1500 } : v)),
    };
    await expect(startDemo({ ...opts, initialVersions: ['v0.0.1'] })).rejects.toThrow(
      'initial versions of the demo: unknown version "v0.0.1"; available: v1.4.2, v1.5.0, v1.5.1-slow',
    );
    const a = await startDemo({ ...opts, initialVersions: [STABLE_VERSION, FAULTY_VERSION] });
    let b: Awaited<ReturnType<typeof startDemo>> | undefined;
    try {
      const first = await json<DeploymentState>(call(a.url, opts.adminToken, 'GET', '/deployment'));
      expect(first.history.map((r) => [r.revision, r.version, r.cause])).toEqual([
        [1, STABLE_VERSION, 'deploy'],
        [2, FAULTY_VERSION, 'deploy'],
      ]);
      expect(a.version()).toBe(FAULTY_VERSION);
      expect((await call(a.url, opts.adminToken, 'POST', '/deployment/rollback', { requestId: 'undo-1' })).status).toBe(201);
      await call(a.url, opts.adminToken, 'PUT', '/flags', { flags: { REPORTS_V2_ENABLED: false } });
      await a.close();

      b = await startDemo({ ...opts, initialVersions: [SLOW_VERSION] });
      const after = await json<DeploymentState>(call(b.url, opts.adminToken, 'GET', '/deployment'));
      expect(after.history).toEqual([
        ...first.history,
        expect.objectContaining({ revision: 3, version: STABLE_VERSION, cause: 'rollback', requestId: 'undo-1' }),
      ]);
      expect(after.rollout).toEqual({ revision: 3, status: 'complete', updated: 1, total: 1 });
      expect(b.version()).toBe(STABLE_VERSION);
      expect(await json(call(b.url, opts.adminToken, 'GET', '/flags'))).toEqual({ flags: { REPORTS_MODULE_ENABLED: true, REPORTS_V2_ENABLED: false } });
      // The request record survived too: the retry after a restart does not roll back a second time.
      const retried = await call(b.url, opts.adminToken, 'POST', '/deployment/rollback', { requestId: 'undo-1' });
      expect(retried.status).toBe(200);
      expect(await retried.json()).toMatchObject({ revision: { revision: 3 }, repeated: true });

      expect((await call(b.url, opts.adminToken, 'POST', '/deployment', { version: SLOW_VERSION, requestId: 'slow-1' })).status).toBe(201);
      const t0 = Date.now();
      expect((await postReport(b.url)).status).toBe(202);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1490);
      const t1 = Date.now();
      expect((await fetch(`${b.url}/health`)).status).toBe(200);
      expect(Date.now() - t1).toBeLessThan(1000);
      // Closing the service does not wait for a slow request: it is answered 503 at once.
      const slow = postReport(b.url);
      await sleep(200);
      const t2 = Date.now();
      await b.close();
      b = undefined;
      expect(Date.now() - t2).toBeLessThan(1000);
      expect((await slow).status).toBe(503);
      // The real catalog's slow version is slower than the 10 s of the latency rollback trigger.
      expect(VERSIONS.find((v) => v.name === SLOW_VERSION)!.delayMs).toBe(SLOW_DELAY_MS);
      expect(SLOW_DELAY_MS).toBeGreaterThan(10_000);
    } finally {
      await b?.close();
      await a.close().catch(() => undefined);
    }
  });
});

describe('the platform activities', () => {
  const logger = new DefaultLogger('ERROR');
  const run = <R>(fn: () => Promise<R>, mock = new MockActivityEnvironment({}, { logger })): Promise<R> => mock.run<[], R, () => Promise<R>>(fn);

  test('deployVersion, waitForRollout and rollbackDeployment through the admin API, with flags and refusals as UnsafeOperationError', async () => {
    const platform = createPlatformActivities(env.deps);
    const service = 'reports';
    const before = await run(() => platform.deploymentStatus({ service }));
    const requestId = randomUUID();
    const deployed = await run(() => platform.deployVersion({ service, version: FAULTY_VERSION, requestId }));
    expect(deployed).toMatchObject({ revision: { revision: before.current.revision + 1, version: FAULTY_VERSION }, previous: before.current, repeated: false });
    expect(await run(() => platform.deployVersion({ service, version: FAULTY_VERSION, requestId }))).toEqual({ ...deployed, repeated: true });

    const mock = new MockActivityEnvironment({}, { logger });
    const beats: unknown[] = [];
    mock.on('heartbeat', (d: unknown) => beats.push(d));
    const waited = await run(() => platform.waitForRollout({ service, revision: deployed.revision.revision, timeoutMs: 15_000 }), mock);
    expect(waited).toMatchObject({
      complete: true,
      superseded: false,
      rollout: { revision: deployed.revision.revision, status: 'complete', updated: 2, total: 2 },
    });
    expect(beats.length).toBeGreaterThan(0);
    expect((await run(() => platform.deploymentStatus({ service }))).current).toEqual(deployed.revision);

    const rolled = await run(() => platform.rollbackDeployment({ service, requestId: randomUUID() }));
    expect(rolled).toMatchObject({
      revision: { revision: deployed.revision.revision + 1, version: before.current.version, cause: 'rollback' },
      repeated: false,
    });
    // The older revision was replaced: its wait ends at once rather than waiting out its timeout.
    expect(await run(() => platform.waitForRollout({ service, revision: deployed.revision.revision, timeoutMs: 15_000 }))).toMatchObject({
      complete: false,
      superseded: true,
    });
    await run(() => platform.waitForRollout({ service, revision: rolled.revision.revision, timeoutMs: 15_000 }));

    // A rollout that cannot complete in time is a result, not an error; a retry keeps the first attempt's clock.
    await admin('PUT', '/faults', { wedged: true });
    const stalled = await run(() => platform.deployVersion({ service, version: STABLE_VERSION, requestId: randomUUID() }));
    const timedOut = await run(() => platform.waitForRollout({ service, revision: stalled.revision.revision, timeoutMs: 600, pollMs: 100 }));
    expect(timedOut).toMatchObject({ complete: false, superseded: false, rollout: { status: 'in-progress', updated: 0, total: 2 } });
    expect(timedOut.waitedMs).toBeGreaterThanOrEqual(600);
    const startedAt = Date.now() - 10_000;
    const t0 = Date.now();
    const retried = await run(
      () => platform.waitForRollout({ service, revision: stalled.revision.revision, timeoutMs: 5000 }),
      new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { startedAt } }, { logger }),
    );
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(retried).toMatchObject({ complete: false });
    expect(retried.waitedMs).toBeGreaterThanOrEqual(10_000);
    // Cancelled while waiting: it ends with the cancellation.
    const cancelling = new MockActivityEnvironment({}, { logger });
    const waiting = run(() => platform.waitForRollout({ service, revision: stalled.revision.revision, timeoutMs: 60_000 }), cancelling);
    await sleep(300);
    cancelling.cancel();
    await expect(waiting).rejects.toMatchObject({ name: 'CancelledFailure' });
    await admin('POST', '/workers/restart', { mode: 'force', requestId: randomUUID() });
    await admin('PUT', '/faults', { wedged: false });
    expect(await run(() => platform.waitForRollout({ service, revision: stalled.revision.revision, timeoutMs: 5000 }))).toMatchObject({ complete: true });

    const errors = await Promise.all([
      run(() => platform.deployVersion({ service, version: 'v0', requestId: randomUUID() })).catch((e: Error) => e),
      run(() => platform.rollbackDeployment({ service, requestId: randomUUID(), toRevision: 999 })).catch((e: Error) => e),
      run(() => platform.waitForRollout({ service, revision: 999, timeoutMs: 1000 })).catch((e: Error) => e),
    ]);
    expect(errors.map((e) => (e as Error).name)).toEqual(['UnsafeOperationError', 'UnsafeOperationError', 'InvalidTargetError']);
    expect((errors[0] as Error).message).toContain('unknown version \\"v0\\"; available: v1.4.2, v1.5.0, v1.5.1-slow');

    expect(await run(() => platform.setFeatureFlags({ service, flags: { REPORTS_V2_ENABLED: false } }))).toMatchObject({
      previous: { REPORTS_V2_ENABLED: true },
      flags: { REPORTS_V2_ENABLED: false },
    });
    expect(await run(() => platform.featureFlags({ service }))).toMatchObject({ REPORTS_V2_ENABLED: false, REPORTS_MODULE_ENABLED: true });
    await run(() => platform.setFeatureFlags({ service, flags: { REPORTS_V2_ENABLED: true } }));
    await eventually(drained, 15_000, 'the queue to drain');
  });
});

describe('the data of release v2', () => {
  interface Counted {
    id: string;
    count: number;
  }
  const steps = dataRollbackSchema.parse(
    (JSON.parse(readFileSync(path.join(__dirname, '../../config/local.json'), 'utf8')) as { services: { reports: { dataRollback: unknown } } }).services.reports
      .dataRollback,
  ).steps;

  /** What each rollback step of config/local.json would touch in this env's databases. */
  async function matches(): Promise<Counted[]> {
    const out: Counted[] = [];
    for (const s of steps) {
      if (s.store === 'mongo') {
        out.push({ id: s.id, count: await env.mongo.collection(s.collection).countDocuments(s.filter) });
      } else {
        const [schema, table] = s.table.split('.') as [string, string];
        const cols = Object.entries(s.where);
        const where = cols.map(([col], i) => `${escapeIdentifier(col)}::text = ANY($${i + 1}::text[])`).join(' AND ');
        const { rows } = await env.pool.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${escapeIdentifier(schema)}.${escapeIdentifier(table)} WHERE ${where}`,
          [...cols.map(([, values]) => values.map(String))],
        );
        out.push({ id: s.id, count: Number(rows[0]!.n) });
      }
    }
    return out;
  }

  test('every database rollback step of config/local.json matches seeded documents or rows; seeding again adds nothing, nor brings back what was rolled back', async () => {
    const expected = [
      { id: 'templates-v2-fields', count: 4 },
      { id: 'templates-v2-types', count: 2 },
      { id: 'schedules-advanced', count: 2 },
      { id: 'exports-v2-formats', count: 12 },
      { id: 'reports-org-visibility', count: 10 },
      { id: 'migration-0002-record', count: 1 },
    ];
    expect(await matches()).toEqual(expected);
    expect(await env.mongo.collection('reporttemplates').countDocuments()).toBe(7);
    expect(await env.mongo.collection('reportschedules').countDocuments()).toBe(5);
    expect(Number((await env.pool.query('SELECT count(*) FROM report_exports')).rows[0].count)).toBe(40);
    expect((await env.pool.query('SELECT version FROM schema_migrations ORDER BY version')).rows).toEqual([
      { version: '0001_init' },
      { version: '0002_reports_v2' },
    ]);
    expect(await env.mongo.collection('reporttemplates').countDocuments({ version: { $gte: 2 }, advancedFilters: { $exists: true } })).toBe(4);
    expect(await env.mongo.collection('reportschedules').countDocuments({ frequency: 'conditional', conditionalTriggers: { $exists: true } })).toBe(1);

    await seedPostgres(env.pool);
    await seedMongo(env.mongo);
    expect(await matches()).toEqual(expected);

    // Roll part of it back by hand, as the rollback steps would; a restart's seed leaves it rolled back.
    await env.pool.query("DELETE FROM schema_migrations WHERE version = '0002_reports_v2'");
    await env.pool.query("UPDATE reports SET visibility = 'private' WHERE visibility = 'org-wide'");
    await env.mongo.collection('reporttemplates').deleteMany({ reportType: { $in: ['advanced-analytics', 'predictive-insights'] } });
    await seedPostgres(env.pool);
    await seedMongo(env.mongo);
    expect(await matches()).toEqual([
      { id: 'templates-v2-fields', count: 2 },
      { id: 'templates-v2-types', count: 0 },
      { id: 'schedules-advanced', count: 2 },
      { id: 'exports-v2-formats', count: 12 },
      { id: 'reports-org-visibility', count: 0 },
      { id: 'migration-0002-record', count: 0 },
    ]);
  });
});
