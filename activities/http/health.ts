import type { Deps } from '../deps';

export interface HealthResult {
  healthy: boolean;
  status?: number;
  latencyMs: number;
  detail: string;
}

/** fetch() hides the socket error in `cause` (an AggregateError when several addresses were tried). */
export function networkErrorCode(err: unknown): string {
  const cause = (err as { cause?: { code?: string; errors?: Array<{ code?: string }>; message?: string } }).cause;
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (err as Error).message;
}

export async function probe(url: string, timeoutMs = 5000): Promise<HealthResult> {
  const started = Date.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.text()).slice(0, 300);
    return { healthy: res.ok, status: res.status, latencyMs: Date.now() - started, detail: body };
  } catch (err) {
    return { healthy: false, latencyMs: Date.now() - started, detail: networkErrorCode(err) };
  }
}

export type HealthActivities = ReturnType<typeof createHealthActivities>;

export function createHealthActivities(deps: Deps) {
  return {
    /** GET the service's health URL. Unhealthy is a result, not an error: the runbook decides what it means. */
    async checkHealth(input: { service: string }): Promise<HealthResult> {
      return probe(deps.service(input.service).healthUrl);
    },
  };
}
