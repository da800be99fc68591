// Cache invalidation without the seeds' `KEYS "analytics:*" | xargs DEL` (seed 002): SCAN MATCH walks the
// keyspace a bounded slice at a time and UNLINK frees values off the main thread, so no single command
// blocks Redis for long however large the keyspace. Keys matching a protect glob of the config (queues,
// platform state) are never unlinked, whatever the pattern. Keys are handled as Buffers end to end: a key
// that is not valid UTF-8 is unlinked as itself, never as a re-encoded look-alike.
import type { Redis } from 'ioredis';
import { durationMs } from '../../common/duration';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { previousHeartbeat, withHeartbeat } from '../heartbeat';
import { escapeGlob, globMatcher, literalPrefix } from './glob';
import { cacheConfigOf } from './stats';

export interface PatternPlan {
  pattern: string;
  /** Keys SCAN MATCH returned (a key moved by a rehash mid-scan may count twice: never fewer). */
  matched: number;
  /** Of those, keys a protect glob keeps: never unlinked. */
  protected: number;
  /** Up to 5 matching keys, for people. */
  sample: string[];
  /** Every key it can match starts with the cache prefix. */
  insidePrefix: boolean;
  ms: number;
}

export interface InvalidationPlan {
  service: string;
  /** The service's environment (a forced invalidation outside `local` needs an approval). */
  environment: string;
  prefix: string;
  /** Config cache.ttl, for TTL hygiene. */
  ttl: string;
  ttlMs: number;
  maxInvalidate: number;
  hitRate: { warnBelow: number; actBelow: number };
  /** The input's pattern, then one `<prefix><user>:*` per user. */
  patterns: PatternPlan[];
}

export interface InvalidateResult {
  /** SCAN calls made (over every pattern). */
  scanCalls: number;
  unlinked: number;
  protectedSkipped: number;
  perPattern: Array<{ pattern: string; unlinked: number; protectedSkipped: number }>;
  ms: number;
  keysPerSecond: number;
  /** This attempt continued where an earlier one (a retry) stopped. */
  resumed: boolean;
}

export interface TtlHygieneResult {
  scanned: number;
  /** Keys that had no TTL and got one. */
  fixed: number;
  protectedSkipped: number;
  ms: number;
}

/** Where invalidateKeys is, in its heartbeat: a retry of the same run continues from here. */
interface Progress {
  runKey: string;
  patternIndex: number;
  /** The cursor whose SCAN reply is not yet unlinked. */
  cursor: string;
  scanCalls: number;
  perPattern: Array<{ pattern: string; unlinked: number; protectedSkipped: number }>;
}

type ScanReply = [Buffer, Buffer[]];

const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

function settings(deps: Deps, service: string) {
  const cache = cacheConfigOf(deps, service);
  return { svc: deps.service(service), cache, redis: deps.redis(cache.redis), protect: globMatcher(cache.protect) };
}

/** The earlier attempt's progress when this is a retry of the same run's activity. */
function resumeFrom(runKey: string, patterns: string[]): Progress | undefined {
  const d = previousHeartbeat<Partial<Progress>>();
  if (!d || d.runKey !== runKey || typeof d.cursor !== 'string' || typeof d.patternIndex !== 'number') return undefined;
  // The same patterns in the same order, or the cursor means nothing.
  if (!Array.isArray(d.perPattern) || d.perPattern.map((p) => p.pattern).join('\n') !== patterns.join('\n')) return undefined;
  return d as Progress;
}

function aborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Error('cancelled');
}

/** Runs a pipeline and throws the first command error (ioredis reports them per command). */
async function exec(p: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  const res = (await p.exec()) ?? [];
  return res.map(([err, v]) => {
    if (err) throw err;
    return v;
  });
}

export type CacheInvalidateActivities = ReturnType<typeof createCacheInvalidateActivities>;

export function createCacheInvalidateActivities(deps: Deps) {
  return {
    /**
     * Read-only: what each pattern matches now (a full SCAN MATCH of the keyspace), how many of those are
     * protected, and whether the pattern stays inside the cache prefix; with the cache settings a run needs.
     */
    async planInvalidation(input: { service: string; patterns: string[]; users?: string[]; count?: number }): Promise<InvalidationPlan> {
      const { svc, cache, redis, protect } = settings(deps, input.service);
      for (const u of input.users ?? []) if (!USER_ID.test(u)) throw new InvalidTargetError(`users: "${u}" is not a user id (letters, digits, _ and -)`);
      const patterns = [...input.patterns, ...(input.users ?? []).map((u) => `${escapeGlob(cache.prefix)}${u}:*`)];
      const count = input.count ?? 1000;
      const plans: PatternPlan[] = [];
      let at = { pattern: 0, cursor: '0' };
      await withHeartbeat(
        async (signal) => {
          for (const [i, pattern] of patterns.entries()) {
            const t0 = Date.now();
            const plan: PatternPlan = { pattern, matched: 0, protected: 0, sample: [], insidePrefix: literalPrefix(pattern).startsWith(cache.prefix), ms: 0 };
            let cursor = '0';
            do {
              aborted(signal);
              const [next, keys] = (await redis.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', count)) as ScanReply;
              cursor = next.toString();
              at = { pattern: i, cursor };
              for (const k of keys) {
                plan.matched++;
                if (protect(k)) plan.protected++;
                else if (plan.sample.length < 5) plan.sample.push(k.toString());
              }
            } while (cursor !== '0');
            plan.ms = Date.now() - t0;
            plans.push(plan);
          }
        },
        () => at,
      );
      const { warnBelow, actBelow } = cache.hitRate;
      return {
        service: input.service,
        environment: svc.environment,
        prefix: cache.prefix,
        ttl: cache.ttl,
        ttlMs: durationMs(cache.ttl),
        maxInvalidate: cache.maxInvalidate,
        hitRate: { warnBelow, actBelow },
        patterns: plans,
      };
    },

    /**
     * Unlinks every non-protected key matching each pattern: SCAN MATCH COUNT batchSize, and the keys of
     * each reply in one UNLINK (at most batchSize keys) sent in the same round trip as the next SCAN.
     * Heartbeats where it is; a retry of the same run resumes from that cursor. Keys written meanwhile may
     * or may not be unlinked (SCAN's guarantee covers the keys present for the whole scan).
     */
    async invalidateKeys(input: { service: string; patterns: string[]; batchSize: number; runKey: string }): Promise<InvalidateResult> {
      const { redis, protect } = settings(deps, input.service);
      const batch = Math.max(1, Math.floor(input.batchSize));
      const earlier = resumeFrom(input.runKey, input.patterns);
      const state: Progress = earlier ?? {
        runKey: input.runKey,
        patternIndex: 0,
        cursor: '0',
        scanCalls: 0,
        perPattern: input.patterns.map((pattern) => ({ pattern, unlinked: 0, protectedSkipped: 0 })),
      };
      const t0 = Date.now();
      await withHeartbeat(
        async (signal) => {
          for (; state.patternIndex < input.patterns.length; state.patternIndex++, state.cursor = '0') {
            const pattern = input.patterns[state.patternIndex]!;
            const counts = state.perPattern[state.patternIndex]!;
            let reply = (await redis.scanBuffer(state.cursor, 'MATCH', pattern, 'COUNT', batch)) as ScanReply;
            state.scanCalls++;
            for (;;) {
              aborted(signal);
              const [next, keys] = reply;
              const doomed: Buffer[] = [];
              for (const k of keys) {
                if (protect(k)) counts.protectedSkipped++;
                else doomed.push(k);
              }
              const last = next.toString() === '0';
              const p = redis.pipeline();
              // COUNT is a hint: a reply can hold a few more keys than asked, and no UNLINK may exceed the batch.
              for (let i = 0; i < doomed.length; i += batch) p.unlink(...doomed.slice(i, i + batch));
              if (!last) p.scanBuffer(next.toString(), 'MATCH', pattern, 'COUNT', batch);
              const res = p.length ? await exec(p) : [];
              for (const n of last ? res : res.slice(0, -1)) counts.unlinked += n as number;
              if (last) break;
              state.scanCalls++;
              state.cursor = next.toString();
              reply = res[res.length - 1] as ScanReply;
            }
          }
        },
        // A copy: the SDK sends details later (throttled), and must send what was true when they were given.
        () => ({ ...state, perPattern: state.perPattern.map((c) => ({ ...c })) }),
      );
      const ms = Math.max(1, Date.now() - t0);
      const unlinked = state.perPattern.reduce((n, p) => n + p.unlinked, 0);
      return {
        scanCalls: state.scanCalls,
        unlinked,
        protectedSkipped: state.perPattern.reduce((n, p) => n + p.protectedSkipped, 0),
        perPattern: state.perPattern,
        ms,
        keysPerSecond: Math.round((unlinked * 1000) / ms),
        resumed: earlier !== undefined,
      };
    },

    /**
     * Gives every key under the cache prefix that has no TTL the configured one: PTTL of each SCAN reply in
     * one pipeline, then `EXPIRE key ttl NX` (Redis 7: only when it still has none, so a TTL a writer set
     * meanwhile stays). Seed 002's loop DELetes such keys; setting the TTL keeps the data. Protected keys
     * are left alone.
     */
    async ttlHygiene(input: { service: string; ttlSeconds: number; batchSize: number }): Promise<TtlHygieneResult> {
      const { cache, redis, protect } = settings(deps, input.service);
      const ttl = Math.max(1, Math.floor(input.ttlSeconds));
      const batch = Math.max(1, Math.floor(input.batchSize));
      const pattern = `${escapeGlob(cache.prefix)}*`;
      const out = { scanned: 0, fixed: 0, protectedSkipped: 0 };
      let cursor = '0';
      const t0 = Date.now();
      await withHeartbeat(
        async (signal) => {
          do {
            aborted(signal);
            const [next, keys] = (await redis.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', batch)) as ScanReply;
            cursor = next.toString();
            out.scanned += keys.length;
            const mine = keys.filter((k) => !protect(k));
            out.protectedSkipped += keys.length - mine.length;
            if (!mine.length) continue;
            const pttl = redis.pipeline();
            for (const k of mine) pttl.pttl(k);
            const ttls = (await exec(pttl)) as number[];
            const bare = mine.filter((_, i) => ttls[i] === -1);
            if (!bare.length) continue;
            const expire = redis.pipeline();
            for (const k of bare) expire.expire(k, ttl, 'NX');
            out.fixed += ((await exec(expire)) as number[]).reduce((n, v) => n + v, 0);
          } while (cursor !== '0');
        },
        () => ({ cursor, ...out }),
      );
      return { ...out, ms: Date.now() - t0 };
    },
  };
}
