// Cache warming (seed 002 "Cache Warming": every 6 hours, users active in the last 7 days, METRICS_TO_CACHE).
// Where the seed runs one query and one SET per user and metric, 10 users at a time, warmCache runs one
// query per batch of users (all metrics at once, activities/cache/metrics.ts) and writes the batch's keys
// with `SET key value EX ttl` inside one script call per 500 keys, several batches at a time. One long
// activity that heartbeats its progress: a retry (a worker died) skips every batch its earlier attempt
// finished, so no key is written twice. Per-key errors count against an error budget; past it the run
// stops at once.
import { ApplicationFailure } from '@temporalio/common';
import { escapeIdentifier, type Pool } from 'pg';
import { durationMs } from '../../common/duration';
import type { Redis } from 'ioredis';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { currentActivity, withHeartbeat } from '../heartbeat';
import { cacheConfigOf } from './stats';
import { cacheKey, computeUserMetrics, encodeCached, type CacheMetric } from './metrics';

/** The failure type of a warm that made more errors than it was allowed (never retried: it would only make more). */
export const ERROR_BUDGET_EXCEEDED = 'ErrorBudgetExceeded';

const MAX_SAMPLES = 3;

export interface CacheWarmTarget {
  service: string;
  redis: string;
  postgres: string;
  prefix: string;
  ttlSeconds: number;
  activeDays: number;
  /** Users with last_active_at at or after this (ISO) are warmed. */
  since: string;
  activeUsers: number;
  metrics: CacheMetric[];
}

export interface WarmCacheInput {
  service: string;
  since: string;
  metrics: CacheMetric[];
  batchSize: number;
  concurrency: number;
  maxErrors: number;
  ttlSeconds: number;
  /** Written into every value (`by`), so a key tells which run wrote it. */
  runKey: string;
}

/** Heartbeat details: what an attempt finished, so the next one skips it. */
export interface WarmProgress {
  /** Every batch with index <= watermark is done (-1: none). */
  watermark: number;
  /** Done batches above the watermark (with concurrency they finish out of order). */
  done: number[];
  keys: number;
  errors: number;
  users: number;
  samples: string[];
}

export interface WarmCacheResult {
  users: number;
  batches: number;
  /** Batches an earlier attempt finished, skipped by this one. */
  batchesSkipped: number;
  /** Keys written, by this attempt and the earlier ones. */
  keys: number;
  errors: number;
  errorSamples: string[];
  ms: number;
  keysPerSecond: number;
  attempt: number;
}

export interface VerifyWarmInput {
  service: string;
  since: string;
  metrics: CacheMetric[];
  /** Keys per pipelined PTTL round (default 1000). */
  batchSize?: number;
}

export interface VerifyWarmResult {
  expected: number;
  present: number;
  missing: number;
  /** Present but without a TTL (PTTL -1): they would never expire. */
  withoutTtl: number;
  missingSamples: string[];
  ms: number;
}

export interface RefreshedView {
  view: string;
  concurrently: boolean;
  ms: number;
}

export type CacheWarmActivities = ReturnType<typeof createCacheWarmActivities>;

async function activeUserIds(pool: Pool, since: string): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>('SELECT id::text AS id FROM app_users WHERE last_active_at >= $1 ORDER BY app_users.id', [since]);
  return rows.map((r) => r.id);
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 300);
}

/** "relation app_users does not exist" as what it means: the service's database has no analytics tables. */
function explainMissingTables(err: unknown, target: string): never {
  if ((err as { code?: string }).code === '42P01')
    throw new InvalidTargetError(`postgres target "${target}" has no app_users/user_tasks tables (the demo service creates them when it starts)`);
  throw err;
}

/**
 * Keys per script call: a call runs about 2.5 µs per key in Redis (measured), so 500 keys keep every call
 * near a millisecond, far from the 5 ms that would hold up the service's own commands.
 */
export const SCRIPT_KEYS = 500;

/** SET key value EX ttl for every key in one script call: one command instead of one per key (twice the keys/s of a pipeline through ioredis). */
const SET_EX_MANY = `local ttl = ARGV[1]
local ok, errs, sample = 0, 0, ''
for i = 1, #KEYS do
  local r = redis.pcall('SET', KEYS[i], ARGV[i + 1], 'EX', ttl)
  if type(r) == 'table' and r.err then
    errs = errs + 1
    if sample == '' then sample = r.err end
  else
    ok = ok + 1
  end
end
return {ok, errs, sample}`;

type WithSetExMany = Redis & { rbSetExMany(numKeys: number, ...args: Array<string | number>): Promise<[number, number, string]> };

export async function setExMany(redis: Redis, keys: string[], values: string[], ttlSeconds: number): Promise<[number, number, string]> {
  const r = redis as WithSetExMany;
  // EVALSHA, loading the script on NOSCRIPT (ioredis's defineCommand); defined once per connection.
  if (typeof r.rbSetExMany !== 'function') redis.defineCommand('rbSetExMany', { lua: SET_EX_MANY });
  return r.rbSetExMany(keys.length, ...keys, ttlSeconds, ...values);
}

/** The same writes as a pipeline of SETs: each key's error on its own. Resolves to the keys written. */
async function setExEach(redis: Redis, keys: string[], values: string[], ttlSeconds: number, onError: (err: Error) => void): Promise<number> {
  const pipe = redis.pipeline();
  keys.forEach((k, j) => pipe.set(k, values[j]!, 'EX', ttlSeconds));
  let ok = 0;
  for (const [err] of (await pipe.exec()) ?? []) {
    if (err) onError(err);
    else ok++;
  }
  return ok;
}

/** [from, to) ranges of at most `size` covering 0..n. */
function chunksOf(n: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i += size) out.push([i, Math.min(n, i + size)]);
  return out;
}

export function createCacheWarmActivities(deps: Deps) {
  return {
    /** Read-only: the cache's settings and how many users are active now. */
    async resolveCacheWarm(input: { service: string; activeDays?: number; metrics?: CacheMetric[] }): Promise<CacheWarmTarget> {
      const cache = cacheConfigOf(deps, input.service);
      const activeDays = input.activeDays ?? cache.activeDays;
      const since = new Date(Date.now() - activeDays * 86_400_000).toISOString();
      const { rows } = await deps
        .pg(cache.postgres)
        .query<{ n: number }>('SELECT count(*)::int AS n FROM app_users WHERE last_active_at >= $1', [since])
        .catch((err: unknown) => explainMissingTables(err, cache.postgres));
      return {
        service: input.service,
        redis: cache.redis,
        postgres: cache.postgres,
        prefix: cache.prefix,
        ttlSeconds: Math.round(durationMs(cache.ttl) / 1000),
        activeDays,
        since,
        activeUsers: rows[0]!.n,
        metrics: input.metrics ?? [...cache.metrics],
      };
    },

    /** Warms every active user's keys in batches; resumes after its last heartbeat. See the file's comment. */
    async warmCache(input: WarmCacheInput): Promise<WarmCacheResult> {
      const started = Date.now();
      const ctx = currentActivity();
      const attempt = ctx?.info.attempt ?? 1;
      const cache = cacheConfigOf(deps, input.service);
      const pool = deps.pg(cache.postgres);
      const redis: Redis = deps.redis(cache.redis);
      const ids = await activeUserIds(pool, input.since).catch((err: unknown) => explainMissingTables(err, cache.postgres));
      const batches: string[][] = [];
      for (let i = 0; i < ids.length; i += input.batchSize) batches.push(ids.slice(i, i + input.batchSize));

      const prev = ctx?.info.heartbeatDetails as WarmProgress | undefined;
      const p: WarmProgress = prev
        ? { ...prev, done: [...prev.done], samples: [...prev.samples] }
        : { watermark: -1, done: [], keys: 0, errors: 0, users: 0, samples: [] };
      const finished = (i: number): boolean => i <= p.watermark || p.done.includes(i);
      const todo = batches.map((_, i) => i).filter((i) => !finished(i));
      const batchesSkipped = batches.length - todo.length;

      const markDone = (i: number): void => {
        p.done.push(i);
        p.done.sort((a, b) => a - b);
        while (p.done[0] === p.watermark + 1) p.watermark = p.done.shift()!;
      };
      const noteError = (message: string): void => {
        if (p.samples.length < MAX_SAMPLES && !p.samples.includes(message)) p.samples.push(message);
      };
      const overBudget = (): boolean => p.errors > input.maxErrors;

      const runBatch = async (i: number): Promise<void> => {
        const users = batches[i]!;
        const asOf = new Date();
        const at = asOf.toISOString();
        let values: Awaited<ReturnType<typeof computeUserMetrics>>;
        try {
          values = await computeUserMetrics(pool, users, input.metrics, asOf);
        } catch (err) {
          // A failed batch counts one error per key it did not write (verify then finds them missing).
          // Done all the same: a retry must not count its errors twice.
          p.errors += users.length * input.metrics.length;
          noteError(`batch ${i}: ${errorText(err)}`);
          markDone(i);
          return;
        }
        const keys: string[] = [];
        const vals: string[] = [];
        for (const id of users) {
          const v = values.get(id);
          if (!v) continue; // deleted since it was listed
          for (const m of input.metrics) {
            keys.push(cacheKey(cache.prefix, id, m));
            vals.push(encodeCached(v[m]!, at, input.runKey, attempt));
          }
        }
        await Promise.all(
          chunksOf(keys.length, SCRIPT_KEYS).map(async ([from, to]) => {
            const ks = keys.slice(from, to);
            const vs = vals.slice(from, to);
            try {
              const [ok, errs, sample] = await setExMany(redis, ks, vs, input.ttlSeconds);
              p.keys += ok;
              p.errors += errs;
              if (errs) noteError(sample);
            } catch {
              // The script as a whole was refused (an ACL that forbids some of its keys, a server without
              // scripting): key by key, so each key counts as written or as an error.
              await setExEach(redis, ks, vs, input.ttlSeconds, (err) => {
                p.errors++;
                noteError(errorText(err));
              }).then(
                (ok) => (p.keys += ok),
                (err: unknown) => {
                  p.errors += ks.length;
                  noteError(`batch ${i}: ${errorText(err)}`);
                },
              );
            }
          }),
        );
        p.users += users.length;
        markDone(i);
      };

      await withHeartbeat(
        async (signal) => {
          let next = 0;
          const worker = async (): Promise<void> => {
            while (next < todo.length && !overBudget()) {
              if (signal.aborted) throw signal.reason ?? new Error('cancelled');
              await runBatch(todo[next++]!);
            }
          };
          await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency, todo.length)) }, worker));
        },
        () => p,
        1000,
      );
      if (overBudget()) {
        // Tell the server what was done, so a look at the activity shows where it stopped.
        ctx?.heartbeat(p);
        throw ApplicationFailure.create({
          type: ERROR_BUDGET_EXCEEDED,
          nonRetryable: true,
          message:
            `error budget exceeded: ${p.errors} errors (maxErrors ${input.maxErrors}) after ${p.keys} keys written, ` +
            `${p.done.length + p.watermark + 1} of ${batches.length} batches done; stopped. Samples: ${p.samples.join(' | ')}`,
        });
      }
      const ms = Date.now() - started;
      return {
        users: ids.length,
        batches: batches.length,
        batchesSkipped,
        keys: p.keys,
        errors: p.errors,
        errorSamples: p.samples,
        ms,
        keysPerSecond: Math.round((p.keys * 1000) / Math.max(1, ms)),
        attempt,
      };
    },

    /**
     * Every expected key's PTTL, pipelined: present, missing (-2), without a TTL (-1). PTTL is a keyspace
     * lookup: it counts in Redis's keyspace_hits/misses, so hit rates are measured outside this step.
     */
    async verifyWarm(input: VerifyWarmInput): Promise<VerifyWarmResult> {
      const started = Date.now();
      const cache = cacheConfigOf(deps, input.service);
      const redis = deps.redis(cache.redis);
      const ids = await activeUserIds(deps.pg(cache.postgres), input.since).catch((err: unknown) => explainMissingTables(err, cache.postgres));
      const keys = ids.flatMap((id) => input.metrics.map((m) => cacheKey(cache.prefix, id, m)));
      const out: VerifyWarmResult = { expected: keys.length, present: 0, missing: 0, withoutTtl: 0, missingSamples: [], ms: 0 };
      const size = input.batchSize ?? 1000;
      await withHeartbeat(async () => {
        for (let i = 0; i < keys.length; i += size) {
          const chunk = keys.slice(i, i + size);
          const pipe = redis.pipeline();
          for (const k of chunk) pipe.pttl(k);
          const replies = (await pipe.exec()) ?? [];
          replies.forEach(([err, ttl], j) => {
            if (err) throw err;
            if (ttl === -2) {
              out.missing++;
              if (out.missingSamples.length < MAX_SAMPLES) out.missingSamples.push(chunk[j]!);
            } else {
              out.present++;
              if (ttl === -1) out.withoutTtl++;
            }
          });
        }
      });
      out.ms = Date.now() - started;
      return out;
    },

    /**
     * REFRESH MATERIALIZED VIEW of every materialized view of the cache's database (the evening routine);
     * CONCURRENTLY (readers are not blocked) when the view has the unique index that needs and is populated.
     */
    async refreshMaterializedViews(input: { service: string }): Promise<RefreshedView[]> {
      const cache = cacheConfigOf(deps, input.service);
      const pool = deps.pg(cache.postgres);
      const { rows } = await pool.query<{ schemaname: string; matviewname: string; ispopulated: boolean; has_unique: boolean }>(
        `SELECT m.schemaname, m.matviewname, m.ispopulated,
                EXISTS (SELECT 1 FROM pg_index i
                        WHERE i.indrelid = format('%I.%I', m.schemaname, m.matviewname)::regclass
                          AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL) AS has_unique
         FROM pg_matviews m ORDER BY 1, 2`,
      );
      const out: RefreshedView[] = [];
      await withHeartbeat(async () => {
        for (const v of rows) {
          const concurrently = v.has_unique && v.ispopulated;
          const t = Date.now();
          await pool.query(
            `REFRESH MATERIALIZED VIEW ${concurrently ? 'CONCURRENTLY ' : ''}${escapeIdentifier(v.schemaname)}.${escapeIdentifier(v.matviewname)}`,
          );
          out.push({ view: `${v.schemaname}.${v.matviewname}`, concurrently, ms: Date.now() - t });
        }
      });
      return out;
    },
  };
}
