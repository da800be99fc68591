// Warming a service's per-user metrics cache (seed 002 "Cache Warming", "Evening Routine"):
//   hit rate before (a window) -> refresh materialized views (when asked) -> warm (one long activity,
//   batches in parallel, resumable) -> verify every expected key -> hit rate after (a window) -> report.
// It writes only cache keys (values recomputed from the database), so no approval; it holds the cache
// (`cache:<service>`) so that it never interleaves with cache-invalidate. The hit-rate windows are outside
// the verify step: its PTTL lookups count as keyspace hits and would inflate the rate.
import { ApplicationFailure } from '@temporalio/workflow';
import type { CacheWarmTarget, HitRate, RefreshedView, VerifyWarmResult, WarmCacheResult } from '../../activities';
import { ErrorType } from '../lib/errors';
import { runRunbook, type Resume, type RunbookDefinition, type Step } from '../lib/kit';
import { cacheStats, cacheWarming } from '../lib/proxies';
import { toMs } from '../lib/schema';
import { cacheWarmInputSchema, describeRate, type CacheWarmInput, type CacheWarmParams, type CacheWarmResult } from './contract';

const TYPE = 'cacheWarm';

interface State {
  before?: HitRate;
  views?: RefreshedView[];
  warm?: WarmCacheResult;
  verify?: VerifyWarmResult;
  after?: HitRate;
}

type WStep = Step<CacheWarmParams, CacheWarmTarget, State>;

const windowMs = (i: CacheWarmParams): number => (i.hitRate && i.hitRateWindow !== '0s' ? toMs(i.hitRateWindow) : 0);

function hitRateStep(id: 'hit-rate-before' | 'hit-rate-after', input: CacheWarmParams): WStep {
  const ms = windowMs(input);
  return {
    id,
    kind: 'check',
    title: `measure the cache hit rate over ${input.hitRateWindow} (Redis keyspace hits and misses, server-wide) ${id === 'hit-rate-before' ? 'before' : 'after'} warming`,
    when: ms > 0,
    run: async (r) => {
      r.status('running', `measuring the hit rate over ${input.hitRateWindow}`);
      const { hits, misses, rate, windowMs } = await cacheStats.cacheHitRate({ service: input.service, windowMs: ms });
      const h: HitRate = { hits, misses, rate, windowMs };
      if (id === 'hit-rate-before') r.state.before = h;
      else r.state.after = h;
      return describeRate(h);
    },
  };
}

function steps(input: CacheWarmParams, t: CacheWarmTarget): WStep[] {
  return [
    hitRateStep('hit-rate-before', input),
    {
      id: 'refresh-views',
      kind: 'task',
      title: `refresh every materialized view of ${t.postgres} (concurrently where a unique index allows)`,
      when: input.refreshViews,
      changes: true,
      run: async (r) => {
        r.status('running', 'refreshing materialized views');
        r.state.views = await cacheWarming.refreshMaterializedViews({ service: input.service });
        return r.state.views.map((v) => `${v.view}${v.concurrently ? ' (concurrently)' : ''} ${v.ms} ms`).join(', ') || 'no materialized views';
      },
    },
    {
      id: 'warm',
      kind: 'task',
      title:
        `warm ${t.metrics.length} metrics of the ${t.activeUsers} users active since ${t.since} into ${t.redis} ` +
        `(${t.prefix}<user>:<metric>, TTL ${t.ttlSeconds}s; ${input.batchSize} users per batch, ${input.concurrency} at once, at most ${input.maxErrors} errors)`,
      changes: true,
      run: async (r) => {
        r.status('running', `warming the cache of ${t.activeUsers} users`);
        const w = await cacheWarming.warmCache({
          service: input.service,
          since: t.since,
          metrics: t.metrics,
          batchSize: input.batchSize,
          concurrency: input.concurrency,
          maxErrors: input.maxErrors,
          ttlSeconds: t.ttlSeconds,
          runKey: r.runKey,
        });
        r.state.warm = w;
        return (
          `${w.keys} keys for ${w.users} users in ${w.batches} batches${w.batchesSkipped ? ` (${w.batchesSkipped} finished by attempt ${w.attempt - 1} or earlier, skipped)` : ''}, ` +
          `${w.keysPerSecond} keys/s, ${w.errors} errors`
        );
      },
    },
    {
      id: 'verify',
      kind: 'verify',
      title: 'check every expected key exists with a TTL (pipelined PTTL; these lookups count as hits, so no hit-rate window overlaps this step)',
      run: async (r) => {
        const v = await cacheWarming.verifyWarm({ service: input.service, since: t.since, metrics: t.metrics });
        r.state.verify = v;
        const errors = r.state.warm?.errors ?? 0;
        if (v.withoutTtl > 0) r.warnings.push(`${v.withoutTtl} cache key(s) have no TTL and would never expire`);
        if (v.missing > errors)
          throw ApplicationFailure.create({
            type: ErrorType.VerificationFailed,
            nonRetryable: true,
            message: `${v.missing} of ${v.expected} expected keys are missing, more than the ${errors} errors the warm counted (e.g. ${v.missingSamples.join(', ')})`,
          });
        return `${v.present} of ${v.expected} keys present, ${v.missing} missing, ${v.withoutTtl} without TTL`;
      },
    },
    hitRateStep('hit-rate-after', input),
  ];
}

export const cacheWarmRunbook: RunbookDefinition<CacheWarmParams, CacheWarmTarget, State, CacheWarmResult> = {
  type: TYPE,
  schema: cacheWarmInputSchema,
  subject: (i) => `cache warming of ${i.service}`,
  target: (i) => i.service,
  resolve: (input) =>
    cacheWarming.resolveCacheWarm({
      service: input.service,
      ...(input.activeDays !== undefined ? { activeDays: input.activeDays } : {}),
      ...(input.metrics ? { metrics: input.metrics } : {}),
    }),
  exclusive: (i) => ({ key: `cache:${i.service}`, waitAtMost: '10m' }),
  initialState: () => ({}),
  steps,
  completed: (r) => {
    const w = r.state.warm;
    const rates = r.state.before || r.state.after ? `; hit rate ${describeRate(r.state.before)} -> ${describeRate(r.state.after)}` : '';
    return (
      `warmed ${w?.keys ?? 0} keys for ${w?.users ?? 0} active users of ${r.input.service} (${w?.errors ?? 0} errors, ${w?.keysPerSecond ?? 0} keys/s); ` +
      `${r.state.verify?.present ?? 0} of ${r.state.verify?.expected ?? 0} keys verified${rates}`
    );
  },
  progressNote: (r) => {
    const w = r.state.warm;
    return (
      `${r.state.views ? `Materialized views refreshed: ${r.state.views.length}. ` : ''}` +
      `${w ? `Warm finished: ${w.keys} keys written, ${w.errors} errors.` : 'The warm did not finish: the keys written so far stay (each holds a freshly computed value with its TTL).'} ` +
      'Only cache keys were written.'
    );
  },
  result: (base, r) => {
    const w = r.state.warm;
    const v = r.state.verify;
    return {
      ...base,
      service: r.input.service,
      ...(r.target ? { since: r.target.since } : {}),
      users: w?.users ?? r.target?.activeUsers ?? 0,
      keys: w?.keys ?? 0,
      batches: w?.batches ?? 0,
      batchesResumed: w?.batchesSkipped ?? 0,
      errors: w?.errors ?? 0,
      errorSamples: w?.errorSamples ?? [],
      keysPerSecond: w?.keysPerSecond ?? 0,
      ...(w ? { warmMs: w.ms } : {}),
      hitRateBefore: r.state.before?.rate ?? null,
      hitRateAfter: r.state.after?.rate ?? null,
      hitRates: { ...(r.state.before ? { before: r.state.before } : {}), ...(r.state.after ? { after: r.state.after } : {}) },
      ...(v ? { verify: { expected: v.expected, present: v.present, missing: v.missing, withoutTtl: v.withoutTtl, missingSamples: v.missingSamples } } : {}),
      ...(r.state.views ? { views: r.state.views } : {}),
    };
  },
};

export async function cacheWarm(input: CacheWarmInput, resume?: Resume<CacheWarmTarget, State>): Promise<CacheWarmResult> {
  return runRunbook(cacheWarmRunbook, input, resume);
}
