// Queue recovery (seed 000 "Job Queue Management", 004 "Monitoring Queue Health"): read a service's queues
// against thresholds, put failed and stuck jobs back without losing or duplicating one, clean old BullMQ
// jobs. Two layouts:
//  - the list layout (pending / processing / failed Redis lists, processors BLMOVE pending -> processing and
//    record the claim time in `<processing>:claims`): moved by our Lua scripts, each move atomic, so a
//    worker dying at any point loses and duplicates nothing;
//  - BullMQ queues: only through BullMQ's own API (retryJobs, clean, pause, counts), never by editing its keys.
// The seed's "DEL report_jobs_processing" (loses jobs) and "DEL nova:email:failed" are what this replaces.
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import type { ServiceConfig } from '../../config/schema';
import { durationMs } from '../../common/duration';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { previousHeartbeat, withHeartbeat } from '../heartbeat';

export type QueueStatus = 'ok' | 'warning' | 'critical';

export interface QueueThresholds {
  warning: number;
  critical: number;
  failedWarning: number;
  failedCritical: number;
}

export interface ListQueueReport {
  layout: 'list';
  name: string;
  pending: number;
  processing: number;
  failed: number;
  /** In processing, claimed longer ago than stuckAfter. */
  stuck: number;
  /** In processing without a claim record (a processor died between taking it and recording the claim). */
  unclaimed: number;
  status: QueueStatus;
  /** Why the status is not ok. */
  reasons: string[];
}

export interface BullQueueReport {
  layout: 'bullmq';
  name: string;
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  failed: number;
  completed: number;
  paused: boolean;
  status: QueueStatus;
  reasons: string[];
}

export type QueueReport = ListQueueReport | BullQueueReport;

export interface QueueRecoveryTargets {
  service: string;
  environment: string;
  /** The list layout's name (e.g. report_jobs), when the service has one and it was asked for. */
  list?: string;
  bullmq: string[];
  /** Every queue name the service has. */
  known: string[];
  stuckAfterMs: number;
  maxAttempts: number;
  /** What `clean` would remove now, per BullMQ queue (for the plan and dry run). */
  clean: Record<string, { completed?: number; failed?: number }>;
}

export interface RetryFailedResult {
  /** Moved by this run so far (every attempt): failed -> pending. */
  moved: number;
  /** Failed jobs when the run first looked: no more than these are moved. */
  total: number;
  /** The failed list ran short of `total` (someone else removed jobs from it meanwhile). */
  short: boolean;
  failedLeft: number;
  ms: number;
  chunks: number;
}

export interface StuckResult {
  examined: number;
  requeued: number;
  failed: number;
  /** Unclaimed jobs given a claim now: stuck only after stuckAfter from now. */
  claimedNow: number;
  /** Claimed recently enough: left alone. */
  recent: number;
  /** Changed under us (finished or taken again between the read and the move): left alone. */
  skipped: number;
  /** Up to 50 ids of each, for the record. */
  requeuedIds: string[];
  failedIds: string[];
}

export interface BullRetryResult {
  queue: string;
  retried: number;
  /** Failed jobs that failed after `before`: left failed. */
  failedLeft: number;
  calls: number;
  ms: number;
}

export interface BullCleanResult {
  queue: string;
  state: 'completed' | 'failed';
  removed: number;
  ms: number;
}

export interface BullDrainResult {
  drained: boolean;
  waitedMs: number;
  /** waiting + prioritized + active per queue at the end. */
  left: Record<string, number>;
}

export type QueueRecoveryActivities = ReturnType<typeof createQueueRecoveryActivities>;

/** How long a list-layout retry's progress record outlives its last chunk. */
const PROGRESS_TTL_SECONDS = 7 * 24 * 3600;

// One chunk of a retry: moves at most ARGV[1] jobs from the failed list's tail (its oldest) to the pending
// list's head, and records progress in the same script. The first chunk records how many jobs had failed;
// never more than that are moved, so jobs failing after the run started stay failed (they are LPUSHed to
// the head, the moves take from the tail). KEYS: failed, pending, progress; ARGV: chunk, ttl seconds.
const RETRY_CHUNK = `
local total = tonumber(redis.call('HGET', KEYS[3], 'total'))
local moved = tonumber(redis.call('HGET', KEYS[3], 'moved') or '0')
if not total then
  total = redis.call('LLEN', KEYS[1])
  moved = 0
  redis.call('HSET', KEYS[3], 'total', total, 'moved', 0)
end
local n = math.min(tonumber(ARGV[1]), total - moved)
local done = 0
for i = 1, n do
  if not redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') then break end
  done = done + 1
end
moved = moved + done
local short = 0
if done < n then
  short = 1
  redis.call('HSET', KEYS[3], 'short', 1)
end
redis.call('HSET', KEYS[3], 'moved', moved)
redis.call('EXPIRE', KEYS[3], ARGV[2])
return {moved, total, done, short}
`;

// One stuck job: moved only if its claim is still the one we judged by and it is still in processing (the
// exact raw), so a job that finished or was taken again meanwhile is left alone. KEYS: processing, pending,
// failed, claims; ARGV: raw, new raw, id, claimed-at as read, 'pending' | 'failed'.
const MOVE_STUCK = `
if redis.call('HGET', KEYS[4], ARGV[3]) ~= ARGV[4] then return 0 end
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
if ARGV[5] == 'pending' then redis.call('RPUSH', KEYS[2], ARGV[2]) else redis.call('LPUSH', KEYS[3], ARGV[2]) end
redis.call('HDEL', KEYS[4], ARGV[3])
return 1
`;

type ListConfig = NonNullable<ServiceConfig['queue']>;
type BullConfig = NonNullable<ServiceConfig['bullmq']>;

/**
 * The list layout's name: what its three lists share, without a key prefix (`rbt:x:report_jobs_queue`
 * and `report_jobs_queue` are both "report_jobs").
 */
export function listQueueName(q: Pick<ListConfig, 'pending' | 'processing' | 'failed'>): string {
  let i = 0;
  while (i < q.pending.length && q.pending[i] === q.processing[i] && q.pending[i] === q.failed[i]) i++;
  const common = q.pending
    .slice(0, i)
    .replace(/[_:.-]+$/, '')
    .split(':')
    .pop();
  return common || 'jobs';
}

export const claimsKeyOf = (q: Pick<ListConfig, 'processing'>): string => `${q.processing}:claims`;

function statusOf(depth: number, failed: number, t: QueueThresholds, what: string): { status: QueueStatus; reasons: string[] } {
  const reasons: string[] = [];
  let status: QueueStatus = 'ok';
  const raise = (s: QueueStatus, why: string): void => {
    if (s === 'critical' || status === 'ok') status = s;
    reasons.push(why);
  };
  if (depth > t.critical) raise('critical', `${depth} ${what} > ${t.critical} (critical)`);
  else if (depth > t.warning) raise('warning', `${depth} ${what} > ${t.warning} (warning)`);
  if (failed > t.failedCritical) raise('critical', `${failed} failed > ${t.failedCritical} (critical)`);
  else if (failed > t.failedWarning) raise('warning', `${failed} failed > ${t.failedWarning} (warning)`);
  return { status, reasons };
}

export function createQueueRecoveryActivities(deps: Deps) {
  const listOf = (service: string): ListConfig | undefined => deps.service(service).queue;
  const bullOf = (service: string): BullConfig | undefined => deps.service(service).bullmq;

  const needList = (service: string, queue?: string): ListConfig => {
    const q = listOf(service);
    if (!q) throw new InvalidTargetError(`service "${service}" has no list-layout queue configured`);
    if (queue !== undefined && queue !== listQueueName(q))
      throw new InvalidTargetError(`"${queue}" is not the list-layout queue of ${service}; it is "${listQueueName(q)}"`);
    return q;
  };

  const needBull = (service: string, queue: string): BullConfig => {
    const b = bullOf(service);
    if (!b?.queues.includes(queue)) throw new InvalidTargetError(`"${queue}" is not a BullMQ queue of ${service}; known: ${b?.queues.join(', ') || '(none)'}`);
    return b;
  };

  /** Opens a BullMQ Queue for one call and closes it after (its connection is its own). */
  const withBull = async <T>(service: string, queue: string, fn: (q: Queue) => Promise<T>): Promise<T> => {
    const b = needBull(service, queue);
    const url = (
      deps.config.redis[b.redis] ??
      (() => {
        throw new InvalidTargetError(`redis target "${b.redis}" is not configured`);
      })()
    ).url;
    const q = new Queue(queue, { connection: { url, maxRetriesPerRequest: 2 }, prefix: b.prefix });
    q.on('error', () => undefined);
    try {
      return await fn(q);
    } finally {
      await q.close().catch(() => undefined);
    }
  };

  /**
   * Jobs of a BullMQ finished set (failed or completed, scored by finishedOn) that finished at or before
   * `ts`. Read-only, on the key BullMQ names itself (queue.keys): its API has no count by age.
   */
  const finishedUpTo = (service: string, q: Queue, state: 'failed' | 'completed', ts: number): Promise<number> =>
    deps.redis(bullOf(service)!.redis).zcount(q.keys[state]!, 0, ts);

  const bullReport = (service: string, name: string, t: QueueThresholds): Promise<BullQueueReport> =>
    withBull(service, name, async (q) => {
      const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed');
      const paused = await q.isPaused();
      const r = {
        waiting: c.waiting ?? 0,
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        prioritized: c.prioritized ?? 0,
        failed: c.failed ?? 0,
        completed: c.completed ?? 0,
      };
      const s = statusOf(r.waiting + r.prioritized, r.failed, t, 'waiting');
      if (paused) {
        if (s.status === 'ok') s.status = 'warning';
        s.reasons.push('paused: no worker takes its jobs');
      }
      return { layout: 'bullmq', name, ...r, paused, ...s };
    });

  const listReport = async (service: string, t: QueueThresholds): Promise<ListQueueReport> => {
    const q = needList(service);
    const r = deps.redis(q.redis);
    const [pending, processing, failed] = await Promise.all([r.llen(q.pending), r.llen(q.processing), r.llen(q.failed)]);
    // Read-only: an unclaimed job is counted, not claimed (recovery claims it). Bounded: processing holds
    // what processors hold, a few jobs; a pile-up past 10k is reported by its length anyway.
    const raws = await r.lrange(q.processing, 0, 9_999);
    const ids = raws.map((raw) => idOf(raw));
    const claims = ids.length ? await r.hmget(claimsKeyOf(q), ...ids.map((id) => id ?? '')) : [];
    const before = Date.now() - durationMs(q.stuckAfter);
    let stuck = 0;
    let unclaimed = 0;
    claims.forEach((c) => (c === null ? unclaimed++ : Number(c) <= before && stuck++));
    const s = statusOf(pending, failed, t, 'pending');
    if (stuck > 0) {
      if (s.status === 'ok') s.status = 'warning';
      s.reasons.push(`${stuck} stuck in processing longer than ${q.stuckAfter}`);
    }
    return { layout: 'list', name: listQueueName(q), pending, processing, failed, stuck, unclaimed, ...s };
  };

  return {
    /**
     * The queues a run acts on (all by default; an unknown name is an InvalidTargetError listing the known),
     * the service's stuck-job settings, and what `clean` would remove now.
     */
    async resolveQueueRecovery(input: {
      service: string;
      queues?: string[];
      clean?: { completedOlderThanMs?: number; failedOlderThanMs?: number };
    }): Promise<QueueRecoveryTargets> {
      const svc = deps.service(input.service);
      const list = svc.queue ? listQueueName(svc.queue) : undefined;
      const bull = svc.bullmq?.queues ?? [];
      const known = [...(list ? [list] : []), ...bull];
      if (!known.length) throw new InvalidTargetError(`service "${input.service}" has no queues configured (services.${input.service}.queue / .bullmq)`);
      const unknown = (input.queues ?? []).filter((n) => !known.includes(n));
      if (unknown.length) throw new InvalidTargetError(`queues: unknown queue(s) ${unknown.join(', ')} of ${input.service}; known: ${known.join(', ')}`);
      const asked = input.queues ?? known;
      const targets: QueueRecoveryTargets = {
        service: input.service,
        environment: svc.environment,
        ...(list && asked.includes(list) ? { list } : {}),
        bullmq: bull.filter((n) => asked.includes(n)),
        known,
        stuckAfterMs: svc.queue ? durationMs(svc.queue.stuckAfter) : 600_000,
        maxAttempts: svc.queue?.maxAttempts ?? 3,
        clean: {},
      };
      const c = input.clean;
      if (c && (c.completedOlderThanMs !== undefined || c.failedOlderThanMs !== undefined)) {
        const now = Date.now();
        for (const name of targets.bullmq)
          targets.clean[name] = await withBull(input.service, name, async (q) => {
            return {
              ...(c.completedOlderThanMs !== undefined ? { completed: await finishedUpTo(input.service, q, 'completed', now - c.completedOlderThanMs) } : {}),
              ...(c.failedOlderThanMs !== undefined ? { failed: await finishedUpTo(input.service, q, 'failed', now - c.failedOlderThanMs) } : {}),
            };
          });
      }
      return targets;
    },

    /** Read-only: each queue's depths and its status against the thresholds (the service's, or `thresholds`). */
    async checkQueues(input: { service: string; queues?: string[]; thresholds?: Partial<QueueThresholds> }): Promise<QueueReport[]> {
      const svc = deps.service(input.service);
      const out: QueueReport[] = [];
      const want = (n: string): boolean => !input.queues || input.queues.includes(n);
      if (svc.queue && want(listQueueName(svc.queue))) out.push(await listReport(input.service, { ...svc.queue.thresholds, ...input.thresholds }));
      for (const name of svc.bullmq?.queues ?? [])
        if (want(name)) out.push(await bullReport(input.service, name, { ...svc.bullmq!.thresholds, ...input.thresholds }));
      return out;
    },

    /**
     * List layout: failed -> pending in chunks, each chunk one Lua script that moves and records progress
     * (keyed by `runKey`), so a retry after a crash continues exactly where the last chunk left off. Only
     * the jobs that had failed when the run first looked are moved. `pauseMs` between chunks leaves Redis
     * to the service on a large backlog. Heartbeats the progress.
     */
    async retryFailedJobs(input: { service: string; queue?: string; runKey: string; chunk: number; pauseMs?: number }): Promise<RetryFailedResult> {
      const q = needList(input.service, input.queue);
      if (!Number.isInteger(input.chunk) || input.chunk < 1 || input.chunk > 10_000) throw new InvalidTargetError('chunk must be an integer from 1 to 10000');
      const r = deps.redis(q.redis);
      const progress = `${q.failed}:retry:${input.runKey}`;
      const started = Date.now();
      let moved = 0;
      let total = 0;
      let chunks = 0;
      let short = false;
      return withHeartbeat(
        async (signal) => {
          for (;;) {
            if (signal.aborted) throw new Error('cancelled');
            const [m, t, , s] = (await r.eval(RETRY_CHUNK, 3, q.failed, q.pending, progress, input.chunk, PROGRESS_TTL_SECONDS)) as number[];
            chunks++;
            moved = m!;
            total = t!;
            short = s === 1;
            if (moved >= total || short) break;
            if (input.pauseMs) await sleep(input.pauseMs, undefined, { signal }).catch(() => undefined);
          }
          const failedLeft = await r.llen(q.failed);
          return { moved, total, short, failedLeft, ms: Date.now() - started, chunks };
        },
        () => ({ moved, total, chunks }),
      );
    },

    /**
     * List layout: jobs in processing claimed at or before `olderThanMs` ago go back to pending with
     * attempts + 1 (same id), or to failed once they were put back `maxAttempts` times. A job without a
     * claim gets one now (HSETNX). Each move is one atomic script.
     */
    async recoverStuckJobs(input: { service: string; olderThanMs: number; maxAttempts: number }): Promise<StuckResult> {
      const q = needList(input.service);
      const r = deps.redis(q.redis);
      const claims = claimsKeyOf(q);
      const res: StuckResult = { examined: 0, requeued: 0, failed: 0, claimedNow: 0, recent: 0, skipped: 0, requeuedIds: [], failedIds: [] };
      return withHeartbeat(
        async (signal) => {
          // Processing holds a few jobs normally; a pile-up is worked through 1000 at a time, at most 100 passes.
          const seen = new Set<string>();
          for (let pass = 0; pass < 100 && !signal.aborted; pass++) {
            const raws = (await r.lrange(q.processing, 0, -1)).filter((raw) => !seen.has(raw)).slice(0, 1000);
            if (!raws.length) break;
            const now = Date.now();
            for (const raw of raws) {
              seen.add(raw);
              res.examined++;
              const job = parseRaw(raw);
              if (!job) {
                res.skipped++;
                continue;
              }
              let claimedAt = await r.hget(claims, job.id);
              if (claimedAt === null) {
                if ((await r.hsetnx(claims, job.id, now)) === 1) {
                  res.claimedNow++;
                  continue;
                }
                claimedAt = await r.hget(claims, job.id);
                if (claimedAt === null) continue;
              }
              if (Number(claimedAt) > now - input.olderThanMs) {
                res.recent++;
                continue;
              }
              const attempts = typeof job.attempts === 'number' ? job.attempts : 0;
              const toFailed = attempts >= input.maxAttempts;
              const next = toFailed ? raw : JSON.stringify({ ...job, attempts: attempts + 1 });
              const ok = await r.eval(MOVE_STUCK, 4, q.processing, q.pending, q.failed, claims, raw, next, job.id, claimedAt, toFailed ? 'failed' : 'pending');
              if (ok !== 1) {
                res.skipped++;
              } else if (toFailed) {
                res.failed++;
                if (res.failedIds.length < 50) res.failedIds.push(job.id);
              } else {
                res.requeued++;
                if (res.requeuedIds.length < 50) res.requeuedIds.push(job.id);
              }
            }
          }
          return res;
        },
        () => ({ examined: res.examined, requeued: res.requeued, failed: res.failed }),
      );
    },

    /**
     * BullMQ: failed jobs that finished at or before `before` back to waiting, through Queue.retryJobs. Done
     * oldest first, `count` at a time (each call bounded by the finish time of the count-th oldest failed
     * job), so progress is visible and a crash between calls leaves every job either failed or waiting.
     */
    async bullmqRetryFailed(input: { service: string; queue: string; before: number; count: number; pauseMs?: number }): Promise<BullRetryResult> {
      const started = Date.now();
      let retried = 0;
      let calls = 0;
      return withBull(input.service, input.queue, async (q) => {
        // A retry after a crash counts from the first attempt's count (its first heartbeat), so `retried`
        // covers every attempt; what is left is always read afresh.
        const initial = previousHeartbeat<{ initial?: number }>()?.initial ?? (await finishedUpTo(input.service, q, 'failed', input.before));
        return withHeartbeat(
          async (signal) => {
            let left = await finishedUpTo(input.service, q, 'failed', input.before);
            retried = initial - left;
            while (left > 0 && !signal.aborted) {
              const oldest = await q.getJobs(['failed'], 0, Math.max(0, input.count - 1), true);
              const upTo = Math.min(input.before, Math.max(...oldest.map((j) => j.finishedOn ?? 0)));
              if (!oldest.length || upTo <= 0) break;
              await q.retryJobs({ state: 'failed', count: input.count, timestamp: upTo });
              calls++;
              left = await finishedUpTo(input.service, q, 'failed', input.before);
              retried = initial - left;
              if (input.pauseMs) await sleep(input.pauseMs, undefined, { signal }).catch(() => undefined);
            }
            if (signal.aborted) throw new Error('cancelled');
            const failedLeft = (await q.getJobCounts('failed')).failed ?? 0;
            return { queue: input.queue, retried, failedLeft, calls, ms: Date.now() - started };
          },
          () => ({ initial, retried, calls }),
        );
      });
    },

    /** BullMQ: removes completed or failed jobs that finished more than `olderThanMs` ago (Queue.clean), `limit` per call. */
    async bullmqClean(input: { service: string; queue: string; state: 'completed' | 'failed'; olderThanMs: number; limit: number }): Promise<BullCleanResult> {
      const started = Date.now();
      let removed = 0;
      return withBull(input.service, input.queue, (q) =>
        withHeartbeat(
          async (signal) => {
            for (;;) {
              if (signal.aborted) throw new Error('cancelled');
              const ids = await q.clean(input.olderThanMs, input.limit, input.state);
              removed += ids.length;
              if (ids.length < input.limit) break;
            }
            return { queue: input.queue, state: input.state, removed, ms: Date.now() - started };
          },
          () => ({ removed }),
        ),
      );
    },

    /** BullMQ: pauses a queue globally (workers finish what they hold and take nothing new). */
    async bullmqPause(input: { service: string; queue: string }): Promise<void> {
      await withBull(input.service, input.queue, (q) => q.pause());
    },

    async bullmqResume(input: { service: string; queue: string }): Promise<void> {
      await withBull(input.service, input.queue, (q) => q.resume());
    },

    /** BullMQ: waits until no job is waiting or active in any of `queues`, up to `timeoutMs`; heartbeats the counts. */
    async waitForBullmqDrain(input: { service: string; queues: string[]; timeoutMs: number; pollMs?: number }): Promise<BullDrainResult> {
      // A retry after a worker crash goes on counting from the first attempt's start.
      const started = previousHeartbeat<{ startedAt?: number }>()?.startedAt ?? Date.now();
      const left: Record<string, number> = {};
      const read = async (): Promise<number> => {
        let sum = 0;
        for (const name of input.queues) {
          const c = await withBull(input.service, name, (q) => q.getJobCounts('waiting', 'prioritized', 'active'));
          left[name] = (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0);
          sum += left[name];
        }
        return sum;
      };
      return withHeartbeat(
        async (signal) => {
          let sum = await read();
          while (sum > 0 && Date.now() - started < input.timeoutMs && !signal.aborted) {
            await sleep(input.pollMs ?? 500, undefined, { signal }).catch(() => undefined);
            sum = await read();
          }
          return { drained: sum === 0, waitedMs: Date.now() - started, left };
        },
        () => ({ left, startedAt: started }),
      );
    },
  };
}

interface RawJob {
  id: string;
  attempts?: unknown;
  [k: string]: unknown;
}

function parseRaw(raw: string): RawJob | undefined {
  try {
    const j = JSON.parse(raw) as unknown;
    return typeof j === 'object' && j !== null && typeof (j as RawJob).id === 'string' ? (j as RawJob) : undefined;
  } catch {
    return undefined;
  }
}

const idOf = (raw: string): string | undefined => parseRaw(raw)?.id;
