// The service's BullMQ queues (seed 004: webhooks, reports, notifications): a Queue and a Worker per name.
// A worker "processes" a job in a few ms and fails it when its data says `fail: true` (one attempt, so it
// lands in the failed set for queue recovery to retry). The workers follow the processors' replica count:
// scaled to 0 they pause (finishing the jobs they hold), so a test or runbook can stop consumption.
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker, type Job as BullJob } from 'bullmq';

export interface BullmqOptions {
  /** BullMQ's key prefix. */
  prefix: string;
  queues: readonly string[];
  /** Jobs each worker runs at once (default 4). */
  concurrency?: number;
}

export const DEFAULT_BULLMQ_QUEUES = ['webhooks', 'reports', 'notifications'] as const;

export interface BullJobData {
  fail?: boolean;
  data?: Record<string, unknown>;
}

/** BullMQ 5+ has no paused list: a paused queue keeps its jobs waiting and says so in `isPaused`. */
export type BullCounts = Record<'waiting' | 'active' | 'delayed' | 'failed' | 'completed' | 'prioritized', number> & { isPaused: boolean };

export class BullQueues {
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  private running = false;
  private started = false;

  constructor(redisUrl: string, opts: BullmqOptions, jobMs: number) {
    for (const name of opts.queues) {
      this.queues.set(name, new Queue(name, { connection: { url: redisUrl }, prefix: opts.prefix }));
      const worker = new Worker<BullJobData>(
        name,
        async (job: BullJob<BullJobData>) => {
          await sleep(jobMs);
          if (job.data.fail) throw new Error(`job ${job.id} asked to fail`);
          return 'done';
        },
        // Blocking connections must retry forever (BullMQ refuses a limit on them); not started until scaled up.
        { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix: opts.prefix, concurrency: opts.concurrency ?? 4, autorun: false },
      );
      worker.on('error', () => undefined);
      this.workers.push(worker);
    }
  }

  get names(): string[] {
    return [...this.queues.keys()];
  }

  has(name: string): boolean {
    return this.queues.has(name);
  }

  /** Adds a job (one attempt); with an id, adding the same id again returns the existing job (BullMQ's rule). */
  async add(name: string, job: { id?: string; fail?: boolean; data?: Record<string, unknown> }): Promise<string> {
    const data: BullJobData = { ...(job.fail ? { fail: true } : {}), ...(job.data ? { data: job.data } : {}) };
    const added = await this.queues.get(name)!.add('job', data, { attempts: 1, ...(job.id ? { jobId: job.id } : {}) });
    return added.id!;
  }

  async counts(): Promise<Record<string, BullCounts>> {
    const out: Record<string, BullCounts> = {};
    for (const [name, q] of this.queues) {
      const c = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
      out[name] = {
        waiting: c.waiting ?? 0,
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        failed: c.failed ?? 0,
        completed: c.completed ?? 0,
        prioritized: c.prioritized ?? 0,
        isPaused: await q.isPaused(),
      };
    }
    return out;
  }

  /** Workers run while the service has processors: paused (after their current jobs) at 0, resumed above. */
  async scale(replicas: number): Promise<void> {
    const run = replicas > 0;
    if (run === this.running) return;
    this.running = run;
    if (run && !this.started) {
      this.started = true;
      for (const w of this.workers) void w.run().catch(() => undefined);
    } else if (run) {
      await Promise.all(this.workers.map((w) => w.resume()));
    } else {
      await Promise.all(this.workers.map((w) => w.pause()));
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.close()));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }
}
