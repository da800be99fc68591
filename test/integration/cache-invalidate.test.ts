// The cache-invalidate runbook against the real Redis: a key space with look-alike names (users 42, 420,
// 4, 142, 42x, a key "<prefix>42" without the colon, keys outside the prefix, several types, a key that is
// not UTF-8, a protected key matching the pattern) must lose exactly the keys asked for, compared as full
// key sets read with SCAN. Thresholds and force, refusals of bad input, the dry run, TTL hygiene, the
// hit-rate check with a known mix of lookups, a forced run outside local behind an approval, and the
// unlink activity run on its own in a mock activity context (resume from its heartbeat).
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { globToRegExp } from '../../activities/cache/glob';
import { castVote } from '../../client/runbooks';
import { createCacheInvalidateActivities, type InvalidateResult } from '../../activities/cache/invalidate';
import type { CacheInvalidateInput, CacheInvalidateResult } from '../../workflows/cache-invalidate/contract';
import { createTestEnv, eventually, workflowId, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { failureOf, gateOpen, startRun, type RunHandle } from '../helpers/runs';

let env: TestEnv;
/** The cache prefix of this env: rbt:<id>:analytics: */
let P: string;
/** Everything this env writes starts with this (and is dropped by cleanup). */
let ROOT: string;
const MAX = 50;

beforeAll(async () => {
  env = await createTestEnv({
    configure: (raw) => {
      const cache = raw.services.reports!.cache!;
      cache.maxInvalidate = MAX;
      // A key under the prefix that invalidation must never touch, whatever the pattern.
      cache.protect = [...(cache.protect ?? []), `${cache.prefix}*:pinned`];
      // The same service and cache seen as a staging deployment: a forced run there needs an approval.
      raw.services['reports-staging'] = { ...raw.services.reports!, environment: 'staging' };
    },
  });
  P = env.config.services.reports!.cache!.prefix;
  ROOT = `rbt:${env.id}:`;
  await env.startWorker();
});

afterAll(async () => {
  await env?.cleanup();
});

const input = (o: Partial<CacheInvalidateInput>): CacheInvalidateInput => ({ service: 'reports', requestedBy: 'bob', reason: 'test', ...o });
const start = (i: CacheInvalidateInput): Promise<RunHandle<CacheInvalidateResult>> =>
  startRun<CacheInvalidateResult>(env, 'cacheInvalidate', i, workflowId('cache-invalidate'));

/** Every key of this env, read with SCAN as bytes (latin1: one char per byte, so non-UTF-8 keys compare exactly). */
async function keySet(match = `${ROOT}*`): Promise<Set<string>> {
  const out = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await env.redis.scanBuffer(cursor, 'MATCH', match, 'COUNT', 500);
    cursor = next.toString();
    for (const k of keys) out.add(k.toString('latin1'));
  } while (cursor !== '0');
  return out;
}

const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
const sorted = (s: Iterable<string>): string[] => [...s].sort();

/** A user's cached metrics in four Redis types, plus a key that is not valid UTF-8. */
async function userKeys(user: string): Promise<string[]> {
  const k = (m: string): string => `${P}${user}:${m}`;
  await env.redis.set(k('task_totals'), '{"total":3}');
  await env.redis.hset(k('completion_rate'), { rate: '0.5', at: '2026-11-26' });
  await env.redis.zadd(k('priority_distribution'), 1, 'low', 2, 'high');
  await env.redis.rpush(k('status_distribution'), 'open', 'done');
  const raw = Buffer.concat([Buffer.from(`${P}${user}:`), Buffer.from([0xff, 0xfe, 0x41])]);
  await env.redis.set(raw, 'bytes');
  return [k('task_totals'), k('completion_rate'), k('priority_distribution'), k('status_distribution')].map(latin1).concat(raw.toString('latin1'));
}

describe('invalidation touches only the keys asked for', () => {
  let before: Set<string>;
  const doomed: string[] = [];

  beforeAll(async () => {
    for (const u of ['420', '4', '42x', '1420']) await userKeys(u);
    doomed.push(...(await userKeys('42')), ...(await userKeys('142')));
    await env.redis.set(`${P}42`, 'no colon: not a key of user 42');
    await env.redis.set(`${P}42:pinned`, 'protected, and matches users: ["42"]');
    await env.redis.set(`${ROOT}other:42:task_totals`, 'outside the prefix');
    await env.redis.set(`${ROOT}analytics42:task_totals`, 'outside the prefix (no colon after analytics)');
    await env.redis.set(`${ROOT}platform`, 'protected by the shipped protect list');
    before = await keySet();
  });

  test("Redis's SCAN MATCH and the protect matcher agree on every pattern", async () => {
    const all = sorted(before);
    const patterns = [
      `${P}4*`,
      `${P}4?:*`,
      `${P}[14]2:*`,
      `${P}[^1]42:*`,
      `${P}42[0-9x]:*`,
      `${P}4[2-0]*`,
      `${P}42\\:*`,
      `${P}*:pinned`,
      `${P}42:[`,
      `${P}4[]*`,
      `${P}4[^]*`,
      `${P}42:??A`,
      `${ROOT}*42*`,
      `${ROOT}analytics?42*`,
    ];
    for (const pattern of patterns) {
      const re = globToRegExp(pattern, { bytes: true });
      expect({ pattern, keys: sorted(await keySet(pattern)) }).toEqual({ pattern, keys: all.filter((k) => re.test(k)) });
    }
    // The comparison is not vacuous: some patterns match, some do not.
    expect((await keySet(`${P}4?:*`)).size).toBeGreaterThan(0);
  });

  test('users ["42"] and a pattern for user 142: exactly their keys go, the protected one stays', async () => {
    const h = await start(input({ users: ['42'], pattern: `${P}14?:*`, batchSize: 3 }));
    const r = await h.result();
    expect(r.outcome).toBe('completed');
    expect(sorted(await keySet())).toEqual(sorted([...before].filter((k) => !doomed.includes(k))));
    expect(await env.redis.get(`${P}42:pinned`)).toBe('protected, and matches users: ["42"]');
    expect(r.patterns).toEqual([
      expect.objectContaining({ pattern: `${P}14?:*`, matched: 5, protected: 0, unlinked: 5 }),
      expect.objectContaining({ pattern: `${P}42:*`, matched: 6, protected: 1, unlinked: 5 }),
    ]);
    expect(r.unlink).toMatchObject({ unlinked: 10, protectedSkipped: 1 });
    expect(r.plan.find((s) => s.id === 'unlink')?.title).toContain(`unlink 5 keys matching "${P}42:*" (1 protected, left alone)`);
    expect(r.plan.map((s) => s.id)).toEqual(['lock', 'unlink', 'report']);
    await saveHistoryIfRecording('cache-invalidate-completed', h);
  });
});

describe('thresholds, force and refusals', () => {
  const bulk = (i: number): string => `${P}bulk${i}:task_totals`;

  beforeAll(async () => {
    const p = env.redis.pipeline();
    for (let i = 0; i < MAX + 10; i++) p.set(bulk(i), String(i));
    await p.exec();
  });

  test('a pattern over cache.maxInvalidate is refused with the count and unlinks nothing; with force it unlinks all', async () => {
    const keys = await keySet();
    const f = await failureOf(await start(input({ pattern: `${P}bulk*` })));
    expect(f.type).toBe('InvalidInputError');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toBe(
      `invalid cacheInvalidate input: pattern: pattern "${P}bulk*" matches ${MAX + 10} keys, over cache.maxInvalidate ${MAX}: set force: true to unlink them`,
    );
    expect(await keySet()).toEqual(keys);

    const r = await (await start(input({ pattern: `${P}bulk*`, force: true, batchSize: 7 }))).result();
    expect(r.outcome).toBe('completed');
    expect(r.approval.status).toBe('not-requested');
    expect(r.unlink).toMatchObject({ unlinked: MAX + 10, protectedSkipped: 0 });
    expect(r.unlink!.scanCalls).toBeGreaterThan(1);
    expect(sorted(await keySet())).toEqual(sorted([...keys].filter((k) => !k.startsWith(`${P}bulk`))));
  });

  // Functions: the env (and its prefix) exists only once the tests run.
  test.each<[string, () => Partial<CacheInvalidateInput>, () => string]>([
    ['a bare *', () => ({ pattern: '*' }), () => 'invalid cacheInvalidate input: pattern: "*" starts with a glob character'],
    [
      'a pattern outside the cache prefix',
      () => ({ pattern: `${ROOT}other:*` }),
      () => `pattern: pattern "${ROOT}other:*" can match keys outside the cache prefix "${P}"`,
    ],
    ['a pattern that could leave the prefix', () => ({ pattern: `${P.slice(0, -1)}?*` }), () => 'can match keys outside the cache prefix'],
    ['batchSize 0', () => ({ users: ['420'], batchSize: 0 }), () => 'batchSize: Too small'],
    ['a negative warnBelow', () => ({ hitRateCheck: true, warnBelow: -0.5 }), () => 'warnBelow: Too small'],
    ['warnBelow under the configured actBelow', () => ({ hitRateCheck: true, warnBelow: 0.5 }), () => 'warnBelow: warnBelow 0.5 is below actBelow 0.7'],
    ['users with glob characters', () => ({ users: ['42*'] }), () => 'users[0]: must be a user id'],
    ['an unknown service', () => ({ service: 'nope', users: ['420'] }), () => 'service "nope" is not configured'],
    ['nothing to do', () => ({}), () => 'nothing to do'],
  ])('refused, nothing changes: %s', async (_what, o, message) => {
    const keys = await keySet();
    const f = await failureOf(await start(input(o())));
    expect(f.type).toBe('InvalidInputError');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain(message());
    expect(await keySet()).toEqual(keys);
  });

  test('the dry run reports the count per pattern and changes nothing', async () => {
    await env.redis.set(`${P}420:pinned`, 'protected');
    const keys = await keySet();
    const r = await (await start(input({ users: ['420', '4'], dryRun: true }))).result();
    expect(r.outcome).toBe('dry-run');
    expect(r.patterns).toEqual([
      expect.objectContaining({ pattern: `${P}420:*`, matched: 6, protected: 1 }),
      expect.objectContaining({ pattern: `${P}4:*`, matched: 5, protected: 0 }),
    ]);
    const unlink = r.plan.find((s) => s.id === 'unlink')!;
    expect(unlink.title).toContain(`unlink 5 keys matching "${P}420:*" (1 protected, left alone); unlink 5 keys matching "${P}4:*"`);
    expect(unlink.status).toBe('skipped');
    expect(r.patterns.every((p) => p.unlinked === undefined)).toBe(true);
    expect(await keySet()).toEqual(keys);
  });
});

test('TTL hygiene: keys under the prefix without a TTL get one; TTLs, keys outside and protected keys stay', async () => {
  const bare = [`${P}ttl1:task_totals`, `${P}ttl2:completion_rate`];
  await env.redis.set(bare[0]!, 'x');
  await env.redis.hset(bare[1]!, { a: '1' });
  const longTtlMs = 50 * 3600_000;
  await env.redis.set(`${P}ttl3:task_totals`, 'x', 'PX', longTtlMs);
  await env.redis.set(`${ROOT}other:ttl4`, 'outside');
  await env.redis.set(`${P}ttl5:pinned`, 'protected');
  const protectedKey = globToRegExp(`${P}*:pinned`);
  // What the run should fix: every non-protected key under the prefix that has no TTL now (earlier tests' keys too).
  const expected: string[] = [];
  for (const k of await keySet(`${P}*`)) if (!protectedKey.test(k) && (await env.redis.pttl(Buffer.from(k, 'latin1'))) === -1) expected.push(k);
  expect(expected).toEqual(expect.arrayContaining(bare));

  const r = await (await start(input({ ttlHygiene: true, ttl: '2h' }))).result();
  expect(r.outcome).toBe('completed');
  expect(r.ttl).toMatchObject({ seconds: 7200, fixed: expected.length });
  for (const k of expected) {
    const ttl = await env.redis.pttl(Buffer.from(k, 'latin1'));
    expect({ k, ok: ttl > 0 && ttl <= 7200_000 }).toEqual({ k, ok: true });
  }
  // The key that had a TTL keeps its own (50h), not the 2h the run sets.
  const kept = await env.redis.pttl(`${P}ttl3:task_totals`);
  expect(kept).toBeGreaterThan(7200_000);
  expect(kept).toBeLessThanOrEqual(longTtlMs);
  expect(await env.redis.pttl(`${ROOT}other:ttl4`)).toBe(-1);
  expect(await env.redis.pttl(`${P}ttl5:pinned`)).toBe(-1);
});

test('hit-rate check: a known mix of hits and misses gives warn for one run and act for another', async () => {
  await env.redis.set(`${P}hr:hit`, '1');
  // Two runs over the same traffic (25% hits, other clients of the shared Redis add a little noise):
  // thresholds far from 25% on both sides, so the outcome does not depend on the noise.
  const warnRun = await start(input({ hitRateCheck: true, hitRateWindow: '3s', warnBelow: 0.95, actBelow: 0.05 }));
  const actRun = await start(input({ hitRateCheck: true, hitRateWindow: '3s', warnBelow: 0.9, actBelow: 0.5 }));
  let done = false;
  const results = Promise.all([warnRun.result(), actRun.result()]).finally(() => (done = true));
  // Lookups interleaved 1 hit : 3 misses, so any stretch of them the window counts has that mix.
  while (!done) {
    const p = env.redis.pipeline();
    for (let i = 0; i < 200; i++) p.get(i % 4 === 0 ? `${P}hr:hit` : `${P}hr:miss`);
    await p.exec();
  }
  const [warn, act] = await results;
  for (const r of [warn, act]) {
    expect(r.hitRate!.rate).not.toBeNull();
    expect(r.hitRate!.hits + r.hitRate!.misses).toBeGreaterThan(1000);
    expect(r.outcome).toBe('completed-with-warnings');
    expect(r.warnings.join('\n')).toMatch(/hit rate \d+\.\d% \([\d,]+ hits, [\d,]+ misses\) is below/);
  }
  expect(warn.hitRate).toMatchObject({ status: 'warn', warnBelow: 0.95, actBelow: 0.05 });
  expect(act.hitRate).toMatchObject({ status: 'act', warnBelow: 0.9, actBelow: 0.5 });
  const told = await eventually(async () => env.notifications.filter((n) => n.body.workflowId === actRun.workflowId && n.body.key.endsWith(':hit-rate-low')));
  expect(told[0]!.body).toMatchObject({ audience: 'stakeholders', severity: 'warning' });
  expect(told[0]!.body.text).toContain(`echo '{"service":"reports","requestedBy":"bob",`);
  expect(told[0]!.body.text).toContain(`| npm run runbook -- start cache-warm --input -`);
  expect(env.notifications.filter((n) => n.body.workflowId === warnRun.workflowId && n.body.key.endsWith(':hit-rate-low'))).toEqual([]);
});

test('a forced run outside local waits for one sre-lead approval, then unlinks', async () => {
  await env.redis.set(`${P}stg:task_totals`, 'x');
  const h = await startRun<CacheInvalidateResult>(
    env,
    'cacheInvalidate',
    input({ service: 'reports-staging', pattern: `${P}stg*`, force: true }),
    workflowId('cache-invalidate'),
  );
  await gateOpen(h);
  expect(await env.redis.exists(`${P}stg:task_totals`)).toBe(1);
  // A dba is not enough: the gate wants an sre-lead.
  await expect(castVote(env.client, h.workflowId, { approver: 'erin', decision: 'approve' })).rejects.toThrow(
    '"erin" has roles [dba]; this gate needs one of [sre-lead]',
  );
  expect(await env.redis.exists(`${P}stg:task_totals`)).toBe(1);
  await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect(r.approval).toMatchObject({ status: 'approved', policy: { quorum: 1, approverRoles: ['sre-lead'] } });
  expect(r.unlink?.unlinked).toBe(1);
  expect(await env.redis.exists(`${P}stg:task_totals`)).toBe(0);
});

describe('invalidateKeys as a plain function (benchmarks call it in a mock activity context)', () => {
  const logger = new DefaultLogger('WARN');
  const invalidate = () => {
    const acts = createCacheInvalidateActivities(env.deps);
    return (i: Parameters<typeof acts.invalidateKeys>[0]) => acts.invalidateKeys(i);
  };
  const keysOf = async (tag: string, n: number): Promise<string> => {
    const p = env.redis.pipeline();
    for (let i = 0; i < n; i++) p.set(`${P}${tag}${i}:task_totals`, 'x');
    await p.exec();
    return `${P}${tag}*`;
  };

  test('unlinks in batches and heartbeats its cursor', async () => {
    const pattern = await keysOf('mock', 30);
    const mock = new MockActivityEnvironment({}, { logger });
    const beats: unknown[] = [];
    mock.on('heartbeat', (d: unknown) => beats.push(d));
    const r: InvalidateResult = await mock.run(invalidate(), { service: 'reports', patterns: [pattern], batchSize: 4, runKey: 'mock-1' });
    expect(r).toMatchObject({ unlinked: 30, protectedSkipped: 0, resumed: false });
    expect(r.keysPerSecond).toBeGreaterThan(0);
    expect((await keySet(pattern)).size).toBe(0);
    expect(beats[0]).toMatchObject({ runKey: 'mock-1', patternIndex: 0, cursor: '0' });
  });

  test('a retry resumes from the heartbeat of the same run, and ignores one of another run', async () => {
    const a = await keysOf('resumeA', 8);
    const b = await keysOf('resumeB', 8);
    const heartbeatDetails = {
      runKey: 'mock-2',
      patternIndex: 1,
      cursor: '0',
      scanCalls: 3,
      perPattern: [
        { pattern: a, unlinked: 8, protectedSkipped: 0 },
        { pattern: b, unlinked: 0, protectedSkipped: 0 },
      ],
    };
    const resumed = await new MockActivityEnvironment({ heartbeatDetails, attempt: 2 }, { logger }).run(invalidate(), {
      service: 'reports',
      patterns: [a, b],
      batchSize: 100,
      runKey: 'mock-2',
    });
    // Pattern a counted as done by the earlier attempt: its keys (still there) were not scanned again.
    expect(resumed).toMatchObject({ resumed: true, unlinked: 16, perPattern: [{ unlinked: 8 }, { unlinked: 8 }] });
    expect((await keySet(a)).size).toBe(8);
    expect((await keySet(b)).size).toBe(0);

    const fresh = await new MockActivityEnvironment({ heartbeatDetails, attempt: 2 }, { logger }).run(invalidate(), {
      service: 'reports',
      patterns: [a, b],
      batchSize: 100,
      runKey: 'another-run',
    });
    expect(fresh).toMatchObject({ resumed: false, unlinked: 8 });
    expect((await keySet(a)).size).toBe(0);
  });

  test('planInvalidation and ttlHygiene run outside any activity context too', async () => {
    const pattern = await keysOf('plain', 3);
    const acts = createCacheInvalidateActivities(env.deps);
    const plan = await acts.planInvalidation({ service: 'reports', patterns: [pattern], users: ['nobody'] });
    expect(plan.patterns).toEqual([
      expect.objectContaining({ pattern, matched: 3, protected: 0, insidePrefix: true }),
      expect.objectContaining({ pattern: `${P}nobody:*`, matched: 0, insidePrefix: true }),
    ]);
    expect(plan).toMatchObject({ prefix: P, maxInvalidate: MAX, environment: 'local', ttl: '7h' });
    const t = await acts.ttlHygiene({ service: 'reports', ttlSeconds: 60, batchSize: 2 });
    expect(t.fixed).toBeGreaterThanOrEqual(3);
    expect(await env.redis.ttl(`${P}plain0:task_totals`)).toBeGreaterThan(0);
  });
});
