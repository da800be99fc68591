// The per-user metrics of the cache (seed 002 "Cache Warming": METRICS_TO_CACHE), computed in one query for
// a set of users. Pure SQL and JSON, no Temporal: the demo service's cache-aside endpoint and the cache-warm
// activity both use it, so a warmed key holds exactly what the service would have computed.
//
//   task_totals            {total, open (todo + in_progress), done, cancelled}
//   completion_rate        done / (total - cancelled), 4 decimals; 0 without such tasks
//   priority_distribution  tasks per priority {low, medium, high, urgent}
//   status_distribution    tasks per status {todo, in_progress, done, cancelled}
//   productivity_score     tasks done in the 7 days up to `asOf`, weighted by priority (low 1, medium 2,
//                          high 3, urgent 5)
//
// Everything is computed "as of" a given time, which is stored with the value: a reader can recompute a key
// exactly, whenever it reads it.
import type { CACHE_METRICS } from '../../config/schema';

export type CacheMetric = (typeof CACHE_METRICS)[number];
export type MetricValue = number | Record<string, number>;

/** What a cache key holds: the value, when it was computed, who wrote it and in which activity attempt. */
export interface CachedValue {
  v: MetricValue;
  at: string;
  by: string;
  attempt: number;
}

export interface Queryable {
  query<R extends object>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

export const PRIORITY_WEIGHTS = { low: 1, medium: 2, high: 3, urgent: 5 } as const;

/** `<prefix><userId>:<metric>`, e.g. analytics:42:completion_rate. */
export function cacheKey(prefix: string, userId: string, metric: string): string {
  return `${prefix}${userId}:${metric}`;
}

export function encodeCached(v: MetricValue, at: string, by: string, attempt: number): string {
  return JSON.stringify({ v, at, by, attempt } satisfies CachedValue);
}

export function decodeCached(s: string | null): CachedValue | undefined {
  if (s === null) return undefined;
  try {
    const c = JSON.parse(s) as CachedValue;
    return c && typeof c === 'object' && 'v' in c ? c : undefined;
  } catch {
    return undefined;
  }
}

interface Row {
  user_id: string;
  total: number;
  todo: number;
  in_progress: number;
  done: number;
  cancelled: number;
  low: number;
  medium: number;
  high: number;
  urgent: number;
  score: number;
}

// One pass over the users' tasks (GROUP BY user, FILTER per count). Users that do not exist are left out.
const METRICS_SQL = `
SELECT u.id::text AS user_id,
  count(t.id)::int AS total,
  count(t.id) FILTER (WHERE t.status = 'todo')::int AS todo,
  count(t.id) FILTER (WHERE t.status = 'in_progress')::int AS in_progress,
  count(t.id) FILTER (WHERE t.status = 'done')::int AS done,
  count(t.id) FILTER (WHERE t.status = 'cancelled')::int AS cancelled,
  count(t.id) FILTER (WHERE t.priority = 'low')::int AS low,
  count(t.id) FILTER (WHERE t.priority = 'medium')::int AS medium,
  count(t.id) FILTER (WHERE t.priority = 'high')::int AS high,
  count(t.id) FILTER (WHERE t.priority = 'urgent')::int AS urgent,
  coalesce(sum(CASE t.priority WHEN 'low' THEN ${PRIORITY_WEIGHTS.low} WHEN 'medium' THEN ${PRIORITY_WEIGHTS.medium}
                               WHEN 'high' THEN ${PRIORITY_WEIGHTS.high} WHEN 'urgent' THEN ${PRIORITY_WEIGHTS.urgent} ELSE 0 END)
    FILTER (WHERE t.status = 'done' AND t.completed_at > $2::timestamptz - interval '7 days' AND t.completed_at <= $2::timestamptz), 0)::int AS score
FROM app_users u
LEFT JOIN user_tasks t ON t.user_id = u.id
WHERE u.id = ANY($1::bigint[])
GROUP BY u.id`;

function valueOf(r: Row, metric: CacheMetric): MetricValue {
  switch (metric) {
    case 'task_totals':
      return { total: r.total, open: r.todo + r.in_progress, done: r.done, cancelled: r.cancelled };
    case 'completion_rate': {
      const counted = r.total - r.cancelled;
      return counted > 0 ? Math.round((r.done * 10_000) / counted) / 10_000 : 0;
    }
    case 'priority_distribution':
      return { low: r.low, medium: r.medium, high: r.high, urgent: r.urgent };
    case 'status_distribution':
      return { todo: r.todo, in_progress: r.in_progress, done: r.done, cancelled: r.cancelled };
    case 'productivity_score':
      return r.score;
  }
}

/** The metrics of the given users as of `asOf`, in one query: userId -> metric -> value (unknown users absent). */
export async function computeUserMetrics(
  db: Queryable,
  userIds: readonly string[],
  metrics: readonly CacheMetric[],
  asOf: Date,
): Promise<Map<string, Partial<Record<CacheMetric, MetricValue>>>> {
  const out = new Map<string, Partial<Record<CacheMetric, MetricValue>>>();
  if (!userIds.length) return out;
  const { rows } = await db.query<Row>(METRICS_SQL, [userIds, asOf.toISOString()]);
  for (const r of rows) out.set(r.user_id, Object.fromEntries(metrics.map((m) => [m, valueOf(r, m)])));
  return out;
}
