// Probe jobs: an operator (a runbook) enqueues a job under an id it chose and polls its status, to prove
// that the processors consume work again. The status lives in its own key for an hour.
import type { Redis } from 'ioredis';
import type { Job, QueueNames } from './jobs';

export type ProbeStatus = 'queued' | 'processing' | 'done' | 'failed';

const TTL_SECONDS = 3600;

// Claiming the id and enqueueing happen in one script: a crash between the two would leave a probe
// "queued" with no job behind it, and every retry of the caller would then wait for nothing.
const ENQUEUE = `
if redis.call('SET', KEYS[1], 'queued', 'NX', 'EX', ARGV[2]) then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  return {1, 'queued'}
end
return {0, redis.call('GET', KEYS[1])}
`;

export class Probes {
  constructor(
    private readonly redis: Redis,
    private readonly queue: QueueNames,
    private readonly stateKey: string,
  ) {}

  key(probeId: string): string {
    return `${this.stateKey}:probe:${probeId}`;
  }

  /** Enqueues the probe job unless this id was enqueued before; either way, answers its status. */
  async enqueue(probeId: string): Promise<{ created: boolean; status: ProbeStatus }> {
    const job: Job = { id: `probe-${probeId}`, reportId: 1, probe: probeId };
    const [created, status] = (await this.redis.eval(ENQUEUE, 2, this.key(probeId), this.queue.pending, JSON.stringify(job), TTL_SECONDS)) as [
      number,
      ProbeStatus,
    ];
    return { created: created === 1, status };
  }

  async status(probeId: string): Promise<ProbeStatus | undefined> {
    return ((await this.redis.get(this.key(probeId))) as ProbeStatus | null) ?? undefined;
  }

  /**
   * Records a probe job's progress; does nothing for other jobs. XX: an expired probe is not brought
   * back. Best effort: a processor must not drop the job it holds because a status write failed.
   */
  async mark(job: Job | undefined, status: ProbeStatus): Promise<void> {
    if (!job?.probe) return;
    await this.redis.set(this.key(job.probe), status, 'KEEPTTL', 'XX').catch(() => undefined);
  }
}
