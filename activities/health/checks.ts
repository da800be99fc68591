// The health checks of one service (seed 002 "Daily Health Check", "Weekly"; 004 "Morning Checklist").
// Each returns report lines and never throws for an unhealthy target: a server down, a full disk or a stale
// job is a result with status critical. Only configuration errors (InvalidTargetError) are thrown. Every
// check is bounded in time, so a hung server becomes "no answer within 10s", not a hung run.
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import type { ServiceConfig } from '../../config/schema';
import { durationMs } from '../../common/duration';
import type { HealthCheckResult, HealthSnapshot } from '../../common/health-check';
import { parseInfo, readCacheStats } from '../cache/stats';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { networkErrorCode, probe } from '../http/health';
import { createQueueRecoveryActivities } from '../queues/recovery';
import { servedCertificate } from '../tls/served';

export const CHECK_TIMEOUT_MS = 10_000;

type R = HealthCheckResult;

/** `fn`, or a rejection after `ms`: a server that never answers is as unhealthy as one that refuses. */
export async function within<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000}s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A message safe for a report: one line, bounded, never a connection URL. */
export function reason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg
    .replace(/\w+:\/\/[^\s]*/g, '<url>')
    .replace(/\s+/g, ' ')
    .slice(0, 200);
}

/** Runs a check; an error other than a configuration error becomes `onError`'s critical line. */
async function guarded(fn: () => Promise<R[]>, onError: (why: string) => R): Promise<R[]> {
  try {
    return await within(CHECK_TIMEOUT_MS, fn);
  } catch (err) {
    if (err instanceof InvalidTargetError) throw err;
    return [onError(reason(err))];
  }
}

const pct = (x: number): number => Math.round(x * 1000) / 10;

/** Status of a ratio: warning at the threshold, critical halfway between it and 100 %. */
export function ratioStatus(ratio: number, threshold: number): 'ok' | 'warning' | 'critical' {
  if (ratio >= threshold + (1 - threshold) / 2) return 'critical';
  return ratio >= threshold ? 'warning' : 'ok';
}

const ratioThreshold = (t: number): string => `< ${pct(t)} % (critical from ${pct(t + (1 - t) / 2)} %)`;

type Named = Pick<R, 'id' | 'check' | 'name'>;

/** A used share against its threshold (connections, memory): critical is P2, the store still answers. */
function ratioLine(base: Named, ratio: number, t: number, detail: string): R {
  const status = ratioStatus(ratio, t);
  return { ...base, status, value: pct(ratio), unit: '%', threshold: ratioThreshold(t), detail, ...(status === 'critical' ? { severity: 'P2' as const } : {}) };
}

/** A store that does not answer: critical, P1. */
const down =
  (base: Named) =>
  (why: string): R => ({ ...base, status: 'critical', value: null, detail: `down: ${why}`, severity: 'P1' });

/** The service's Redis targets: its queue's, cache's and BullMQ's, each once. */
export function redisTargetsOf(svc: ServiceConfig): string[] {
  return [...new Set([svc.queue?.redis, svc.cache?.redis, svc.bullmq?.redis].filter((n): n is string => !!n))];
}

export function createChecks(deps: Deps) {
  const queues = createQueueRecoveryActivities(deps);

  async function http(svc: ServiceConfig): Promise<R[]> {
    const h = await probe(svc.healthUrl, CHECK_TIMEOUT_MS);
    return [
      {
        id: 'http',
        check: 'http',
        name: 'HTTP health',
        status: h.healthy ? 'ok' : 'critical',
        value: h.status ?? 'no answer',
        threshold: '2xx',
        detail: h.healthy ? `${h.latencyMs} ms` : `${h.detail}`.replace(/\s+/g, ' ').slice(0, 200),
        ...(h.healthy ? {} : { severity: 'P1' as const }),
      },
    ];
  }

  async function postgres(svc: ServiceConfig): Promise<R[]> {
    const t = svc.health.thresholds.pgConnections;
    const base = (target: string): Named => ({ id: `postgres:${target}`, check: 'postgres', name: `Postgres ${target} connections` });
    const each = svc.postgres.map((target) =>
      guarded(
        async () => {
          const res = await deps
            .pg(target)
            .query<{ n: number; max: number }>(`SELECT count(*)::int AS n, current_setting('max_connections')::int AS max FROM pg_stat_activity`);
          const { n, max } = res.rows[0]!;
          return [ratioLine(base(target), n / max, t, `${n} of max_connections ${max}`)];
        },
        down(base(target)),
      ),
    );
    return (await Promise.all(each)).flat();
  }

  async function redis(svc: ServiceConfig): Promise<R[]> {
    const t = svc.health.thresholds.redisMemory;
    const base = (target: string): Named => ({ id: `redis:${target}`, check: 'redis', name: `Redis ${target} memory` });
    const each = redisTargetsOf(svc).map((target) =>
      guarded(
        async () => {
          const r = deps.redis(target);
          const pong = await r.ping();
          const m = parseInfo(await r.info('memory'));
          const used = Number(m.used_memory) || 0;
          const max = Number(m.maxmemory) || 0;
          // No maxmemory: Redis grows until the machine runs out; nothing to compare with, so used bytes are reported.
          if (!max)
            return [
              { ...base(target), status: 'ok' as const, value: used, unit: 'bytes', detail: `PING ${pong}; no maxmemory set: usage is not bounded by Redis` },
            ];
          return [ratioLine(base(target), used / max, t, `PING ${pong}; ${used} of maxmemory ${max} bytes (policy ${m.maxmemory_policy ?? '?'})`)];
        },
        down(base(target)),
      ),
    );
    return (await Promise.all(each)).flat();
  }

  async function mongo(svc: ServiceConfig): Promise<R[]> {
    const each = svc.mongo.map((target) =>
      guarded(
        async () => {
          const started = Date.now();
          await deps.mongo(target).command({ ping: 1 });
          return [
            { id: `mongo:${target}`, check: 'mongo', name: `MongoDB ${target} ping`, status: 'ok', value: Date.now() - started, unit: 'ms', detail: 'ping ok' },
          ];
        },
        down({ id: `mongo:${target}`, check: 'mongo', name: `MongoDB ${target} ping` }),
      ),
    );
    return (await Promise.all(each)).flat();
  }

  async function queueDepths(service: string, svc: ServiceConfig): Promise<R[]> {
    if (!svc.queue && !svc.bullmq)
      return [
        { id: 'queues', check: 'queues', name: 'queues', status: 'skipped', value: null, detail: 'no queue configured (services.<svc>.queue / .bullmq)' },
      ];
    return guarded(
      async () =>
        (await queues.checkQueues({ service })).map((q): R => {
          const t = q.layout === 'list' ? svc.queue!.thresholds : svc.bullmq!.thresholds;
          const depth = q.layout === 'list' ? q.pending : q.waiting + q.prioritized;
          return {
            id: `queue:${q.name}`,
            check: 'queues',
            name: `queue ${q.name}`,
            status: q.status,
            value: depth,
            unit: 'waiting',
            threshold: `waiting ≤ ${t.warning} (critical > ${t.critical}), failed ≤ ${t.failedWarning} (critical > ${t.failedCritical})`,
            detail:
              q.layout === 'list'
                ? `${q.pending} pending, ${q.processing} processing, ${q.failed} failed, ${q.stuck} stuck${q.reasons.length ? `; ${q.reasons.join('; ')}` : ''}`
                : `${q.waiting} waiting, ${q.active} active, ${q.failed} failed${q.paused ? ', paused' : ''}${q.reasons.length ? `; ${q.reasons.join('; ')}` : ''}`,
            ...(q.status === 'critical' ? { severity: 'P2' as const } : {}),
          };
        }),
      (why) => ({ id: 'queues', check: 'queues', name: 'queues', status: 'critical', value: null, detail: `cannot read the queues: ${why}`, severity: 'P2' }),
    );
  }

  /** Share of 5xx answers: from Prometheus over health.errorWindow, else from the service's own counters. */
  async function errorRate(svc: ServiceConfig): Promise<R[]> {
    const t = svc.health.thresholds.errorRate;
    const line = (ratio: number, detail: string): R => {
      const status = ratio > t ? 'critical' : ratio > t / 2 ? 'warning' : 'ok';
      return {
        id: 'error-rate',
        check: 'error-rate',
        name: 'error rate',
        status,
        value: pct(ratio),
        unit: '%',
        threshold: `≤ ${pct(t)} % (warning above ${pct(t / 2)} %)`,
        detail,
        ...(status === 'critical' ? { severity: 'P2' as const } : {}),
      };
    };
    let promNote = '';
    const m = svc.metrics;
    if (m) {
      try {
        const query = m.errorRatio.replaceAll('$window', svc.health.errorWindow);
        const res = await fetch(`${m.prometheusUrl.replace(/\/$/, '')}/api/v1/query?${new URLSearchParams({ query }).toString()}`, {
          signal: AbortSignal.timeout(5000),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const body = (await res.json()) as { data?: { result?: Array<{ value: [number, string] }> } };
        const v = Number(body.data?.result?.[0]?.value[1]);
        // No series or NaN: a ratio of sums is empty when nothing answered 5xx (no such series) and NaN when
        // nothing was asked (0/0). Neither is an error.
        return [line(Number.isFinite(v) ? v : 0, `Prometheus, last ${svc.health.errorWindow}${Number.isFinite(v) ? '' : ': no 5xx answers'}`)];
      } catch (err) {
        promNote = `; Prometheus did not answer (${err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : reason(networkErrorCode(err))})`;
      }
    }
    const skipped = (detail: string): R => ({ id: 'error-rate', check: 'error-rate', name: 'error rate', status: 'skipped', value: null, detail });
    const url = svc.health.metricsUrl ?? new URL('/metrics', svc.healthUrl).toString();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const { total, errors } = countRequests(await res.text());
      if (!total) return [skipped(`no *_http_requests_total counters at /metrics${promNote}`)];
      return [line(errors / total, `${errors} of ${total} answers 5xx since the service started (its /metrics)${promNote}`)];
    } catch (err) {
      // The service not answering is the HTTP check's finding; here it only means no figure.
      return [skipped(`no metrics: ${reason(networkErrorCode(err))}${promNote}`)];
    }
  }

  async function jobs(svc: ServiceConfig): Promise<R[]> {
    if (!svc.health.jobs.length)
      return [{ id: 'jobs', check: 'jobs', name: 'background jobs', status: 'skipped', value: null, detail: 'no jobs configured (health.jobs)' }];
    const target = svc.queue?.redis ?? svc.bullmq?.redis ?? svc.cache?.redis;
    if (!target) throw new InvalidTargetError('health.jobs needs a redis target of the service (queue, bullmq or cache)');
    const each = svc.health.jobs.map((j) =>
      guarded(
        async () => {
          const raw = await deps.redis(target).get(j.redisKey);
          const base = { id: `job:${j.name}`, check: 'jobs' as const, name: `job ${j.name}`, threshold: `completed within ${j.maxAge}` };
          const at = raw === null ? NaN : Number(raw);
          if (!Number.isFinite(at)) return [{ ...base, status: 'warning' as const, value: null, detail: `no completion recorded at ${j.redisKey}` }];
          const ageS = Math.max(0, Math.round((Date.now() - at) / 1000));
          const stale = ageS * 1000 > durationMs(j.maxAge);
          return [
            {
              ...base,
              status: stale ? ('critical' as const) : ('ok' as const),
              value: ageS,
              unit: 's ago',
              detail: `last completed ${new Date(at).toISOString()}`,
              ...(stale ? { severity: 'P3' as const } : {}),
            },
          ];
        },
        (why) => ({
          id: `job:${j.name}`,
          check: 'jobs',
          name: `job ${j.name}`,
          status: 'critical',
          value: null,
          detail: `cannot read ${j.redisKey}: ${why}`,
          severity: 'P3',
        }),
      ),
    );
    return (await Promise.all(each)).flat();
  }

  async function disk(svc: ServiceConfig): Promise<R[]> {
    const t = svc.health.thresholds.disk;
    if (!svc.health.dataDirs.length)
      return [{ id: 'disk', check: 'disk', name: 'disk', status: 'skipped', value: null, detail: 'no data directories configured (health.dataDirs)' }];
    return Promise.all(
      svc.health.dataDirs.map(async (dir): Promise<R> => {
        const base = { id: `disk:${dir}`, check: 'disk' as const, name: `disk ${dir}` };
        try {
          const s = await statfs(path.resolve(dir));
          // As df counts it: the reserved blocks are neither used nor available to us.
          const used = (s.blocks - s.bfree) * s.bsize;
          const avail = s.bavail * s.bsize;
          const ratio = used / (used + avail);
          const status = ratioStatus(ratio, t);
          return {
            ...base,
            status,
            value: pct(ratio),
            unit: '%',
            threshold: ratioThreshold(t),
            detail: `${(avail / 2 ** 30).toFixed(1)} GiB free`,
            ...(status === 'critical' ? { severity: 'P2' as const } : {}),
          };
        } catch (err) {
          return { ...base, status: 'warning', value: null, detail: `cannot read: ${reason(err)}` };
        }
      }),
    );
  }

  async function certificates(svc: ServiceConfig): Promise<R[]> {
    if (!svc.health.certificates.length)
      return [
        { id: 'certificates', check: 'certificates', name: 'certificates', status: 'skipped', value: null, detail: 'none configured (health.certificates)' },
      ];
    return Promise.all(
      svc.health.certificates.map(async (name): Promise<R> => {
        const c = deps.config.certificates[name];
        if (!c) throw new InvalidTargetError(`certificate "${name}" is not configured`);
        const base = { id: `certificate:${name}`, check: 'certificates' as const, name: `certificate ${name} (${c.host})`, threshold: `> ${c.renewWithin}` };
        try {
          const s = await servedCertificate(c.endpoint, c.host, c.caFile, CHECK_TIMEOUT_MS);
          const renewDays = durationMs(c.renewWithin) / 86_400_000;
          const problems = [!s.hostMatches && `does not cover ${c.host}`, !s.trusted && 'not issued by the configured CA'].filter(Boolean);
          const status = s.daysLeft < 0 ? 'critical' : s.daysLeft <= renewDays || problems.length ? 'warning' : 'ok';
          return {
            ...base,
            status,
            value: s.daysLeft,
            unit: 'days',
            detail: `expires ${s.notAfter}${problems.length ? `; ${problems.join('; ')}` : ''}`,
            ...(status === 'critical' ? { severity: 'P2' as const } : {}),
          };
        } catch (err) {
          return { ...base, status: 'critical', value: null, detail: reason(err), severity: 'P2' };
        }
      }),
    );
  }

  async function slowQueries(svc: ServiceConfig): Promise<R[]> {
    const limit = svc.health.thresholds.slowQueryMs;
    const each = svc.postgres.map((target) =>
      guarded(
        async (): Promise<R[]> => {
          const base = { id: `slow-queries:${target}`, check: 'slow-queries' as const, name: `slow queries ${target}`, threshold: `mean ≤ ${limit} ms` };
          const pg = deps.pg(target);
          const ext = await pg.query(`SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'`);
          if (!ext.rowCount) return [{ ...base, status: 'skipped', value: null, detail: 'the pg_stat_statements extension is not installed in this database' }];
          let rows: Array<{ query: string; calls: string; mean: number }>;
          try {
            rows = (
              await pg.query<{ query: string; calls: string; mean: number }>(
                `SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 120) AS query, calls::text AS calls, round(mean_exec_time::numeric, 1)::float8 AS mean
                 FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND mean_exec_time > $1
                 ORDER BY mean_exec_time DESC LIMIT 5`,
                [limit],
              )
            ).rows;
          } catch (err) {
            // Installed but not preloaded: the view exists and refuses to answer.
            return [{ ...base, status: 'skipped', value: null, detail: `pg_stat_statements cannot be read: ${reason(err)}` }];
          }
          return [
            {
              ...base,
              status: rows.length ? 'warning' : 'ok',
              value: rows.length,
              unit: 'statements',
              detail: rows.length ? rows.map((r) => `${r.mean} ms × ${r.calls}: ${r.query}`).join(' | ') : 'none',
            },
          ];
        },
        (why) => ({
          id: `slow-queries:${target}`,
          check: 'slow-queries',
          name: `slow queries ${target}`,
          status: 'skipped',
          value: null,
          detail: `cannot ask: ${why}`,
        }),
      ),
    );
    return (await Promise.all(each)).flat();
  }

  async function cacheHitRate(svc: ServiceConfig, baseline?: Baseline): Promise<R[]> {
    const c = svc.cache;
    const base = { id: 'cache-hit-rate', check: 'cache-hit-rate' as const, name: 'cache hit rate' };
    if (!c) return [{ ...base, status: 'skipped', value: null, detail: 'no cache configured (services.<svc>.cache)' }];
    return guarded(
      async () => {
        const now = await readCacheStats(deps.redis(c.redis));
        const before = baseline?.snapshot.cache;
        // Since last week's run when the counters have not been reset since (a restart resets them).
        const weekly = before && now.hits >= before.hits && now.misses >= before.misses;
        const hits = weekly ? now.hits - before.hits : now.hits;
        const misses = weekly ? now.misses - before.misses : now.misses;
        const since = weekly ? `since ${baseline.at}` : `since Redis started${before ? ' (its counters were reset after last week’s run)' : ' (no baseline)'}`;
        if (hits + misses === 0) return [{ ...base, status: 'skipped', value: null, detail: `no lookups ${since}` }];
        const rate = hits / (hits + misses);
        // A low hit rate costs latency, not availability: a warning for people, never an incident.
        const status = rate < c.hitRate.warnBelow ? 'warning' : 'ok';
        return [
          {
            ...base,
            status,
            value: pct(rate),
            unit: '%',
            threshold: `≥ ${pct(c.hitRate.warnBelow)} % (investigate below ${pct(c.hitRate.actBelow)} %)`,
            detail: `${hits} hits, ${misses} misses ${since}${rate < c.hitRate.actBelow ? '; below the action threshold: investigate the cache strategy' : ''}`,
          },
        ];
      },
      (why) => ({ ...base, status: 'critical', value: null, detail: `cannot read the cache's Redis: ${why}`, severity: 'P2' }),
    );
  }

  /** Sizes now (for this week's snapshot), each store on its own: one down leaves the others measured. */
  async function snapshot(svc: ServiceConfig): Promise<{ snap: HealthSnapshot; errors: string[] }> {
    const snap: HealthSnapshot = { at: new Date().toISOString(), postgres: {}, redis: {}, mongo: {} };
    const errors: string[] = [];
    const tryOne = async (what: string, fn: () => Promise<void>) => {
      try {
        await within(CHECK_TIMEOUT_MS, fn);
      } catch (err) {
        errors.push(`${what}: ${reason(err)}`);
      }
    };
    await Promise.all([
      ...svc.postgres.map((t) =>
        tryOne(`postgres ${t}`, async () => {
          const r = await deps.pg(t).query<{ bytes: string }>('SELECT pg_database_size(current_database())::text AS bytes');
          snap.postgres[t] = { bytes: Number(r.rows[0]!.bytes) };
        }),
      ),
      ...redisTargetsOf(svc).map((t) =>
        tryOne(`redis ${t}`, async () => {
          const s = await readCacheStats(deps.redis(t));
          snap.redis[t] = { keys: s.keys, usedMemory: s.usedMemory };
          if (svc.cache?.redis === t) snap.cache = { hits: s.hits, misses: s.misses };
        }),
      ),
      ...svc.mongo.map((t) =>
        tryOne(`mongo ${t}`, async () => {
          const s = (await deps.mongo(t).stats()) as { dataSize?: number };
          snap.mongo[t] = { dataSize: Number(s.dataSize ?? 0) };
        }),
      ),
    ]);
    return { snap, errors };
  }

  function growth(svc: ServiceConfig, now: HealthSnapshot, errors: string[], baseline?: Baseline): R[] {
    const limit = svc.health.thresholds.growth;
    const items: Array<[string, string, number, number | undefined]> = [
      ...Object.entries(now.postgres).map(([t, v]): [string, string, number, number | undefined] => [
        `postgres:${t}`,
        `Postgres ${t} size`,
        v.bytes,
        baseline?.snapshot.postgres[t]?.bytes,
      ]),
      ...Object.entries(now.redis).map(([t, v]): [string, string, number, number | undefined] => [
        `redis:${t}`,
        `Redis ${t} keys`,
        v.keys,
        baseline?.snapshot.redis[t]?.keys,
      ]),
      ...Object.entries(now.mongo).map(([t, v]): [string, string, number, number | undefined] => [
        `mongo:${t}`,
        `MongoDB ${t} data size`,
        v.dataSize,
        baseline?.snapshot.mongo[t]?.dataSize,
      ]),
    ];
    const out: R[] = items.map(([id, name, value, before]) => {
      const base = { id: `growth:${id}`, check: 'growth' as const, name: `growth of ${name}` };
      if (!baseline) return { ...base, status: 'skipped', value: null, detail: `skipped: no baseline (no earlier weekly run); now ${value}` };
      if (before === undefined) return { ...base, status: 'skipped', value: null, detail: `skipped: not measured by the run of ${baseline.at}; now ${value}` };
      const change = before > 0 ? (value - before) / before : value > 0 ? Infinity : 0;
      return {
        ...base,
        status: change > limit ? 'warning' : 'ok',
        value: Number.isFinite(change) ? pct(change) : 'new',
        unit: Number.isFinite(change) ? '%' : '',
        threshold: `≤ ${pct(limit)} % a week`,
        detail: `${before} -> ${value} since ${baseline.at}`,
      };
    });
    for (const e of errors)
      out.push({
        id: `growth:${e.split(':')[0]!.replace(' ', ':')}`,
        check: 'growth',
        name: 'growth',
        status: 'skipped',
        value: null,
        detail: `not measured: ${e}`,
      });
    return out;
  }

  return { http, postgres, redis, mongo, queueDepths, errorRate, jobs, disk, certificates, slowQueries, cacheHitRate, snapshot, growth };
}

export interface Baseline {
  at: string;
  workflowId: string;
  snapshot: HealthSnapshot;
}

/** Requests and 5xx answers from Prometheus text: every `*http_requests_total` with a code/status label, /metrics itself left out. */
export function countRequests(text: string): { total: number; errors: number } {
  let total = 0;
  let errors = 0;
  for (const line of text.split('\n')) {
    const m = /^(\w*http_requests_total)\{([^}]*)\}\s+([0-9.eE+-]+)/.exec(line);
    if (!m) continue;
    const labels = m[2]!;
    if (/route="\/metrics"/.test(labels)) continue;
    const code = /(?:code|status)="(\d{3})"/.exec(labels)?.[1];
    if (!code) continue;
    const n = Number(m[3]);
    total += n;
    if (code.startsWith('5')) errors += n;
  }
  return { total, errors };
}
