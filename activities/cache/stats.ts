// The cache's numbers as Redis itself counts them (INFO stats, INFO memory, DBSIZE), and the hit rate over
// a window as the delta of keyspace_hits and keyspace_misses (seed 002 "Cache Monitoring"). The counters
// are server-wide: every client's lookups count, which is what the seeds' hit-rate check reads too.
import type { Redis } from 'ioredis';
import type { ServiceConfig } from '../../config/schema';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { withHeartbeat } from '../heartbeat';

export interface CacheStats {
  /** When the numbers were read (ms since the epoch). */
  at: number;
  hits: number;
  misses: number;
  evictedKeys: number;
  expiredKeys: number;
  usedMemory: number;
  /** 0: no limit. */
  maxMemory: number;
  /** DBSIZE of the connection's database. */
  keys: number;
}

export interface HitRate {
  hits: number;
  misses: number;
  /** hits / (hits + misses); null when there was no lookup in the window. */
  rate: number | null;
  windowMs: number;
}

/** `field:value` lines of an INFO section. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

export async function readCacheStats(redis: Redis): Promise<CacheStats> {
  const [stats, memory, keys] = await Promise.all([redis.info('stats'), redis.info('memory'), redis.dbsize()]);
  const s = parseInfo(stats);
  const m = parseInfo(memory);
  const n = (v: string | undefined): number => (v === undefined ? 0 : Number(v) || 0);
  return {
    at: Date.now(),
    hits: n(s.keyspace_hits),
    misses: n(s.keyspace_misses),
    evictedKeys: n(s.evicted_keys),
    expiredKeys: n(s.expired_keys),
    usedMemory: n(m.used_memory),
    maxMemory: n(m.maxmemory),
    keys,
  };
}

/** The hit rate between two readings (a restart of Redis in between resets the counters: counted as none). */
export function hitRateBetween(before: CacheStats, after: CacheStats): HitRate {
  const hits = Math.max(0, after.hits - before.hits);
  const misses = Math.max(0, after.misses - before.misses);
  return { hits, misses, rate: hits + misses > 0 ? hits / (hits + misses) : null, windowMs: after.at - before.at };
}

export type CacheStatsActivities = ReturnType<typeof createCacheStatsActivities>;

/** The service's cache settings (an InvalidTargetError when it has none). */
export function cacheConfigOf(deps: Deps, service: string): NonNullable<ServiceConfig['cache']> {
  const cache = deps.service(service).cache;
  if (!cache) throw new InvalidTargetError(`service "${service}" has no cache configured (services.${service}.cache)`);
  return cache;
}

/** The cache's Redis: the service's `cache.redis` target. */
export function cacheRedisOf(deps: Deps, service: string): Redis {
  return deps.redis(cacheConfigOf(deps, service).redis);
}

export function createCacheStatsActivities(deps: Deps) {
  return {
    /** Redis's counters now. */
    async cacheStats(input: { service: string }): Promise<CacheStats> {
      return readCacheStats(cacheRedisOf(deps, input.service));
    },

    /** The hit rate over the next `windowMs` (INFO stats read at both ends; heartbeats while it waits). */
    async cacheHitRate(input: { service: string; windowMs: number }): Promise<HitRate & { before: CacheStats; after: CacheStats }> {
      const redis = cacheRedisOf(deps, input.service);
      const before = await readCacheStats(redis);
      await withHeartbeat(
        (signal) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(resolve, input.windowMs);
            signal.addEventListener('abort', () => {
              clearTimeout(t);
              resolve();
            });
          }),
        () => ({ waitingUntil: before.at + input.windowMs }),
      );
      const after = await readCacheStats(redis);
      return { ...hitRateBetween(before, after), before, after };
    },
  };
}
