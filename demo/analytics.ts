// Per-user analytics with a cache in front (seed 002 "Cache Warming": the keys the cache-warm runbook fills).
// Cache-aside: MGET the user's metric keys; compute the missing ones from Postgres in one query and SET them
// with the TTL. Hits and misses are counted per key (reports_cache_hits_total / _misses_total).
import type { FastifyPluginAsync } from 'fastify';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { CACHE_METRICS } from '../config/schema';
import { cacheKey, computeUserMetrics, decodeCached, encodeCached, type CacheMetric, type MetricValue } from '../activities/cache/metrics';
import type { DemoMetrics } from './metrics';

export interface AnalyticsOptions {
  pool: Pool;
  redis: Redis;
  metrics: DemoMetrics;
  /** Keys are `<keyPrefix><userId>:<metric>` (not `prefix`: Fastify reads that as the routes' URL prefix). */
  keyPrefix: string;
  ttlSeconds: number;
}

export const analyticsApi: FastifyPluginAsync<AnalyticsOptions> = async (app, { pool, redis, metrics, keyPrefix, ttlSeconds }) => {
  app.get<{ Params: { id: string } }>(
    '/users/:id/analytics',
    {
      schema: {
        params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' } } },
      },
    },
    async (req, reply) => {
      const userId = req.params.id;
      const keys = CACHE_METRICS.map((m) => cacheKey(keyPrefix, userId, m));
      const cached = await redis.mget(...keys);
      const out: Partial<Record<CacheMetric, MetricValue>> = {};
      const missing: CacheMetric[] = [];
      CACHE_METRICS.forEach((m, i) => {
        const c = decodeCached(cached[i] ?? null);
        if (c) out[m] = c.v;
        else missing.push(m);
      });
      const hits = CACHE_METRICS.length - missing.length;
      if (missing.length) {
        const now = new Date();
        const computed = (await computeUserMetrics(pool, [userId], missing, now)).get(userId);
        if (!computed) return reply.code(404).send({ error: `no user ${userId}` });
        const pipe = redis.pipeline();
        for (const m of missing) {
          out[m] = computed[m]!;
          pipe.set(cacheKey(keyPrefix, userId, m), encodeCached(computed[m]!, now.toISOString(), 'demo', 1), 'EX', ttlSeconds);
        }
        await pipe.exec();
      }
      metrics.cacheHits.inc(hits);
      metrics.cacheMisses.inc(missing.length);
      return { userId, metrics: out, cache: { hits, misses: missing.length } };
    },
  );
};
