// The cache benches (npm run bench; BENCH_ONLY=cache), on a PRIVATE redis-server (2 M keys never touch the
// stack's Redis) and a private database on the stack's Postgres, each against a baseline in the same run:
//  12. warming throughput: warmCache (batches, one query per batch, SET EX by script) vs `redis-benchmark
//      -t set -P 64` (what the Redis itself takes) and vs the seed's loop (seed 002: 10 users at a time,
//      one query per user per metric, one SET per key, each awaited in turn)
//  13. invalidating 1 M of 2 M keys: invalidateKeys (SCAN + UNLINK in bounded batches) vs the seed's
//      `redis-cli --scan --pattern … | xargs redis-cli del`, with SLOWLOG and LATENCY for both (goal: no
//      command of ours over 5 ms; SLOWLOG records from 1 ms so the max shows even under the goal)
// Sizes: BENCH_CACHE_USERS (default 100000, ~5 tasks each), BENCH_INV_KEYS (default 2000000), rounds BENCH_CACHE_ROUNDS (3).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Redis } from 'ioredis';
import { Client as PgClient, Pool, escapeIdentifier } from 'pg';
import { createDeps, type Deps } from '../activities/deps';
import { createCacheInvalidateActivities } from '../activities/cache/invalidate';
import { cacheKey, computeUserMetrics, decodeCached, encodeCached, PRIORITY_WEIGHTS, type CacheMetric, type MetricValue } from '../activities/cache/metrics';
import { createCacheWarmActivities, SCRIPT_KEYS, setExMany } from '../activities/cache/warm';
import { parseConfig } from '../config/load';
import type { ConfigInput } from '../config/schema';
import { CACHE_METRICS } from '../config/schema';
import { HOST } from '../scripts/stack/paths';
import { freePort } from '../test/helpers/alerting';
import { eventually, pgUrl } from '../test/helpers/env';

const quiet = { logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } };

/** Runs an activity function as an activity (heartbeats go nowhere), like a worker would. */
export function asActivity<I, R>(fn: (input: I) => Promise<R>, input: I): Promise<R> {
  return new MockActivityEnvironment({}, quiet).run<[I], R, typeof fn>(fn, input);
}

export async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const fmt = (n: number): string => Math.round(n).toLocaleString('en');
export const label = (s: string): string => s.padEnd(34);
export const goal = (met: boolean): string => (met ? 'met' : 'MISSED');

/** Other work on the machine (2 cores) shows in the slowest commands: say how busy it was. */
export const loadLine = (before: number): string =>
  `${label('  load average (1 min)')} ${before.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end`;

/** Runs a program (argument array, no shell) and returns its exit code, stdout and stderr. */
export async function exec(cmd: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, out, err };
}

export interface PrivateRedis {
  port: number;
  url: string;
  /** A client for the bench's own commands (loading, SLOWLOG, checks). */
  redis: Redis;
  stop(): Promise<void>;
}

/** A throw-away redis-server on a free loopback port: no persistence, no password (loopback only). */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'rb-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  const redis = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    await eventually(async () => (await redis.ping()) === 'PONG', 10_000, `redis-server on port ${port}`);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    port,
    url: `redis://${HOST}:${port}/0`,
    redis,
    async stop() {
      redis.disconnect();
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A private database on the stack's Postgres (dropped by drop()). */
export async function privateDatabase(tag: string): Promise<{ name: string; url: string; pool: Pool; drop(): Promise<void> }> {
  const name = `bench_${tag}_${Date.now().toString(36)}`;
  const admin = async (sql: string) => {
    const c = new PgClient({ connectionString: pgUrl('postgres') });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${escapeIdentifier(name)}`);
  const pool = new Pool({ connectionString: pgUrl(name), max: 2 });
  return {
    name,
    url: pgUrl(name),
    pool,
    async drop() {
      await pool.end();
      await admin(`DROP DATABASE ${escapeIdentifier(name)} WITH (FORCE)`);
    },
  };
}

/** Deps for the bench's private servers: service "reports" with its cache and list queue there. */
export function benchDeps(redisUrl: string, dbUrl: string, prefix: string): Deps {
  const raw: ConfigInput = {
    services: {
      reports: {
        // Never called by the activities benched here.
        healthUrl: `http://${HOST}:9/health`,
        platform: { kind: 'local', adminUrl: `http://${HOST}:9/admin`, token: 'unused' },
        cache: { redis: 'bench-redis', postgres: 'bench-db', prefix, maxInvalidate: 10_000_000 },
        // The seed's list names (the defaults): the server is the bench's own.
        queue: { redis: 'bench-redis' },
      },
    },
    postgres: { 'bench-db': { url: dbUrl } },
    redis: { 'bench-redis': { url: redisUrl } },
    audit: { url: dbUrl },
    backups: {},
  };
  return createDeps(parseConfig(raw, {}));
}

/** SLOWLOG records every command over `thresholdUs` (the bench uses 1 ms, below the goals, to see the max); LATENCY over 5 ms. */
export async function resetSlowlog(redis: Redis, thresholdUs: number): Promise<void> {
  await redis.call('CONFIG', 'SET', 'slowlog-log-slower-than', String(thresholdUs));
  // Keep every entry, not the default 128, so the counts are exact.
  await redis.call('CONFIG', 'SET', 'slowlog-max-len', '100000');
  await redis.call('CONFIG', 'SET', 'latency-monitor-threshold', '5');
  await redis.call('SLOWLOG', 'RESET');
  await redis.call('LATENCY', 'RESET');
  await redis.call('CONFIG', 'RESETSTAT');
}

export interface SlowReport {
  /** Commands Redis ran since the reset (INFO total_commands_processed, counting those scripts call), to set the slow ones against. */
  commands: number;
  /** SLOWLOG's threshold, ms. */
  loggedOverMs: number;
  durationsMs: number[];
  maxMs: number;
  /** The slowest few, e.g. "DEL (6,938 args) 20.3 ms". */
  slowest: string[];
  /** LATENCY LATEST: "event max N ms". */
  latency: string[];
}

export async function readSlowlog(redis: Redis): Promise<SlowReport> {
  const commands = Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))?.[1] ?? NaN);
  const threshold = Number(((await redis.call('CONFIG', 'GET', 'slowlog-log-slower-than')) as string[])[1]) / 1000;
  // Redis 7 logs the commands a script calls too (client "?:0"); the script's own entry covers them.
  const entries = ((await redis.call('SLOWLOG', 'GET', '-1')) as [number, number, number, string[], string][]).filter((e) => e[4] !== '?:0');
  const describe = ([, , us, args]: [number, number, number, string[], string]) => {
    // Redis keeps at most 32 arguments of a logged command; the last one then says how many more.
    const more = /^\.\.\. \((\d+) more arguments\)$/.exec(args[args.length - 1] ?? '');
    const n = more ? args.length - 2 + Number(more[1]) : args.length - 1;
    return `${(args[0] ?? '?').toUpperCase()} (${fmt(n)} args) ${(us / 1000).toFixed(1)} ms`;
  };
  const sorted = [...entries].sort((a, b) => b[2] - a[2]);
  const latest = (await redis.call('LATENCY', 'LATEST')) as [string, number, number, number][];
  return {
    commands,
    loggedOverMs: threshold,
    durationsMs: sorted.map((e) => e[2] / 1000),
    maxMs: sorted.length ? sorted[0]![2] / 1000 : 0,
    slowest: sorted.slice(0, 3).map(describe),
    latency: latest.map(([event, , , max]) => `${event} max ${max} ms`),
  };
}

export const overMs = (s: SlowReport, ms: number): number => s.durationsMs.filter((d) => d > ms).length;

export function slowLine(name: string, s: SlowReport, goalMs: number): string {
  const slow = s.durationsMs.length
    ? `SLOWLOG ${overMs(s, goalMs)} of ${fmt(s.commands)} commands over ${goalMs} ms (${s.durationsMs.length} over ${s.loggedOverMs} ms), max ${s.maxMs.toFixed(1)} ms: ${s.slowest.join('; ')}`
    : `SLOWLOG none of ${fmt(s.commands)} commands over ${s.loggedOverMs} ms`;
  return `${label(`  ${name}`)} ${slow}; LATENCY ${s.latency.length ? s.latency.join(', ') : 'no event over 5 ms'}`;
}

/** Counts the keys matching `pattern` with SCAN (never KEYS). */
export async function scanCount(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 10_000);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

// ---------------------------------------------------------------- warming

/** The demo's analytics tables (same definitions as demo/seed-analytics.ts), `users` users all active, ~5 tasks each. */
async function seedAnalytics(pool: Pool, users: number): Promise<void> {
  await pool.query(`CREATE TABLE app_users (id bigint PRIMARY KEY, email text NOT NULL, last_active_at timestamptz NOT NULL)`);
  await pool.query(`CREATE TABLE user_tasks (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES app_users(id),
    status text NOT NULL CHECK (status IN ('todo','in_progress','done','cancelled')),
    priority text NOT NULL CHECK (priority IN ('low','medium','high','urgent')),
    created_at timestamptz NOT NULL, completed_at timestamptz)`);
  await pool.query(
    `INSERT INTO app_users (id, email, last_active_at)
     SELECT g, 'user' || g || '@example.com', now() - ((g % 144) || ' hours')::interval FROM generate_series(1, $1::int) g`,
    [users],
  );
  // 3 to 7 tasks per user (5 on average); done ones completed within the last two weeks.
  await pool.query(
    `INSERT INTO user_tasks (user_id, status, priority, created_at, completed_at)
     SELECT u, s.status, (ARRAY['low','medium','high','urgent'])[1 + (u + k) % 4], t.created,
            CASE WHEN s.status = 'done' THEN t.created + ((k * 7) % 48 || ' hours')::interval END
     FROM generate_series(1, $1::int) u
     CROSS JOIN LATERAL generate_series(1, 3 + u % 5) k
     CROSS JOIN LATERAL (SELECT (ARRAY['todo','in_progress','done','done','cancelled'])[1 + (u * 3 + k) % 5] AS status) s
     CROSS JOIN LATERAL (SELECT now() - (((u + k * 13) % 20) || ' days')::interval AS created) t`,
    [users],
  );
  await pool.query('CREATE INDEX user_tasks_user_id ON user_tasks (user_id)');
  await pool.query('CREATE INDEX app_users_last_active_at ON app_users (last_active_at)');
  await pool.query('ANALYZE');
}

// The seed's loop, one query per metric for one user (the same definitions as activities/cache/metrics.ts).
const SEED_METRIC_SQL: Record<CacheMetric, string> = {
  task_totals: `SELECT count(*)::int AS total, count(*) FILTER (WHERE status IN ('todo', 'in_progress'))::int AS open,
    count(*) FILTER (WHERE status = 'done')::int AS done, count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled
    FROM user_tasks WHERE user_id = $1`,
  completion_rate: `SELECT count(*) FILTER (WHERE status = 'done')::int AS done, count(*) FILTER (WHERE status <> 'cancelled')::int AS counted
    FROM user_tasks WHERE user_id = $1`,
  priority_distribution: `SELECT priority AS k, count(*)::int AS n FROM user_tasks WHERE user_id = $1 GROUP BY priority`,
  status_distribution: `SELECT status AS k, count(*)::int AS n FROM user_tasks WHERE user_id = $1 GROUP BY status`,
  productivity_score: `SELECT coalesce(sum(CASE priority WHEN 'low' THEN ${PRIORITY_WEIGHTS.low} WHEN 'medium' THEN ${PRIORITY_WEIGHTS.medium}
    WHEN 'high' THEN ${PRIORITY_WEIGHTS.high} WHEN 'urgent' THEN ${PRIORITY_WEIGHTS.urgent} ELSE 0 END), 0)::int AS score
    FROM user_tasks WHERE user_id = $1 AND status = 'done' AND completed_at > $2::timestamptz - interval '7 days' AND completed_at <= $2::timestamptz`,
};

function seedValue(metric: CacheMetric, rows: Record<string, number | string>[]): MetricValue {
  const r = rows[0] ?? {};
  const dist = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, Number(rows.find((x) => x.k === k)?.n ?? 0)]));
  switch (metric) {
    case 'task_totals':
      return { total: Number(r.total), open: Number(r.open), done: Number(r.done), cancelled: Number(r.cancelled) };
    case 'completion_rate':
      return Number(r.counted) > 0 ? Math.round((Number(r.done) * 10_000) / Number(r.counted)) / 10_000 : 0;
    case 'priority_distribution':
      return dist(['low', 'medium', 'high', 'urgent']);
    case 'status_distribution':
      return dist(['todo', 'in_progress', 'done', 'cancelled']);
    case 'productivity_score':
      return Number(r.score);
  }
}

/**
 * Seed 002's job, faithfully: the active users, BATCH_SIZE=10 at a time; for each user, for each metric, one
 * query and one SET, each awaited before the next. Over the first `limit` active users. Returns the keys written.
 */
async function seedLoop(pool: Pool, redis: Redis, prefix: string, since: string, limit: number, ttlSeconds: number): Promise<number> {
  const BATCH_SIZE = 10;
  const asOf = new Date().toISOString();
  const { rows } = await pool.query<{ id: string }>('SELECT id::text AS id FROM app_users WHERE last_active_at >= $1 ORDER BY app_users.id LIMIT $2', [
    since,
    limit,
  ]);
  let keys = 0;
  for (let i = 0; i < rows.length; i += BATCH_SIZE) {
    for (const { id } of rows.slice(i, i + BATCH_SIZE)) {
      for (const metric of CACHE_METRICS) {
        const params = metric === 'productivity_score' ? [id, asOf] : [id];
        const r = await pool.query<Record<string, number | string>>(SEED_METRIC_SQL[metric], params);
        await redis.set(cacheKey(prefix, id, metric), encodeCached(seedValue(metric, r.rows), asOf, 'seed-loop', 1), 'EX', ttlSeconds);
        keys++;
      }
    }
  }
  return keys;
}

/** The seed loop's keys hold what the shared metrics query computes for the same users and time (a faithful baseline). */
async function checkSeedLoop(pool: Pool, redis: Redis, prefix: string, since: string, limit: number): Promise<void> {
  const { rows } = await pool.query<{ id: string }>('SELECT id::text AS id FROM app_users WHERE last_active_at >= $1 ORDER BY app_users.id LIMIT $2', [
    since,
    limit,
  ]);
  const ids = rows.map((r) => r.id);
  const keys = ids.flatMap((id) => CACHE_METRICS.map((m) => cacheKey(prefix, id, m)));
  const stored = (await redis.mget(...keys)).map(decodeCached);
  const asOf = new Date(stored[0]!.at);
  const expected = await computeUserMetrics(pool, ids, CACHE_METRICS, asOf);
  const wrong = keys.filter((_, i) => {
    const metric = CACHE_METRICS[i % CACHE_METRICS.length]!;
    return JSON.stringify(stored[i]?.v) !== JSON.stringify(expected.get(ids[Math.floor(i / CACHE_METRICS.length)]!)?.[metric]);
  });
  if (wrong.length) throw new Error(`the seed loop wrote ${wrong.length} values unlike the metrics query, e.g. ${wrong.slice(0, 3).join(', ')}`);
}

/**
 * warmCache's two phases replayed apart (the activity reports only its total): the shared metrics query per
 * batch, then the same pipelined `SET key value EX ttl` per batch, `concurrency` batches at a time each.
 */
async function warmPhases(pool: Pool, redis: Redis, prefix: string, since: string, batchSize: number, concurrency: number, ttlSeconds: number) {
  const { rows } = await pool.query<{ id: string }>('SELECT id::text AS id FROM app_users WHERE last_active_at >= $1 ORDER BY app_users.id', [since]);
  const batches: string[][] = [];
  for (let i = 0; i < rows.length; i += batchSize) batches.push(rows.slice(i, i + batchSize).map((r) => r.id));
  const asOf = new Date();
  const values: Awaited<ReturnType<typeof computeUserMetrics>>[] = [];
  const inTurns = async (fn: (i: number) => Promise<void>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < batches.length) await fn(next++);
      }),
    );
  };
  const queryMs = await time(() =>
    inTurns(async (i) => {
      values[i] = await computeUserMetrics(pool, batches[i]!, CACHE_METRICS, asOf);
    }),
  );
  let keys = 0;
  const writeMs = await time(() =>
    inTurns(async (i) => {
      const ks: string[] = [];
      const vs: string[] = [];
      for (const [id, v] of values[i]!)
        for (const m of CACHE_METRICS) {
          ks.push(cacheKey(prefix, id, m));
          vs.push(encodeCached(v[m]!, asOf.toISOString(), 'bench-phases', 1));
        }
      keys += ks.length;
      const calls: Array<Promise<unknown>> = [];
      for (let j = 0; j < ks.length; j += SCRIPT_KEYS) calls.push(setExMany(redis, ks.slice(j, j + SCRIPT_KEYS), vs.slice(j, j + SCRIPT_KEYS), ttlSeconds));
      await Promise.all(calls);
    }),
  );
  const sample = values[0]!.entries().next().value!;
  const valueBytes = Buffer.byteLength(encodeCached(sample[1][CACHE_METRICS[0]]!, asOf.toISOString(), 'bench-phases', 1));
  return { keys, valueBytes, queryKps: keys / (queryMs / 1000), writeKps: keys / (writeMs / 1000) };
}

/**
 * SET/s of `redis-benchmark -t set -P 64 -n <n> -q` on the private server (the issue's baseline: 3-byte
 * values, one key); with `like` the same work as the warm instead: random keys, values of the warm's size, EX.
 */
async function redisBenchmarkSet(port: number, n: number, like?: { valueBytes: number; ttlSeconds: number }): Promise<number> {
  const args = like
    ? ['-P', '64', '-n', String(n), '-r', String(n), '-q', 'SET', 'bench:rb:__rand_int__', 'v'.repeat(like.valueBytes), 'EX', String(like.ttlSeconds)]
    : ['-t', 'set', '-P', '64', '-n', String(n), '-q'];
  const r = await exec('redis-benchmark', ['-h', HOST, '-p', String(port), ...args]);
  // -q prints progress with carriage returns, then "SET: 1234567.89 requests per second, p50=…".
  const m = /: ([\d.]+) requests per second/.exec(r.out.split('\r').pop() ?? '');
  if (r.code !== 0 || !m) throw new Error(`redis-benchmark failed (${r.code}): ${r.out.slice(-300)} ${r.err.slice(-300)}`);
  return Number(m[1]);
}

// ---------------------------------------------------------------- invalidation

/** FLUSHALL, then `total` keys: half `bench:inv:a:<n>` (the pattern's), half look-alikes `bench:inv:b:<n>`, interleaved. */
async function loadInvalidation(redis: Redis, total: number): Promise<void> {
  await redis.flushall();
  const half = total / 2;
  const PER_MSET = 1000;
  for (let start = 0; start < half; start += 50 * PER_MSET) {
    const p = redis.pipeline();
    for (let s = start; s < Math.min(half, start + 50 * PER_MSET); s += PER_MSET) {
      const args: string[] = [];
      for (let n = s; n < Math.min(half, s + PER_MSET); n++) args.push(`bench:inv:a:${n}`, 'x', `bench:inv:b:${n}`, 'x');
      p.mset(...args);
    }
    await p.exec();
  }
  const size = await redis.dbsize();
  if (size !== total) throw new Error(`loaded ${size} keys, expected ${total}`);
}

/** The seed's `redis-cli --scan --pattern 'bench:inv:a:*' | xargs redis-cli del`: two processes, piped, no shell. */
async function seedScanXargsDel(port: number): Promise<void> {
  const conn = ['-h', HOST, '-p', String(port)];
  const scan = spawn('redis-cli', [...conn, '--scan', '--pattern', 'bench:inv:a:*'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const del = spawn('xargs', ['redis-cli', ...conn, 'del'], { stdio: [scan.stdout, 'ignore', 'inherit'] });
  // 'exit', not 'close': our end of the scan's stdout is handed to xargs and never read here.
  const [[scanCode], [delCode]] = (await Promise.all([once(scan, 'exit'), once(del, 'exit')])) as [[number | null], [number | null]];
  if (scanCode !== 0 || delCode !== 0) throw new Error(`redis-cli --scan exited ${scanCode}, xargs redis-cli del ${delCode}`);
}

/** Checks the invalidation left exactly the look-alikes. */
async function checkInvalidated(redis: Redis, total: number, who: string): Promise<void> {
  const [size, left, lookAlikes] = [await redis.dbsize(), await scanCount(redis, 'bench:inv:a:*'), await scanCount(redis, 'bench:inv:b:*')];
  if (size !== total / 2 || left !== 0 || lookAlikes !== total / 2) {
    throw new Error(`${who} left ${size} keys: ${left} matching, ${lookAlikes} look-alikes (expected 0 and ${total / 2})`);
  }
}

export async function cacheRows(): Promise<string[]> {
  const lines: string[] = [];
  const users = Number(process.env.BENCH_CACHE_USERS ?? 100_000);
  const invKeys = Number(process.env.BENCH_INV_KEYS ?? 2_000_000);
  const rounds = Number(process.env.BENCH_CACHE_ROUNDS ?? 3);
  const seedUsers = Math.min(users, 2000);
  const ttlSeconds = 7 * 3600;
  const load0 = loadavg()[0]!;
  const server = await startPrivateRedis();
  const db = await privateDatabase('cache');
  const deps = benchDeps(server.url, db.url, 'bench:');
  const { redis } = server;
  try {
    // ---- 12. warming throughput ----
    await seedAnalytics(db.pool, users);
    const since = new Date(Date.now() - 7 * 86_400_000).toISOString();
    const warm = createCacheWarmActivities(deps);
    const oursKps: number[] = [];
    let keys = 0;
    for (let i = 0; i < rounds; i++) {
      await redis.flushall();
      const r = await asActivity(warm.warmCache.bind(warm), {
        service: 'reports',
        since,
        metrics: [...CACHE_METRICS],
        batchSize: 1000,
        concurrency: 4,
        maxErrors: 100,
        ttlSeconds,
        runKey: `bench-warm-${i}`,
      });
      if (r.errors !== 0 || r.keys !== users * CACHE_METRICS.length) throw new Error(`warmCache wrote ${r.keys} keys with ${r.errors} errors`);
      keys = r.keys;
      oursKps.push(r.keys / (r.ms / 1000));
    }
    // A client of its own, like the activity's (the bench's client stays free for FLUSHALL and checks).
    const writer = new Redis(server.url);
    const phases = await warmPhases(db.pool, writer, 'bench:', since, 1000, 4, ttlSeconds).finally(() => writer.disconnect());
    const benchKps: number[] = [];
    for (let i = 0; i < rounds; i++) benchKps.push(await redisBenchmarkSet(server.port, keys));
    // The warm's values as stored (a sample key of the last round's data is gone after FLUSHALL: measure before).
    const likeKps: number[] = [];
    for (let i = 0; i < rounds; i++) likeKps.push(await redisBenchmarkSet(server.port, keys, { valueBytes: phases.valueBytes, ttlSeconds }));
    await redis.flushall();
    let seedKeys = 0;
    const seedMs = await time(async () => {
      seedKeys = await seedLoop(db.pool, redis, 'bench:seed:', since, seedUsers, ttlSeconds);
    });
    await checkSeedLoop(db.pool, redis, 'bench:seed:', since, seedUsers);
    const seedKps = seedKeys / (seedMs / 1000);
    const ours = median(oursKps);
    const vsBench = ours / median(benchKps);
    lines.push(
      `${label(`cache warm, ${fmt(users)} users (n=${rounds})`)} ours ${fmt(ours)} keys/s (${fmt(keys)} keys, batch 1000, concurrency 4)   ` +
        `redis-benchmark SET -P 64 ${fmt(median(benchKps))}/s   ratio ${vsBench.toFixed(2)}x (goal >= 0.5x: ${goal(vsBench >= 0.5)})`,
    );
    lines.push(
      `${label('  same work in C')} redis-benchmark -P 64 SET <random key> <${phases.valueBytes} B> EX ${ttlSeconds}: ${fmt(median(likeKps))}/s   ` +
        `ours ${(ours / median(likeKps)).toFixed(2)}x`,
    );
    lines.push(
      `${label('  the phases replayed apart')} metrics query ${fmt(phases.queryKps)} keys/s, SET EX by script (${SCRIPT_KEYS} keys a call) ${fmt(phases.writeKps)} keys/s ` +
        `(${(phases.writeKps / median(benchKps)).toFixed(2)}x redis-benchmark)`,
    );
    lines.push(
      `${label(`  vs the seed's loop (${fmt(seedUsers)} users)`)} seed ${fmt(seedKps)} keys/s (${fmt(seedKeys)} keys)   ours ${(ours / seedKps).toFixed(1)}x faster`,
    );

    // ---- 13. invalidating half of the keys ----
    const inv = createCacheInvalidateActivities(deps);
    const oursMs: number[] = [];
    const seedDelMs: number[] = [];
    let oursSlow: SlowReport | undefined;
    let seedSlow: SlowReport | undefined;
    for (let i = 0; i < rounds; i++) {
      await loadInvalidation(redis, invKeys);
      await resetSlowlog(redis, 1000);
      seedDelMs.push(await time(() => seedScanXargsDel(server.port)));
      const s = await readSlowlog(redis);
      if (!seedSlow || s.maxMs > seedSlow.maxMs) seedSlow = s;
      await checkInvalidated(redis, invKeys, 'redis-cli --scan | xargs del');

      await loadInvalidation(redis, invKeys);
      await resetSlowlog(redis, 1000);
      oursMs.push(
        await time(() =>
          asActivity(inv.invalidateKeys.bind(inv), {
            service: 'reports',
            patterns: ['bench:inv:a:*'],
            batchSize: 1000,
            runKey: `bench-inv-${i}`,
          }),
        ),
      );
      const o = await readSlowlog(redis);
      if (!oursSlow || o.maxMs > oursSlow.maxMs) oursSlow = o;
      await checkInvalidated(redis, invKeys, 'invalidateKeys');
    }
    const speedup = median(seedDelMs) / median(oursMs);
    lines.push(
      `${label(`invalidate ${fmt(invKeys / 2)} of ${fmt(invKeys)} keys (n=${rounds})`)} ours ${median(oursMs).toFixed(0).padStart(7)} ms   ` +
        `scan|xargs del ${median(seedDelMs).toFixed(0).padStart(7)} ms   ours ${speedup.toFixed(2)}x faster (goal >= 3x: ${goal(speedup >= 3)})`,
    );
    lines.push(slowLine('ours, slowest round', oursSlow!, 5));
    lines.push(slowLine('scan|xargs del, slowest round', seedSlow!, 5));
    lines.push(`${label('  no command of ours over 5 ms')} ${goal(overMs(oursSlow!, 5) === 0)}; both left exactly the ${fmt(invKeys / 2)} look-alikes`);
  } finally {
    await deps.close();
    await db.drop();
    await server.stop();
  }
  lines.push(loadLine(load0));
  return lines;
}
