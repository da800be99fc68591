// The cache-warm runbook's contract (seed 002 "Cache Warming": every 6 hours, users active in the last 7 days,
// METRICS_TO_CACHE; "Evening Routine": refresh materialized views, warm the cache): input schema, result,
// example input and the summary lines.
import { z } from 'zod';
import type { CacheMetric, HitRate, RefreshedView, VerifyWarmResult } from '../../activities';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, duration, targetName } from '../lib/schema';

/** Seed 002 METRICS_TO_CACHE (the same names as the config's cache.metrics). */
export const WARM_METRICS = ['task_totals', 'completion_rate', 'priority_distribution', 'status_distribution', 'productivity_score'] as const;
// Fails to compile when the activities' metric names and these drift apart.
const _sameMetrics: [CacheMetric] extends [(typeof WARM_METRICS)[number]] ? ([(typeof WARM_METRICS)[number]] extends [CacheMetric] ? true : never) : never =
  true;

const int = (what: string, min: number, max: number) =>
  z
    .number({ error: `must be a whole number from ${min} to ${max} (${what})` })
    .int(`must be a whole number from ${min} to ${max} (${what})`)
    .min(min, `must be at least ${min} (${what})`)
    .max(max, `must be at most ${max} (${what})`);

export const cacheWarmInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service whose cache to warm, e.g. "reports"'),
    activeDays: int('days of activity', 1, 365).optional().describe('warm users active in the last N days (default config cache.activeDays, 7)'),
    metrics: z
      .array(z.enum(WARM_METRICS, { error: `must be one of ${WARM_METRICS.join(', ')}` }))
      .min(1, 'must name at least one metric')
      .refine((m) => new Set(m).size === m.length, 'must not name a metric twice')
      .optional()
      .describe('metrics to warm per user (default config cache.metrics: all five)'),
    batchSize: int('users per batch', 1, 10_000).default(500).describe('users per batch: one Postgres query and one pipelined write each'),
    concurrency: int('batches at once', 1, 32).default(4).describe('batches in flight at once'),
    maxErrors: int('errors tolerated', 0, 1_000_000_000)
      .default(100)
      .describe('error budget: past this many failed writes the warm stops at once and the run fails'),
    hitRateWindow: z
      .union([z.literal('0s'), duration('10m')], { error: 'must be "0s" (skip) or a duration of at most 10m such as "30s"' })
      .default('30s')
      .describe('hit rate measured over this window before and after warming; "0s" skips it'),
    hitRate: z.boolean().default(true).describe('false: do not measure the hit rate'),
    refreshViews: z.boolean().default(false).describe('refresh every materialized view of the cache’s database first (evening routine)'),
  })
  .strict();

export type CacheWarmInput = z.input<typeof cacheWarmInputSchema>;
export type CacheWarmParams = z.output<typeof cacheWarmInputSchema>;

export interface CacheWarmResult extends RunbookResult {
  service: string;
  /** Users with last activity at or after this were warmed. */
  since?: string;
  users: number;
  keys: number;
  batches: number;
  /** Batches an earlier attempt of the warm finished (a worker died), not redone. */
  batchesResumed: number;
  errors: number;
  errorSamples: string[];
  keysPerSecond: number;
  warmMs?: number;
  /** Hit rate (0..1) over the window before and after warming; null when not measured or no lookups. */
  hitRateBefore: number | null;
  hitRateAfter: number | null;
  hitRates: { before?: HitRate; after?: HitRate };
  verify?: Omit<VerifyWarmResult, 'ms'>;
  views?: RefreshedView[];
}

export function exampleCacheWarmInput(): CacheWarmInput {
  return { service: 'reports', requestedBy: 'bob', reason: 'warm the analytics cache after a deploy', hitRateWindow: '5s' };
}

const pct = (r: number | null | undefined): string => (r === null || r === undefined ? 'n/a' : `${(r * 100).toFixed(1)}%`);

export function describeRate(h: HitRate | undefined): string {
  if (!h) return 'not measured';
  return h.rate === null
    ? `no lookups over ${Math.round(h.windowMs / 1000)}s`
    : `${pct(h.rate)} (${h.hits} hits, ${h.misses} misses over ${Math.round(h.windowMs / 1000)}s)`;
}

export function summarizeCacheWarm(r: CacheWarmResult): string[] {
  const lines = [
    `${r.service}: ${r.keys} keys for ${r.users} active users${r.since ? ` (active since ${r.since})` : ''} in ${r.batches} batches` +
      `${r.batchesResumed ? ` (${r.batchesResumed} finished by an earlier attempt, not redone)` : ''}, ${r.keysPerSecond} keys/s`,
    `errors: ${r.errors}${r.errorSamples.length ? ` (${r.errorSamples.join(' | ')})` : ''}`,
  ];
  if (r.verify) lines.push(`verify: ${r.verify.present} of ${r.verify.expected} keys present, ${r.verify.missing} missing, ${r.verify.withoutTtl} without TTL`);
  if (r.views) lines.push(`materialized views refreshed: ${r.views.map((v) => `${v.view}${v.concurrently ? ' (concurrently)' : ''}`).join(', ') || 'none'}`);
  lines.push(`hit rate before: ${describeRate(r.hitRates.before)}; after: ${describeRate(r.hitRates.after)}`);
  return lines;
}
