// The demo reports service is a fixture with real behaviour: runbooks rely on it, so it is tested too.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDemo } from '../../demo/server';
import { adminToken } from '../helpers/runs';
import { createTestEnv, eventually, mongoUrl, pgUrl, redisUrl, type TestEnv } from '../helpers/env';

let env: TestEnv;
let token: string;
beforeAll(async () => {
  env = await createTestEnv();
  token = adminToken(env);
});
afterAll(async () => env?.cleanup());

const admin = (path: string, body?: unknown, auth = `Bearer ${token}`): Promise<Response> =>
  fetch(`${env.demo.url}/admin${path}`, {
    method: body === undefined ? 'GET' : 'PUT',
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const restart = (body: unknown, auth = `Bearer ${token}`): Promise<Response> =>
  fetch(`${env.demo.url}/admin/workers/restart`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const post = (path: string, body: unknown): Promise<Response> =>
  fetch(`${env.demo.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
interface State {
  replicas: number;
  busy: number;
  maintenance: boolean;
  generation: number;
  wedged: number;
  rollout: { status: 'none' | 'in-progress' | 'complete'; generation: number; updated: number; total: number };
}
interface Restarted {
  mode: 'graceful' | 'force';
  requestId: string;
  generation: number;
  replicas: number;
  killed?: number;
  repeated: boolean;
}
const json = async <T>(res: Response | Promise<Response>): Promise<T> => (await (await res).json()) as T;
const state = (): Promise<State> => json<State>(admin('/state'));
const runs = async (): Promise<number> => Number((await env.pool.query('SELECT count(*) FROM report_runs')).rows[0].count);
const pending = (): Promise<number> => env.redis.llen(env.queue.pending);
const processing = (): Promise<number> => env.redis.llen(env.queue.processing);
const drained = async (): Promise<boolean> => (await pending()) === 0 && (await processing()) === 0;
async function enqueue(n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect((await post('/reports', { reportId: 1 + i })).status).toBe(202);
}

test('scaling processors to 0 really stops consumption; scaling up drains the queue into Postgres', async () => {
  expect(await (await admin('/workers', { replicas: 0 })).json()).toEqual({ previous: 2, replicas: 0, stopping: 0 });
  const before = await runs();
  await enqueue(20);
  await sleep(500);
  expect(await pending()).toBe(20);
  expect(await (await admin('/workers', { replicas: 2 })).json()).toEqual({ previous: 0, replicas: 2, stopping: 0 });
  await eventually(drained, 15_000, 'the queue to drain');
  expect(await runs()).toBe(before + 20);
});

test('maintenance mode refuses new jobs with 503 and shows in /health; a failing job lands in the failed list', async () => {
  await admin('/maintenance', { enabled: true });
  const refused = await fetch(`${env.demo.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(refused.status).toBe(503);
  expect(await (await fetch(`${env.demo.url}/health`)).json()).toMatchObject({ status: 'maintenance', checks: { postgres: 'ok', redis: 'ok', mongo: 'ok' } });
  await admin('/maintenance', { enabled: false });
  await post('/reports', { fail: true });
  await eventually(async () => (await env.redis.llen(env.queue.failed)) === 1, 10_000, 'the failed job');
});

test('the admin API needs the bearer token and validates its input', async () => {
  expect((await admin('/state', undefined, 'Bearer wrong')).status).toBe(401);
  expect((await admin('/state', undefined, '')).status).toBe(401);
  // An encoded path reaches the same route and must meet the same check.
  expect((await fetch(`${env.demo.url}/%61dmin/state`)).status).toBe(401);
  expect((await admin('/faults', { wedged: true }, 'Bearer wrong')).status).toBe(401);
  expect((await restart({ mode: 'force', requestId: randomUUID() }, '')).status).toBe(401);
  expect((await admin('/workers', { replicas: -1 })).status).toBe(400);
  expect((await admin('/workers', { replicas: 2, extra: 1 })).status).toBe(400);
  expect((await admin('/faults', { wedged: 'true' })).status).toBe(400);
  expect((await admin('/faults', { wedged: true, extra: 1 })).status).toBe(400);
  for (const bad of [
    { mode: 'force' },
    { requestId: 'r1' },
    { mode: 'rolling', requestId: 'r1' },
    { mode: 'force', requestId: '' },
    { mode: 'force', requestId: 'r'.repeat(201) },
    { mode: 'force', requestId: 'r1', extra: 1 },
  ]) {
    expect((await restart(bad)).status).toBe(400);
  }
  // Nothing above restarted or wedged anything.
  expect(await state()).toMatchObject({ replicas: 2, generation: 1, wedged: 0, rollout: { status: 'none', generation: 1, updated: 2, total: 2 } });
});

test('probe jobs: idempotent by id, accepted in maintenance, really processed, and their status is queryable', async () => {
  await admin('/workers', { replicas: 0 });
  const id = `probe:${randomUUID()}`;
  const probeKey = `rbt:${env.id}:platform:probe:${id}`;
  const first = await post('/probes', { probeId: id });
  expect(first.status).toBe(202);
  expect(await first.json()).toEqual({ probeId: id, status: 'queued' });
  const again = await post('/probes', { probeId: id });
  expect(again.status).toBe(200);
  expect(await again.json()).toEqual({ probeId: id, status: 'queued' });
  const jobs = (await env.redis.lrange(env.queue.pending, 0, -1)).map((raw) => JSON.parse(raw) as { probe?: string });
  expect(jobs.filter((j) => j.probe === id)).toHaveLength(1);
  expect(await env.redis.ttl(probeKey)).toBeGreaterThan(3500);

  // An operator's probe is not user work: maintenance mode accepts it.
  await admin('/maintenance', { enabled: true });
  const other = `other_${randomUUID()}`;
  expect((await post('/probes', { probeId: other })).status).toBe(202);
  expect((await post('/reports', {})).status).toBe(503);
  await admin('/maintenance', { enabled: false });

  // No processor: it stays queued.
  await sleep(500);
  expect(await (await fetch(`${env.demo.url}/probes/${id}`)).json()).toEqual({ probeId: id, status: 'queued' });

  const before = await runs();
  await admin('/workers', { replicas: 2 });
  for (const p of [id, other]) {
    await eventually(
      async () => ((await (await fetch(`${env.demo.url}/probes/${p}`)).json()) as { status: string }).status === 'done',
      10_000,
      `probe ${p} done`,
    );
  }
  expect(await runs()).toBe(before + 2);
  expect(await env.mongo.collection('report_audit_logs').countDocuments({ jobId: `probe-${id}` })).toBe(1);
  expect(await env.redis.ttl(probeKey)).toBeGreaterThan(3500);
  // Done probes are not enqueued again.
  const done = await post('/probes', { probeId: id });
  expect(done.status).toBe(200);
  expect(await done.json()).toEqual({ probeId: id, status: 'done' });
  await sleep(200);
  expect(await drained()).toBe(true);
  expect(await runs()).toBe(before + 2);

  const unknown = await fetch(`${env.demo.url}/probes/never-${randomUUID()}`);
  expect(unknown.status).toBe(404);
  expect(await unknown.json()).toEqual({ error: expect.any(String) });
  for (const bad of [{ probeId: 'bad id' }, { probeId: '' }, { probeId: 'p'.repeat(201) }, { probeId: 5 }, { probeId: 'ok', extra: 1 }, {}]) {
    expect((await post('/probes', bad)).status).toBe(400);
  }
  expect((await fetch(`${env.demo.url}/probes/bad%20id`)).status).toBe(400);
  expect((await fetch(`${env.demo.url}/probes/${'p'.repeat(200)}`)).status).toBe(404);
  expect((await fetch(`${env.demo.url}/probes/${'p'.repeat(201)}`)).status).toBe(400);
});

test('a graceful restart replaces every processor with the next generation and loses no job', async () => {
  const s0 = await state();
  const before = await runs();
  const failedBefore = await env.redis.llen(env.queue.failed);
  await env.redis.lpush(env.queue.pending, ...Array.from({ length: 60 }, (_, i) => JSON.stringify({ id: `rolling-${i}`, reportId: 1 + i })));
  const requestId = randomUUID();
  const res = await restart({ mode: 'graceful', requestId });
  expect(res.status).toBe(202);
  const generation = s0.generation + 1;
  expect(await res.json()).toEqual({ mode: 'graceful', requestId, generation, replicas: 2, repeated: false });
  await eventually(async () => (await state()).rollout.status === 'complete', 10_000, 'the rollout to complete');
  expect(await state()).toMatchObject({ replicas: 2, generation, wedged: 0, rollout: { status: 'complete', generation, updated: 2, total: 2 } });
  expect(env.demo.generation()).toBe(generation);
  expect(await env.redis.hget(`rbt:${env.id}:platform`, 'generation')).toBe(String(generation));
  await eventually(drained, 15_000, 'the queue to drain');
  expect(await runs()).toBe(before + 60);
  expect(await env.redis.llen(env.queue.failed)).toBe(failedBefore);
});

test('a restart request id applies once: a repeat answers repeated:true and changes nothing', async () => {
  const graceful = randomUUID();
  const first = await json<Restarted>(restart({ mode: 'graceful', requestId: graceful }));
  await eventually(async () => (await state()).rollout.status === 'complete', 10_000, 'the rollout to complete');
  const repeat = await restart({ mode: 'graceful', requestId: graceful });
  expect(repeat.status).toBe(202);
  expect(await repeat.json()).toEqual({ ...first, repeated: true });
  expect(await state()).toMatchObject({ generation: first.generation, rollout: { status: 'complete', generation: first.generation } });

  const force = randomUUID();
  const killedOnce = await restart({ mode: 'force', requestId: force });
  expect(killedOnce.status).toBe(200);
  const applied = await json<Restarted>(killedOnce);
  expect(applied).toEqual({ mode: 'force', requestId: force, generation: first.generation + 1, replicas: 2, killed: 2, repeated: false });
  const again = await restart({ mode: 'force', requestId: force });
  expect(again.status).toBe(200);
  expect(await again.json()).toEqual({ ...applied, repeated: true });
  // The same id with the other mode is a caller's mistake, not a retry.
  expect((await restart({ mode: 'graceful', requestId: force })).status).toBe(409);
  expect((await state()).generation).toBe(applied.generation);
  expect(env.demo.generation()).toBe(applied.generation);

  // Two deliveries at once (a retry racing the original) still apply once.
  const racing = randomUUID();
  const both = await Promise.all([
    json<Restarted>(restart({ mode: 'force', requestId: racing })),
    json<Restarted>(restart({ mode: 'force', requestId: racing })),
  ]);
  expect(both.map((b) => b.repeated).sort()).toEqual([false, true]);
  expect(both.map((b) => b.generation)).toEqual([applied.generation + 1, applied.generation + 1]);
  expect(await state()).toMatchObject({ generation: applied.generation + 1, replicas: 2, rollout: { updated: 2 } });
});

test('wedged processors hold a job each and stall a graceful restart; a force restart recovers every job', async () => {
  const s0 = await state();
  const before = await runs();
  const failedBefore = await env.redis.llen(env.queue.failed);
  expect(await (await admin('/faults', { wedged: true })).json()).toEqual({ wedged: 2, errorRate: 0 });
  // The probe is the oldest job, so one of the wedged processors takes it.
  const probeId = `wedge-${randomUUID()}`;
  expect((await post('/probes', { probeId })).status).toBe(202);
  await enqueue(9);
  await eventually(async () => (await processing()) === 2, 5000, 'both processors to take a job');
  expect(await pending()).toBe(8);
  expect(await (await fetch(`${env.demo.url}/probes/${probeId}`)).json()).toEqual({ probeId, status: 'processing' });
  expect(await state()).toMatchObject({ replicas: 2, busy: 2, wedged: 2 });
  expect(await (await fetch(`${env.demo.url}/metrics`)).text()).toMatch(/^reports_workers_wedged 2$/m);

  const graceful = randomUUID();
  const started = await restart({ mode: 'graceful', requestId: graceful });
  expect(started.status).toBe(202);
  const stalled = s0.generation + 1;
  expect(await started.json()).toMatchObject({ generation: stalled, repeated: false });
  // The first old processor never exits, so the rollout stays where it is and nothing is consumed.
  await sleep(1500);
  expect(await state()).toMatchObject({ generation: stalled, wedged: 2, rollout: { status: 'in-progress', generation: stalled, updated: 0, total: 2 } });
  expect(await pending()).toBe(8);
  expect(await processing()).toBe(2);
  expect(await runs()).toBe(before);

  // Clearing the fault does not un-wedge anyone.
  expect(await (await admin('/faults', { wedged: false })).json()).toEqual({ wedged: 2, errorRate: 0 });

  const force = randomUUID();
  const killed = await restart({ mode: 'force', requestId: force });
  expect(killed.status).toBe(200);
  expect(await killed.json()).toEqual({ mode: 'force', requestId: force, generation: stalled + 1, replicas: 2, killed: 2, repeated: false });
  await eventually(drained, 15_000, 'the queue to drain after the force restart');
  expect(await runs()).toBe(before + 10);
  expect(await env.redis.llen(env.queue.failed)).toBe(failedBefore);
  expect(await (await fetch(`${env.demo.url}/probes/${probeId}`)).json()).toEqual({ probeId, status: 'done' });
  expect(await state()).toMatchObject({
    replicas: 2,
    busy: 0,
    generation: stalled + 1,
    wedged: 0,
    rollout: { status: 'complete', generation: stalled + 1, updated: 2, total: 2 },
  });
  const metrics = await (await fetch(`${env.demo.url}/metrics`)).text();
  expect(metrics).toMatch(/^reports_workers_wedged 0$/m);
  expect(metrics).toMatch(new RegExp(`^reports_worker_generation ${stalled + 1}$`, 'm'));
});

test('a second graceful restart supersedes a stalled one: the freed slot gets a new processor, the wedged one still blocks', async () => {
  const before = await runs();
  const s0 = await state();
  expect(await (await admin('/faults', { wedged: true })).json()).toEqual({ wedged: 2, errorRate: 0 });
  await enqueue(2);
  await eventually(async () => (await processing()) === 2, 5000, 'both processors to take a job');
  await restart({ mode: 'graceful', requestId: randomUUID() });
  await admin('/faults', { wedged: false });
  const second = await json<Restarted>(restart({ mode: 'graceful', requestId: randomUUID() }));
  expect(second.generation).toBe(s0.generation + 2);
  // The first rollout had taken one processor out; the second fills that slot, then waits on the other.
  await eventually(async () => (await state()).rollout.updated === 1, 5000, 'one new processor');
  expect(await state()).toMatchObject({ generation: second.generation, wedged: 2, rollout: { status: 'in-progress', updated: 1, total: 2 } });
  await enqueue(3);
  await eventually(async () => (await runs()) === before + 3, 10_000, 'the new processor to do the new jobs');
  expect(await processing()).toBe(2);

  await restart({ mode: 'force', requestId: randomUUID() });
  await eventually(drained, 15_000, 'the queue to drain');
  expect(await runs()).toBe(before + 5);
  expect(await state()).toMatchObject({ wedged: 0, rollout: { status: 'complete', updated: 2, total: 2 } });
});

test('scaling down never hangs on a wedged processor: it answers within ~5 s with the ones still stopping', async () => {
  const before = await runs();
  expect(await (await admin('/faults', { wedged: true })).json()).toEqual({ wedged: 2, errorRate: 0 });
  await enqueue(3);
  await eventually(async () => (await processing()) === 2, 5000, 'both processors to take a job');
  const t0 = Date.now();
  const res = await admin('/workers', { replicas: 0 });
  const took = Date.now() - t0;
  expect(await res.json()).toEqual({ previous: 2, replicas: 0, stopping: 2 });
  expect(took).toBeLessThan(6500);
  expect(await state()).toMatchObject({ replicas: 0, wedged: 2, rollout: { updated: 0, total: 0 } });

  // Killing them with nothing desired hands every job back and starts nothing.
  expect(await (await restart({ mode: 'force', requestId: randomUUID() })).json()).toMatchObject({ replicas: 0, killed: 2 });
  expect(await processing()).toBe(0);
  expect(await pending()).toBe(3);
  expect(await state()).toMatchObject({ replicas: 0, busy: 0, wedged: 0 });
  await admin('/faults', { wedged: false });
  expect(await (await admin('/workers', { replicas: 2 })).json()).toEqual({ previous: 0, replicas: 2, stopping: 0 });
  await eventually(drained, 15_000, 'the queue to drain');
  expect(await runs()).toBe(before + 3);
});

test('platform state survives a restart of the service; closing it kills wedged processors and keeps their jobs', async () => {
  const stateKey = `rbt:${env.id}:platform-restart`;
  // Its own queue: the default one may belong to a running local stack.
  const queue = { pending: `rbt:${env.id}:restart_pending`, processing: `rbt:${env.id}:restart_processing`, failed: `rbt:${env.id}:restart_failed` };
  const opts = {
    port: 0,
    pgUrl: pgUrl(env.dbName),
    redisUrl: redisUrl(),
    mongoUrl,
    mongoDb: env.dbName,
    adminToken: randomUUID(),
    stateKey,
    queue,
    seed: false,
  };
  const call = (url: string, method: string, path: string, body: unknown): Promise<Response> =>
    fetch(`${url}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${opts.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const a = await startDemo({ ...opts, initialReplicas: 1 });
  await call(a.url, 'PUT', '/workers', { replicas: 3 });
  await call(a.url, 'POST', '/workers/restart', { mode: 'force', requestId: randomUUID() });
  expect(a.generation()).toBe(2);
  await call(a.url, 'PUT', '/faults', { wedged: true });
  await env.redis.lpush(queue.pending, ...['a', 'b', 'c'].map((id) => JSON.stringify({ id, reportId: 1 })));
  await eventually(async () => (await env.redis.llen(queue.processing)) === 3, 5000, 'three stuck jobs');
  const t0 = Date.now();
  await a.close();
  expect(Date.now() - t0).toBeLessThan(3000);
  expect(await env.redis.llen(queue.processing)).toBe(0);
  expect(await env.redis.llen(queue.pending)).toBe(3);

  const before = await runs();
  const b = await startDemo({ ...opts, initialReplicas: 1 });
  try {
    expect(b.replicas()).toBe(3);
    expect(b.generation()).toBe(2);
    await eventually(async () => (await env.redis.llen(queue.pending)) + (await env.redis.llen(queue.processing)) === 0, 10_000, 'the stuck jobs to be done');
    expect(await runs()).toBe(before + 3);
  } finally {
    await b.close();
  }
});

test('fault injection: errorRate answers 500 to exactly that share of report requests, and 0 turns it off', async () => {
  const faults = (body: unknown) =>
    fetch(`${env.demo.url}/admin/faults`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  expect((await faults({ errorRate: 1.5 })).status).toBe(400);
  expect((await faults({})).status).toBe(400);
  expect(await (await faults({ errorRate: 0.25 })).json()).toMatchObject({ errorRate: 0.25 });
  const codes: number[] = [];
  for (let i = 0; i < 20; i++) {
    codes.push((await fetch(`${env.demo.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status);
  }
  expect(codes.filter((c) => c === 500)).toHaveLength(5);
  expect(codes.filter((c) => c === 202)).toHaveLength(15);
  await faults({ errorRate: 0 });
  expect((await fetch(`${env.demo.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(202);
});
