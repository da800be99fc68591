// Verification after a change (seed 001 "Verification Steps"): smoke requests against the service, and its
// 5xx share and p95 response time read from Prometheus. A failed check is a result, not an error: the
// runbook decides what it means; these fail only when they cannot ask (retried).
import type { Deps } from '../deps';
import { networkErrorCode } from '../http/health';

export interface SmokeResult {
  name: string;
  ok: boolean;
  /** Requests sent and how many answered one of the expected statuses. */
  sent: number;
  passed: number;
  statuses: Record<string, number>;
}

export interface MetricsCheck {
  /** false: the service had no traffic in the window (nothing to judge), or no metrics are configured. */
  measured: boolean;
  window: string;
  errorRatio: number | null;
  p95Seconds: number | null;
  maxErrorRatio: number;
  maxP95Seconds: number;
  /** Empty when within bounds. */
  breaches: string[];
  detail: string;
}

interface PromVector {
  status: string;
  error?: string;
  data?: { resultType: string; result: Array<{ value: [number, string] }> };
}

/** The first sample of an instant query, or null when the query returns nothing (or NaN: no traffic). */
async function instant(prometheusUrl: string, query: string): Promise<number | null> {
  const url = `${prometheusUrl.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new Error(`Prometheus at ${prometheusUrl} is not reachable: ${networkErrorCode(err)}`);
  }
  const body = (await res.json().catch(() => ({ status: 'error', error: `HTTP ${res.status}` }))) as PromVector;
  if (body.status !== 'success') throw new Error(`Prometheus refused the query ${query}: ${body.error ?? res.status}`);
  const v = body.data?.result[0]?.value[1];
  if (v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

export type VerifyActivities = ReturnType<typeof createVerifyActivities>;

export function createVerifyActivities(deps: Deps) {
  return {
    /** Sends each configured smoke request `times` times (spread 50 ms apart). */
    async smokeTest(input: { service: string; times?: number }): Promise<SmokeResult[]> {
      const svc = deps.service(input.service);
      const times = Math.min(Math.max(input.times ?? 5, 1), 100);
      const out: SmokeResult[] = [];
      for (const s of svc.smoke) {
        const r: SmokeResult = { name: s.name, ok: false, sent: 0, passed: 0, statuses: {} };
        for (let i = 0; i < times; i++) {
          let status: string;
          try {
            const res = await fetch(s.url, {
              method: s.method,
              ...(s.body ? { body: JSON.stringify(s.body), headers: { 'content-type': 'application/json' } } : {}),
              signal: AbortSignal.timeout(5000),
            });
            await res.arrayBuffer();
            status = String(res.status);
            if (s.expectStatus.includes(res.status)) r.passed++;
          } catch (err) {
            status = networkErrorCode(err);
          }
          r.sent++;
          r.statuses[status] = (r.statuses[status] ?? 0) + 1;
          if (i < times - 1) await new Promise((done) => setTimeout(done, 50));
        }
        r.ok = r.passed === r.sent;
        out.push(r);
      }
      return out;
    },

    /** The service's 5xx share and p95 over the last `window` (a Prometheus duration such as 30s), against its bounds. */
    async checkServiceMetrics(input: { service: string; window: string }): Promise<MetricsCheck> {
      const m = deps.service(input.service).metrics;
      if (!/^\d+(ms|s|m|h)$/.test(input.window)) throw new Error(`window must be a Prometheus duration such as 30s, not "${input.window}"`);
      if (!m) {
        return {
          measured: false,
          window: input.window,
          errorRatio: null,
          p95Seconds: null,
          maxErrorRatio: 0,
          maxP95Seconds: 0,
          breaches: [],
          detail: `no metrics configured for ${input.service} (services.${input.service}.metrics): not measured`,
        };
      }
      const q = (expr: string) => expr.split('$window').join(input.window);
      const [errorRatio, p95Seconds] = await Promise.all([instant(m.prometheusUrl, q(m.errorRatio)), instant(m.prometheusUrl, q(m.p95Seconds))]);
      const breaches: string[] = [];
      if (errorRatio !== null && errorRatio > m.maxErrorRatio)
        breaches.push(`5xx share ${(errorRatio * 100).toFixed(1)}% > ${(m.maxErrorRatio * 100).toFixed(1)}%`);
      if (p95Seconds !== null && p95Seconds > m.maxP95Seconds) breaches.push(`p95 ${p95Seconds.toFixed(2)}s > ${m.maxP95Seconds}s`);
      const measured = errorRatio !== null || p95Seconds !== null;
      const detail = measured
        ? `over ${input.window}: 5xx ${errorRatio === null ? 'n/a' : `${(errorRatio * 100).toFixed(1)}%`}, p95 ${p95Seconds === null ? 'n/a' : `${p95Seconds.toFixed(3)}s`}`
        : `no requests in the last ${input.window}: nothing to judge`;
      return { measured, window: input.window, errorRatio, p95Seconds, maxErrorRatio: m.maxErrorRatio, maxP95Seconds: m.maxP95Seconds, breaches, detail };
    },
  };
}
