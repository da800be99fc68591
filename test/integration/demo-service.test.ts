// The demo reports service is a fixture with real behaviour: runbooks rely on it, so it is tested too.
import { randomUUID } from 'node:crypto';
import { startDemo } from '../../demo/server';
import { createTestEnv, eventually, mongoUrl, pgUrl, redisUrl, type TestEnv } from '../helpers/env';

let env: TestEnv;
let token: string;
beforeAll(async () => {
  env = await createTestEnv();
  token = (env.rawConfig.services.reports!.platform as { token: string }).token;
});
afterAll(async () => env?.cleanup());

const admin = (path: string, body?: unknown, auth = `Bearer ${token}`): Promise<Response> =>
  fetch(`${env.demo.url}/admin${path}`, {
    method: body === undefined ? 'GET' : 'PUT',
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const runs = async (): Promise<number> => Number((await env.pool.query('SELECT count(*) FROM report_runs')).rows[0].count);

test('scaling processors to 0 really stops consumption; scaling up drains the queue into Postgres', async () => {
  expect(await (await admin('/workers', { replicas: 0 })).json()).toEqual({ previous: 2, replicas: 0 });
  const before = await runs();
  for (let i = 0; i < 20; i++) {
    expect((await fetch(`${env.demo.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reportId: 1 + i }) })).status).toBe(202);
  }
  await new Promise((r) => setTimeout(r, 1500));
  expect(await env.redis.llen(env.queue.pending)).toBe(20);
  expect(await (await admin('/workers', { replicas: 2 })).json()).toEqual({ previous: 0, replicas: 2 });
  await eventually(async () => (await env.redis.llen(env.queue.pending)) === 0 && (await env.redis.llen(env.queue.processing)) === 0, 15_000, 'the queue to drain');
  expect(await runs()).toBe(before + 20);
});

test('maintenance mode refuses new jobs with 503 and shows in /health; a failing job lands in the failed list', async () => {
  await admin('/maintenance', { enabled: true });
  const refused = await fetch(`${env.demo.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(refused.status).toBe(503);
  expect(await (await fetch(`${env.demo.url}/health`)).json()).toMatchObject({ status: 'maintenance', checks: { postgres: 'ok', redis: 'ok', mongo: 'ok' } });
  await admin('/maintenance', { enabled: false });
  await fetch(`${env.demo.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fail: true }) });
  await eventually(async () => (await env.redis.llen(env.queue.failed)) === 1, 10_000, 'the failed job');
});

test('the admin API needs the bearer token and validates its input', async () => {
  expect((await admin('/state', undefined, 'Bearer wrong')).status).toBe(401);
  expect((await admin('/state', undefined, '')).status).toBe(401);
  // An encoded path reaches the same route and must meet the same check.
  expect((await fetch(`${env.demo.url}/%61dmin/state`)).status).toBe(401);
  expect((await admin('/workers', { replicas: -1 })).status).toBe(400);
  expect((await admin('/workers', { replicas: 2, extra: 1 })).status).toBe(400);
});

test('platform state survives a restart of the service', async () => {
  const stateKey = `rbt:${env.id}:platform-restart`;
  const opts = { port: 0, pgUrl: pgUrl(env.dbName), redisUrl: redisUrl(), mongoUrl, mongoDb: env.dbName, adminToken: randomUUID(), stateKey, seed: false };
  const a = await startDemo({ ...opts, initialReplicas: 1 });
  await fetch(`${a.url}/admin/workers`, { method: 'PUT', headers: { authorization: `Bearer ${opts.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ replicas: 3 }) });
  await a.close();
  const b = await startDemo({ ...opts, initialReplicas: 1 });
  try {
    expect(b.replicas()).toBe(3);
  } finally {
    await b.close();
  }
});
