// Probe jobs: a job the runbook itself puts on a service's queue to prove that workers consume again.
// The service's probe API (config `queue.probeUrl`): POST {probeUrl} {"probeId"} enqueues one probe job,
// idempotently by id; GET {probeUrl}/{probeId} answers {"status": "queued"|"processing"|"done"|"failed"}.
import { Context, sleep } from '@temporalio/activity';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { withHeartbeat } from '../heartbeat';
import { platformFor } from '../platform';
import { readQueueStats, type QueueStats } from '../redis/queue';

export type ProbeStatus = 'queued' | 'processing' | 'done' | 'failed' | 'unknown';

export interface RecoveryResult {
  recovered: boolean;
  waitedMs: number;
  probe: ProbeStatus;
  /** Jobs waiting or in progress when the wait began, and at its end. */
  depthBefore: number;
  depthAfter: number;
  stats: QueueStats;
  /** The restart's rollout on the platform: complete once every processor is of the new generation. */
  rollout: 'complete' | 'in-progress' | 'not-reported';
}

export type ProbeActivities = ReturnType<typeof createProbeActivities>;

export function createProbeActivities(deps: Deps) {
  function probeUrl(service: string): string {
    const url = deps.service(service).queue?.probeUrl;
    if (!url) throw new InvalidTargetError(`service "${service}" has no queue.probeUrl configured, so recovery cannot be proven`);
    return url.replace(/\/$/, '');
  }

  async function call(method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: ProbeStatus }> {
    const res = await fetch(url, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    if (res.status === 404) return { status: 'unknown' };
    const text = await res.text();
    if (!res.ok) throw new Error(`probe API ${method} ${url} answered ${res.status}: ${text.slice(0, 200)}`);
    return JSON.parse(text) as { status: ProbeStatus };
  }

  const depth = (service: string): Promise<QueueStats> => readQueueStats(deps, service);

  return {
    /** Enqueues the probe job `probeId` (a repeat enqueues nothing) and says where it is. */
    async submitProbe(input: { service: string; probeId: string }): Promise<{ probeId: string; status: ProbeStatus }> {
      const r = await call('POST', probeUrl(input.service), { probeId: input.probeId });
      return { probeId: input.probeId, status: r.status };
    },

    /**
     * Waits, up to `timeoutMs`, until the workers consume again: the probe job is done and the queue is not
     * deeper than when the wait began. Not recovering is a result, not an error: the runbook decides.
     */
    async waitForRecovery(input: { service: string; probeId: string; timeoutMs: number; generation?: number; pollMs?: number }): Promise<RecoveryResult> {
      const url = `${probeUrl(input.service)}/${encodeURIComponent(input.probeId)}`;
      const carried = Context.current().info.heartbeatDetails as { startedAt?: number; depthBefore?: number } | undefined;
      const started = carried?.startedAt ?? Date.now();
      let stats = await depth(input.service);
      const depthBefore = carried?.depthBefore ?? stats.pending + stats.processing;
      let probe: ProbeStatus = (await call('GET', url)).status;
      // A restart has recovered when its rollout is done too: old processors finishing the probe prove little.
      const rolloutOf = async (): Promise<RecoveryResult['rollout']> => {
        if (input.generation === undefined) return 'not-reported';
        const r = (await platformFor(deps, input.service).state()).rollout;
        if (!r) return 'not-reported';
        return r.generation > input.generation || (r.generation === input.generation && r.status === 'complete') ? 'complete' : 'in-progress';
      };
      let rollout = await rolloutOf();
      const recovered = (): boolean => probe === 'done' && stats.pending + stats.processing <= depthBefore && rollout !== 'in-progress';
      return withHeartbeat(
        async () => {
          while (!recovered() && probe !== 'failed' && Date.now() - started < input.timeoutMs) {
            await sleep(input.pollMs ?? 250);
            [stats, probe, rollout] = await Promise.all([depth(input.service), call('GET', url).then((r) => r.status), rolloutOf()]);
          }
          return { recovered: recovered(), waitedMs: Date.now() - started, probe, rollout, depthBefore, depthAfter: stats.pending + stats.processing, stats };
        },
        () => ({ startedAt: started, depthBefore, probe, rollout, ...stats }),
      );
    },
  };
}
