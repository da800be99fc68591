// The cache-warm runbook against the real stack: every active user's keys warmed with the values the test
// computes itself, the hit rate before and after, a worker SIGKILLed mid-warm (the retry skips the batches
// finished before the kill), an error budget blown by a Redis ACL that forbids part of the key space, and
// bad input refused before anything is written.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { defaultPayloadConverter } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Redis } from 'ioredis';
import { runbookByName } from '../../client/registry';
import { cacheKey, computeUserMetrics, decodeCached, type CachedValue, type CacheMetric } from '../../activities/cache/metrics';
import { createCacheWarmActivities, type WarmProgress } from '../../activities/cache/warm';
import { HOST, PORTS } from '../../scripts/stack/paths';
import type { CacheWarmResult } from '../../workflows/cache-warm/contract';
import { plan } from '../../workflows/lib/progress';
import { createTestEnv, eventually, redisUrl, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { failureOf, startRun, type RunHandle } from '../helpers/runs';
import { exited, startWorkerProcess } from '../helpers/worker-process';

const METRICS: CacheMetric[] = ['task_totals', 'completion_rate', 'priority_distribution', 'status_distribution', 'productivity_score'];

let env: TestEnv;
let dir: string;
let prefix: string;
let aclPrefix: string;
const aclUser = `rbt-acl-${randomUUID().slice(0, 8)}`;
const aclPass = randomUUID();
const crashQueue = `test-crash-${randomUUID().slice(0, 8)}`;
const children: ChildProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv({
    configure: (raw) => {
      const reports = raw.services.reports!;
      aclPrefix = reports.cache!.prefix!.replace(/analytics:$/, 'acl:');
      // The same service, its cache written by a Redis user allowed only keys of users whose id starts with 1.
      raw.redis!['acl-redis'] = { url: `redis://${aclUser}:${aclPass}@${HOST}:${PORTS.redis}/0` };
      raw.services['reports-acl'] = {
        healthUrl: reports.healthUrl,
        platform: reports.platform,
        cache: { ...reports.cache!, redis: 'acl-redis', prefix: aclPrefix },
        postgres: ['reports-db'],
      };
    },
  });
  prefix = env.config.services.reports!.cache!.prefix;
  await env.redis.call('ACL', 'SETUSER', aclUser, 'on', `>${aclPass}`, 'resetkeys', `~${aclPrefix}1*`, 'resetchannels', '+@all');
  dir = mkdtempSync(path.join(tmpdir(), 'rbt-cache-warm-'));
  await env.startWorker();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (env) {
    for await (const w of env.client.workflow.list({ query: `TaskQueue = "${crashQueue}" AND ExecutionStatus = "Running"` }))
      await env.client.workflow
        .getHandle(w.workflowId, w.runId)
        .terminate('test cleanup')
        .catch(() => undefined);
  }
  await env?.cleanup();
  // After cleanup: deleting the user first would drop the worker's connection, which then retries forever.
  const admin = new Redis(redisUrl());
  await admin.call('ACL', 'DELUSER', aclUser).catch(() => undefined);
  admin.disconnect();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every key under `p` (SCAN, never KEYS). */
async function keysUnder(p: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await env.redis.scan(cursor, 'MATCH', `${p}*`, 'COUNT', 1000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return out;
}

async function clearUnder(p: string): Promise<void> {
  const keys = await keysUnder(p);
  for (let i = 0; i < keys.length; i += 500) await env.redis.unlink(...keys.slice(i, i + 500));
}

async function activeIds(since: string): Promise<string[]> {
  const { rows } = await env.pool.query<{ id: string }>('SELECT id::text AS id FROM app_users WHERE last_active_at >= $1 ORDER BY app_users.id', [since]);
  return rows.map((r) => r.id);
}

async function readValues(keys: string[]): Promise<Map<string, CachedValue>> {
  const out = new Map<string, CachedValue>();
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    const values = await env.redis.mget(...chunk);
    chunk.forEach((k, j) => {
      const c = decodeCached(values[j] ?? null);
      if (c) out.set(k, c);
    });
  }
  return out;
}

async function demoCounter(name: string): Promise<number> {
  const text = await (await fetch(`${env.demo.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const warmInput = (over: Record<string, unknown> = {}) => ({ service: 'reports', requestedBy: 'bob', hitRateWindow: '0s', ...over });

test("a run warms every active user's keys with the values computed from Postgres; inactive users get none; the demo then answers from the cache", async () => {
  const h = await startRun<CacheWarmResult>(env, 'cacheWarm', warmInput({ batchSize: 50, concurrency: 4 }));
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  const runKey = (await h.describe()).runId; // no continue-as-new: the first run's id
  const ids = await activeIds(r.since!);
  const { rows: all } = await env.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM app_users');
  expect(ids.length).toBeGreaterThan(100);
  expect(ids.length).toBeLessThan(all[0]!.n);
  expect(r).toMatchObject({ users: ids.length, keys: ids.length * METRICS.length, errors: 0, batchesResumed: 0, batches: Math.ceil(ids.length / 50) });
  expect(r.verify).toMatchObject({ expected: ids.length * 5, present: ids.length * 5, missing: 0, withoutTtl: 0 });

  // Exactly the expected keys: none for inactive users, nothing else under the prefix.
  const expected = ids.flatMap((id) => METRICS.map((m) => cacheKey(prefix, id, m)));
  const found = await keysUnder(prefix);
  expect(found.sort()).toEqual([...expected].sort());

  // Every value equals what the test computes from Postgres as of the time stored with it; every key has a TTL.
  const values = await readValues(expected);
  expect(values.size).toBe(expected.length);
  const byAt = new Map<string, string[]>();
  for (const id of ids) {
    const at = values.get(cacheKey(prefix, id, 'task_totals'))!.at;
    byAt.set(at, [...(byAt.get(at) ?? []), id]);
  }
  for (const [at, users] of byAt) {
    const computed = await computeUserMetrics(env.pool, users, METRICS, new Date(at));
    for (const id of users)
      for (const m of METRICS) {
        const c = values.get(cacheKey(prefix, id, m))!;
        expect({ key: cacheKey(prefix, id, m), v: c.v, by: c.by, attempt: c.attempt }).toEqual({
          key: cacheKey(prefix, id, m),
          v: computed.get(id)![m],
          by: runKey,
          attempt: 1,
        });
      }
  }
  // And independently of the shared query: the task totals per user.
  const { rows: totals } = await env.pool.query<{ id: string; total: number; done: number }>(
    `SELECT user_id::text AS id, count(*)::int AS total, count(*) FILTER (WHERE status = 'done')::int AS done FROM user_tasks WHERE user_id = ANY($1::bigint[]) GROUP BY user_id`,
    [ids],
  );
  for (const t of totals) expect(values.get(cacheKey(prefix, t.id, 'task_totals'))!.v).toMatchObject({ total: t.total, done: t.done });
  const ttls = await Promise.all(expected.slice(0, 50).map((k) => env.redis.ttl(k)));
  for (const ttl of ttls) expect(ttl).toBeGreaterThan(6 * 3600);

  // The demo endpoint now answers from the cache: every metric a hit, the same values.
  const hitsBefore = await demoCounter('reports_cache_hits_total');
  const res = await fetch(`${env.demo.url}/users/${ids[0]}/analytics`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { metrics: Record<string, unknown>; cache: { hits: number; misses: number } };
  expect(body.cache).toEqual({ hits: 5, misses: 0 });
  expect(body.metrics.task_totals).toEqual(values.get(cacheKey(prefix, ids[0]!, 'task_totals'))!.v);
  expect(await demoCounter('reports_cache_hits_total')).toBe(hitsBefore + 5);

  const summary = runbookByName('cache-warm').summarize(r);
  expect(summary[0]).toContain(`${ids.length * 5} keys for ${ids.length} active users`);
  await saveHistoryIfRecording('cache-warm-completed', h);
});

test('hit rate: traffic to the demo endpoint shows a higher rate after warming than before', async () => {
  await clearUnder(prefix);
  const { rows } = await env.pool.query<{ id: string }>(
    "SELECT id::text AS id FROM app_users WHERE last_active_at >= now() - interval '7 days' ORDER BY app_users.id",
  );
  const ids = rows.map((r) => r.id);
  const h = await startRun<CacheWarmResult>(env, 'cacheWarm', warmInput({ hitRateWindow: '3s' }));
  const now: { phase: 'before' | 'after' | 'other' } = { phase: 'other' };
  let finished = false;
  const watcher = (async () => {
    while (!finished) {
      const steps = await h.query(plan).catch(() => []);
      const running = steps.find((s) => s.status === 'running')?.id;
      now.phase = running === 'hit-rate-before' ? 'before' : running === 'hit-rate-after' ? 'after' : 'other';
      await new Promise((res) => setTimeout(res, 100));
    }
  })();
  const done = h.result().finally(() => (finished = true));
  // Before: each user once (a first request misses every key and fills them). After: the warmed users again.
  let next = 0;
  let sent = { before: 0, after: 0 };
  while (!finished) {
    if (now.phase === 'before' && next < ids.length) {
      await fetch(`${env.demo.url}/users/${ids[next++]}/analytics`);
      sent = { ...sent, before: sent.before + 1 };
    } else if (now.phase === 'after') {
      await fetch(`${env.demo.url}/users/${ids[sent.after % ids.length]}/analytics`);
      sent = { ...sent, after: sent.after + 1 };
    } else await new Promise((res) => setTimeout(res, 20));
  }
  const r = await done;
  await watcher;
  expect(r.outcome).toBe('completed');
  expect(sent.before).toBeGreaterThan(0);
  expect(sent.after).toBeGreaterThan(0);
  expect(r.hitRates.before!.misses).toBeGreaterThan(0);
  expect(r.hitRateBefore).not.toBeNull();
  expect(r.hitRateAfter).not.toBeNull();
  expect(r.hitRateAfter!).toBeGreaterThan(r.hitRateBefore!);
});

test('bad input is refused naming the field, and nothing is written (a dry run writes nothing either)', async () => {
  await clearUnder(prefix);
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ batchSize: 0 }, /batchSize: must be at least 1/],
    [{ concurrency: -1 }, /concurrency: must be at least 1/],
    [{ metrics: ['task_totals', 'page_views'] }, /metrics\[1\]: must be one of task_totals, completion_rate/],
    [{ maxErrors: -1 }, /maxErrors: must be at least 0/],
  ];
  for (const [bad, message] of cases) {
    const input = warmInput(bad);
    const parsed = runbookByName('cache-warm').parse(input);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toMatch(message);
    const failure = await failureOf(await startRun(env, 'cacheWarm', input));
    expect(failure.message).toMatch(/^invalid cacheWarm input: /);
    expect(failure.message).toMatch(message);
    expect(failure.nonRetryable).toBe(true);
  }
  const dry = await (await startRun<CacheWarmResult>(env, 'cacheWarm', warmInput({ dryRun: true }))).result();
  expect(dry.outcome).toBe('dry-run');
  expect(dry.plan.map((s) => s.id)).toEqual(['lock', 'warm', 'verify', 'report']);
  expect(await keysUnder(prefix)).toEqual([]);
});

test('evening routine: refreshViews refreshes every materialized view (concurrently where a unique index allows); hitRate false skips the windows', async () => {
  await env.pool.query(`CREATE MATERIALIZED VIEW "Odd ""view""" AS SELECT 1 AS x`);
  const h = await startRun<CacheWarmResult>(env, 'cacheWarm', { service: 'reports', requestedBy: 'scheduler', refreshViews: true, hitRate: false });
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect(r.plan.map((s) => s.id)).toEqual(['lock', 'refresh-views', 'warm', 'verify', 'report']);
  expect(r.views!.map((v) => [v.view, v.concurrently]).sort()).toEqual([
    ['public.Odd "view"', false],
    ['public.report_daily_stats', true],
  ]);
  expect(r).toMatchObject({ hitRateBefore: null, hitRateAfter: null, hitRates: {}, errors: 0 });
  expect(r.verify!.missing).toBe(0);
});

test('error budget: writes refused by a Redis ACL (NOPERM) stop the warm early with the counts and samples', async () => {
  const h = await startRun(env, 'cacheWarm', warmInput({ service: 'reports-acl', maxErrors: 5, batchSize: 20, concurrency: 1 }));
  const failure = await failureOf(h);
  expect(failure.message).toMatch(/failed at warm: error budget exceeded: \d+ errors \(maxErrors 5\)/);
  expect(failure.message).toMatch(/NOPERM/);
  expect(failure.message).not.toContain(aclPass);
  const written = await keysUnder(aclPrefix);
  const ids = await activeIds(new Date(Date.now() - 7 * 86_400_000).toISOString());
  // Stopped after the first batch (its errors alone exceed the budget): of its 20 users, only the keys of
  // those whose id starts with 1 (allowed by the ACL) were written; no later batch ran.
  const allowed = ids.slice(0, 20).filter((id) => id.startsWith('1'));
  expect(allowed.length).toBeGreaterThan(0);
  expect(allowed.length).toBeLessThan(20 - 1);
  expect(written.sort()).toEqual(allowed.flatMap((id) => METRICS.map((m) => cacheKey(aclPrefix, id, m))).sort());
  expect(written.length).toBeLessThan(ids.length * METRICS.length);
  expect(failure.message).toContain(
    `${(20 - allowed.length) * 5} errors (maxErrors 5) after ${allowed.length * 5} keys written, 1 of ${Math.ceil(ids.length / 20)} batches done`,
  );
  // Not retried: a single attempt of the warm activity.
  const history = await h.fetchHistory();
  const warmStarts = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'warmCache');
  expect(warmStarts).toHaveLength(1);
  const started = history.events!.filter(
    (e) => e.activityTaskStartedEventAttributes && e.activityTaskStartedEventAttributes.scheduledEventId?.toString() === warmStarts[0]!.eventId?.toString(),
  );
  expect(started.map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([1]);
});

test('warmCache runs outside a worker: through MockActivityEnvironment (benchmarks) and as a plain call', async () => {
  await clearUnder(prefix);
  const since = new Date(Date.now() - 7 * 86_400_000).toISOString();
  const ids = await activeIds(since);
  const warm = createCacheWarmActivities(env.deps);
  const input = { service: 'reports', since, metrics: METRICS, batchSize: 100, concurrency: 2, maxErrors: 0, ttlSeconds: 60, runKey: 'mock' };
  const mock = new MockActivityEnvironment();
  const heartbeats: unknown[] = [];
  mock.on('heartbeat', (d: unknown) => heartbeats.push(d));
  const r = await mock.run((i: typeof input) => warm.warmCache(i), input);
  expect(r).toMatchObject({ users: ids.length, keys: ids.length * 5, errors: 0, batchesSkipped: 0, attempt: 1 });
  expect(heartbeats.length).toBeGreaterThan(0);
  const plain = await warm.warmCache({ ...input, runKey: 'plain' });
  expect(plain).toMatchObject({ users: ids.length, keys: ids.length * 5, errors: 0, attempt: 1 });
  expect(decodeCached(await env.redis.get(cacheKey(prefix, ids[0]!, 'task_totals')))).toMatchObject({ by: 'plain', attempt: 1 });
  expect(await env.redis.ttl(cacheKey(prefix, ids[0]!, 'task_totals'))).toBeLessThanOrEqual(60);
});

/** The warm activity's last heartbeat details as the server has them. */
async function warmProgress(h: RunHandle): Promise<WarmProgress | undefined> {
  const d = await h.describe();
  const a = d.raw.pendingActivities?.find((p) => p.activityType?.name === 'warmCache');
  const payload = a?.heartbeatDetails?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload<WarmProgress>(payload) : undefined;
}

test('SIGKILL of the worker mid-warm: a new worker finishes, batches finished before the kill are not rewritten', async () => {
  await clearUnder(prefix);
  // Enough active users that 10 at a time, one batch at a time, the warm is mid-way when the test acts.
  await env.pool.query(
    `INSERT INTO app_users (id, email, last_active_at) SELECT g, 'extra' || g || '@example.com', now() - interval '1 hour' FROM generate_series(100001, 103000) g`,
  );
  const crashEnv = { ...env, taskQueue: crashQueue };
  const first = await startWorkerProcess(crashEnv, dir);
  children.push(first.child);
  const h = await env.client.workflow.start<(i: unknown) => Promise<CacheWarmResult>>('cacheWarm', {
    taskQueue: crashQueue,
    workflowId: `cache-warm-crash-${randomUUID().slice(0, 8)}`,
    args: [warmInput({ batchSize: 10, concurrency: 1 })],
  });
  const ids = await activeIds(new Date(Date.now() - 7 * 86_400_000).toISOString());
  const batchOf = new Map(ids.map((id, i) => [id, Math.floor(i / 10)]));

  // Once batch 2 is written, hold the tasks table: the warm blocks in its next batch's query, so what it
  // finished before the kill is exactly what its heartbeats say.
  await eventually(async () => (await env.redis.exists(cacheKey(prefix, ids[29]!, 'productivity_score'))) === 1, 60_000, 'batch 2 to be written');
  const holder = await env.pool.connect();
  let progress: WarmProgress;
  try {
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE user_tasks IN ACCESS EXCLUSIVE MODE');
    progress = await eventually(
      async () => {
        const p = await warmProgress(h);
        return p && p.watermark + 1 + p.done.length >= 2 && p.keys === (await keysUnder(prefix)).length ? p : undefined;
      },
      60_000,
      'heartbeat details to show every batch written before the table was held',
    );
    first.child.kill('SIGKILL');
    expect(await exited(first.child)).toBeNull();
  } finally {
    await holder.query('ROLLBACK');
    holder.release();
  }
  expect(progress.done).toEqual([]); // concurrency 1: batches finish in order
  const finishedBatches = progress.watermark + 1;
  expect(finishedBatches).toBeLessThan(Math.ceil(ids.length / 10));

  const second = await startWorkerProcess(crashEnv, dir);
  children.push(second.child);
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect(r.batchesResumed).toBe(finishedBatches);
  expect(r.users).toBe(ids.length);
  expect(r.keys).toBe(ids.length * 5);
  expect(r.errors).toBe(0);

  const keys = await keysUnder(prefix);
  expect(keys).toHaveLength(ids.length * 5);
  const values = await readValues(keys);
  const attempts = { 1: 0, 2: 0 } as Record<number, number>;
  for (const id of ids)
    for (const m of METRICS) {
      const c = values.get(cacheKey(prefix, id, m))!;
      const wantAttempt = batchOf.get(id)! < finishedBatches ? 1 : 2;
      if (c.attempt !== wantAttempt) throw new Error(`${cacheKey(prefix, id, m)} was written by attempt ${c.attempt}, expected ${wantAttempt}`);
      attempts[c.attempt]!++;
    }
  expect(attempts[1]).toBe(progress.keys);
  expect(attempts[2]).toBe(ids.length * 5 - progress.keys);

  second.child.kill('SIGTERM');
  await exited(second.child);
});
