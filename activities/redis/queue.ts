import { Context, sleep } from '@temporalio/activity';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { withHeartbeat } from '../heartbeat';

export interface QueueStats {
  pending: number;
  processing: number;
  failed: number;
}

export interface DrainResult extends QueueStats {
  drained: boolean;
  waitedMs: number;
}

export type QueueActivities = ReturnType<typeof createQueueActivities>;

/** The lengths of a service's job lists (waiting, being worked on, failed). */
export async function readQueueStats(deps: Deps, service: string): Promise<QueueStats> {
  const q = deps.service(service).queue;
  if (!q) throw new InvalidTargetError(`service "${service}" has no queue configured`);
  const r = deps.redis(q.redis);
  const [pending, processing, failed] = await Promise.all([r.llen(q.pending), r.llen(q.processing), r.llen(q.failed)]);
  return { pending, processing, failed };
}

export function createQueueActivities(deps: Deps) {
  const stats = (service: string): Promise<QueueStats> => readQueueStats(deps, service);

  return {
    async queueStats(input: { service: string }): Promise<QueueStats> {
      return stats(input.service);
    },

    /** Waits until no job is waiting or in progress, up to `timeoutMs`; heartbeats the counts meanwhile. */
    async waitForQueueDrain(input: { service: string; timeoutMs: number; pollMs?: number }): Promise<DrainResult> {
      // A retry after a worker crash goes on counting from the first attempt's start (heartbeat details).
      const started = (Context.current().info.heartbeatDetails as { startedAt?: number } | undefined)?.startedAt ?? Date.now();
      let last = await stats(input.service);
      return withHeartbeat(
        async () => {
          while (last.pending + last.processing > 0 && Date.now() - started < input.timeoutMs) {
            await sleep(input.pollMs ?? 500);
            last = await stats(input.service);
          }
          return { ...last, drained: last.pending + last.processing === 0, waitedMs: Date.now() - started };
        },
        () => ({ ...last, startedAt: started }),
      );
    },
  };
}
