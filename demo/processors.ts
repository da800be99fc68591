// The job processors and their supervisor, modelled on a Kubernetes Deployment: a desired replica count,
// a generation that each restart bumps, a graceful restart that rolls processors one at a time with
// maxSurge 0 (`kubectl rollout restart`), and a force restart that kills them all at once (`kubectl delete
// pod`). Fault injection can wedge processors, so runbooks can be tested against a rollout that never ends.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { Pool } from 'pg';
import { claimsKey, lastCompletedKey, parseJob, type Job, type QueueNames } from './jobs';
import type { JobMetrics } from './metrics';
import type { Probes } from './probes';
import type { PlatformStore } from './state';

export interface ProcessorDeps {
  redis: Redis;
  pool: Pool;
  mongo: Db;
  queue: QueueNames;
  metrics: JobMetrics;
  probes: Probes;
  store: PlatformStore;
  /** Simulated work per job. */
  jobMs: number;
  /** Told the desired count on every scale (the BullMQ workers pause at 0 and resume above it). */
  onScale?(replicas: number): Promise<void>;
}

// A job leaves the processing list only if it is still there: queue recovery may have put a stuck job back
// (or failed it) meanwhile, and pushing it on again would duplicate it. KEYS: processing, target list,
// claims; ARGV: raw, job id ('' when unparseable), 'head' | 'tail' | 'none' (where the target gets it).
const LEAVE = `
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
if ARGV[3] == 'head' then redis.call('LPUSH', KEYS[2], ARGV[1]) elseif ARGV[3] == 'tail' then redis.call('RPUSH', KEYS[2], ARGV[1]) end
if ARGV[2] ~= '' then redis.call('HDEL', KEYS[3], ARGV[2]) end
return 1
`;

export type RolloutStatus = 'none' | 'in-progress' | 'complete';

export interface RolloutState {
  status: RolloutStatus;
  generation: number;
  /** Processors of the newest generation running and able to work. */
  updated: number;
  /** Desired processors. */
  total: number;
}

interface Processor {
  readonly id: string;
  readonly generation: number;
  /** Asked to stop: it finishes the job it holds, then exits. */
  stop: boolean;
  /** Takes one more job and hangs on it; ignores stop requests. */
  wedged: boolean;
  /** Hanging on the job it holds; only a kill ends that. */
  stuck: boolean;
  killed: boolean;
  exited: boolean;
  /** The raw job it holds in the processing list. */
  holding: string | null;
  /** Recording the outcome of its job: a kill no longer hands that job back, or it would run twice. */
  recording: boolean;
  /** Ends the hang of a stuck processor. */
  release(): void;
  done: Promise<void>;
}

interface Rollout {
  generation: number;
  status: 'in-progress' | 'complete';
  cancelled: boolean;
  /** Resolves on cancel, so a rollout waiting for a processor that never exits can still end. */
  whenCancelled: Promise<void>;
  cancel(): void;
}

function newRollout(generation: number, status: Rollout['status']): Rollout {
  let cancel = (): void => undefined;
  const whenCancelled = new Promise<void>((resolve) => (cancel = resolve));
  const r: Rollout = {
    generation,
    status,
    cancelled: false,
    whenCancelled,
    cancel() {
      r.cancelled = true;
      cancel();
    },
  };
  return r;
}

/** How long a scale-down waits for the processors it stopped: a wedged one never exits. */
const SCALE_WAIT_MS = 5000;

export class Processors {
  private desired = 0;
  private gen: number;
  /** The processors counting towards the desired replicas, oldest first. */
  private running: Processor[] = [];
  /** Every processor whose loop has not ended: running, stopping, or killed and winding down. */
  private readonly alive = new Set<Processor>();
  private rollout: Rollout | undefined;
  private seq = 0;

  constructor(
    private readonly deps: ProcessorDeps,
    generation: number,
  ) {
    this.gen = generation;
  }

  get generation(): number {
    return this.gen;
  }

  /** The desired count. */
  get replicas(): number {
    return this.desired;
  }

  get runningCount(): number {
    return this.running.length;
  }

  /** Processors holding a job, a stuck one included: its job is in the processing list and goes nowhere. */
  get busy(): number {
    let n = 0;
    for (const p of this.alive) if (p.holding !== null && !p.killed) n++;
    return n;
  }

  get wedged(): number {
    let n = 0;
    for (const p of this.alive) if (p.wedged && !p.killed) n++;
    return n;
  }

  rolloutState(): RolloutState {
    const updated = this.running.filter((p) => p.generation === this.gen && !p.wedged).length;
    return { status: this.rollout?.status ?? 'none', generation: this.gen, updated, total: this.desired };
  }

  /**
   * Processors counting towards the desired ones that run generation `generation` or a newer one and can
   * work: a deployment's rollout is done when this reaches the desired count (a later restart keeps its code).
   */
  updatedSince(generation: number): number {
    return this.running.filter((p) => p.generation >= generation && !p.wedged).length;
  }

  /**
   * Scale to exactly n processors, stopping the newest first. Waits for the stopped ones to finish their
   * current job (or hand back the one they were just given), so "scaled to 0" normally means nothing
   * consumes any more; but for at most SCALE_WAIT_MS, and answers how many have not exited yet.
   */
  async scaleTo(n: number): Promise<{ previous: number; stopping: number }> {
    const previous = this.desired;
    this.desired = n;
    while (this.running.length < n) this.spawn();
    const stopping = this.running.splice(n);
    for (const p of stopping) p.stop = true;
    await this.deps.store.saveReplicas(n);
    await this.deps.onScale?.(n);
    const timeout = new AbortController();
    await Promise.race([Promise.all(stopping.map((p) => p.done)), sleep(SCALE_WAIT_MS, undefined, { signal: timeout.signal }).catch(() => undefined)]);
    timeout.abort();
    return { previous, stopping: stopping.filter((p) => !p.exited).length };
  }

  /** Wedges every processor alive now; later ones are healthy. Answers how many are wedged. */
  wedgeAll(): number {
    for (const p of this.alive) if (!p.killed) p.wedged = true;
    return this.wedged;
  }

  /** Starts a rolling replacement in the background, superseding one in progress; answers the new generation. */
  gracefulRestart(): number {
    this.rollout?.cancel();
    this.gen++;
    const rollout = newRollout(this.gen, 'in-progress');
    this.rollout = rollout;
    void this.roll(rollout);
    return this.gen;
  }

  /**
   * Kills every processor at once, wedged or not, handing each one's job back to the pending list, and
   * starts the desired count afresh. Answers once the new processors have started.
   */
  async forceRestart(): Promise<{ generation: number; killed: number }> {
    this.rollout?.cancel();
    this.gen++;
    // Nothing is left to roll: every processor is of the new generation from here on.
    this.rollout = newRollout(this.gen, 'complete');
    const victims = [...this.alive].filter((p) => !p.killed);
    this.running = [];
    await Promise.all(victims.map((p) => this.kill(p)));
    while (this.running.length < this.desired) this.spawn();
    return { generation: this.gen, killed: victims.length };
  }

  /** Stops healthy processors after their current job and kills wedged ones, which would never stop. */
  async close(): Promise<void> {
    this.rollout?.cancel();
    this.running = [];
    const all = [...this.alive];
    for (const p of all) p.stop = true;
    await Promise.all(all.filter((p) => p.wedged && !p.killed).map((p) => this.kill(p)));
    await Promise.all(all.map((p) => p.done));
  }

  private async roll(r: Rollout): Promise<void> {
    while (!r.cancelled) {
      // A slot freed by the previous step (or by a rollout this one superseded) is filled first.
      if (this.running.length < this.desired) {
        this.spawn();
        continue;
      }
      const old = this.running.find((p) => p.generation < r.generation);
      if (!old) break;
      // maxSurge 0: the old processor leaves before its replacement starts, and there is no deadline;
      // one that never exits holds the rollout where it is, like a pod that never terminates.
      this.running.splice(this.running.indexOf(old), 1);
      old.stop = true;
      await Promise.race([old.done, r.whenCancelled]);
    }
    if (!r.cancelled) r.status = 'complete';
  }

  private spawn(): void {
    let release = (): void => undefined;
    const hang = new Promise<void>((resolve) => (release = resolve));
    const p: Processor = {
      id: `g${this.gen}-${++this.seq}`,
      generation: this.gen,
      stop: false,
      wedged: false,
      stuck: false,
      killed: false,
      exited: false,
      holding: null,
      recording: false,
      release,
      done: Promise.resolve(),
    };
    p.done = this.loop(p, hang).finally(() => {
      p.exited = true;
      this.alive.delete(p);
    });
    this.alive.add(p);
    this.running.push(p);
  }

  private async kill(p: Processor): Promise<void> {
    p.killed = true;
    p.release();
    const raw = p.recording ? null : p.holding;
    if (raw !== null) {
      p.holding = null;
      await this.handBack(raw);
    }
  }

  /** Moves a job from the processing list back to the end of the pending list it is popped from next. */
  private async handBack(raw: string): Promise<void> {
    const { queue, probes } = this.deps;
    const job = parseJob(raw);
    const back = await this.leave(raw, queue.pending, 'tail').catch(() => false);
    if (back && job?.probe) await probes.mark(job, 'queued');
  }

  /** Takes `raw` off the processing list (and its claim) and, if it was still there, puts it on `to`. */
  private async leave(raw: string, to: string, where: 'head' | 'tail' | 'none'): Promise<boolean> {
    const { redis, queue } = this.deps;
    const id = parseJob(raw)?.id;
    return (await redis.eval(LEAVE, 3, queue.processing, to, claimsKey(queue), raw, typeof id === 'string' ? id : '', where)) === 1;
  }

  private async loop(p: Processor, hang: Promise<void>): Promise<void> {
    const { redis, queue, probes } = this.deps;
    const conn = redis.duplicate();
    conn.on('error', () => undefined);
    try {
      while (!p.killed && (p.wedged || !p.stop)) {
        let raw: string | null;
        try {
          raw = await conn.blmove(queue.pending, queue.processing, 'RIGHT', 'LEFT', 0.5);
        } catch {
          await sleep(500);
          continue;
        }
        if (raw === null) continue;
        // When it was taken, for stuck-job detection; a processor dying before this line leaves the job
        // unclaimed, and queue recovery counts it as claimed when it first sees it.
        const id = parseJob(raw)?.id;
        if (typeof id === 'string') await redis.hset(claimsKey(queue), id, Date.now()).catch(() => undefined);
        if (p.killed || (p.stop && !p.wedged)) {
          // Stopped or killed while waiting: the job was not started, so it goes back untouched.
          await this.handBack(raw);
          break;
        }
        p.holding = raw;
        if (p.wedged) {
          // Models a call to a downstream that never answers: the job stays in the processing list.
          p.stuck = true;
          await probes.mark(parseJob(raw), 'processing');
          await hang;
          break;
        }
        await this.process(p, raw);
      }
    } finally {
      conn.disconnect();
    }
  }

  private async process(p: Processor, raw: string): Promise<void> {
    const { pool, mongo, queue, metrics, probes, jobMs } = this.deps;
    const end = metrics.jobSeconds.startTimer();
    let job: Job | undefined;
    try {
      job = parseJob(raw);
      if (!job) throw new Error('not a job');
      await probes.mark(job, 'processing');
      if (job.fail) throw new Error(`job ${job.id} asked to fail`);
      await sleep(jobMs);
      // Killed mid-job: the kill has handed the job back already, and its next taker will do it.
      if (p.killed) return;
      p.recording = true;
      await pool.query(
        `INSERT INTO report_runs (report_id, status, started_at, finished_at, rows_out)
         VALUES ($1, 'done', now() - make_interval(secs => $2::float / 1000), now(), 1)`,
        [job.reportId, jobMs],
      );
      await mongo
        .collection('report_audit_logs')
        .insertOne({ reportId: job.reportId, actor: 'worker', action: 'generated', jobId: job.id, createdAt: new Date() });
      metrics.processed.inc();
      // Best effort: a missed write only makes the health check see the job as older than it is.
      await this.deps.redis.set(lastCompletedKey(queue), String(Date.now())).catch(() => undefined);
      await probes.mark(job, 'done');
    } catch {
      if (p.killed && !p.recording) return;
      p.recording = true;
      metrics.failedJobs.inc();
      // Failed only if it is still ours: recovery may have put it back as stuck meanwhile.
      if (await this.leave(raw, queue.failed, 'head').catch(() => false)) await probes.mark(job, 'failed');
      p.holding = null;
    } finally {
      end();
      if (p.holding === raw) {
        await this.leave(raw, queue.processing, 'none').catch(() => undefined);
        p.holding = null;
      }
      p.recording = false;
    }
  }
}
