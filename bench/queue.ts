// The queue bench (npm run bench; BENCH_ONLY=queue), on a PRIVATE redis-server, against a baseline in the same run:
//  14. retrying 100 k failed jobs (list layout): retryFailedJobs (a Lua chunk at a time, progress recorded in
//      the same script) vs the seed's single EVAL (seed 000 "Retry failed jobs": LRANGE all, LPUSH each, DEL),
//      with SLOWLOG for both: no call of ours may block Redis over 10 ms; the seed's EVAL is one long call.
// Sizes: BENCH_QUEUE_JOBS (default 100000), BENCH_QUEUE_CHUNK (default 1000), rounds BENCH_QUEUE_ROUNDS (5).
import { loadavg } from 'node:os';
import type { Redis } from 'ioredis';
import { createQueueRecoveryActivities } from '../activities/queues/recovery';
import {
  asActivity,
  benchDeps,
  fmt,
  goal,
  label,
  loadLine,
  median,
  privateDatabase,
  overMs,
  readSlowlog,
  resetSlowlog,
  slowLine,
  startPrivateRedis,
  time,
  type SlowReport,
} from './cache';

// The seed's list names: the private server is the bench's own, so the seed's script runs as written.
const FAILED = 'report_jobs_failed';
const PENDING = 'report_jobs_queue';

// Seed 000 "Retry failed jobs" (key names as in the seed, hence 0 keys): every failed job in one script.
const SEED_RETRY = `
local jobs = redis.call('LRANGE', 'report_jobs_failed', 0, -1)
for i, job in ipairs(jobs) do
  redis.call('LPUSH', 'report_jobs_queue', job)
end
redis.call('DEL', 'report_jobs_failed')
return #jobs
`;

/** Empties the queue and puts `n` failed jobs (the demo's job format, unique ids) in the failed list. */
async function loadFailed(redis: Redis, n: number): Promise<void> {
  await redis.flushall();
  for (let i = 0; i < n; i += 10_000) {
    const p = redis.pipeline();
    for (let s = i; s < Math.min(n, i + 10_000); s += 1000) {
      const jobs: string[] = [];
      for (let k = s; k < Math.min(n, s + 1000); k++) jobs.push(JSON.stringify({ id: `job-${k}`, reportId: 1 + (k % 200), fail: true }));
      p.lpush(FAILED, ...jobs);
    }
    await p.exec();
  }
  if ((await redis.llen(FAILED)) !== n) throw new Error(`loaded ${await redis.llen(FAILED)} failed jobs, expected ${n}`);
}

/** Checks every job moved exactly once: pending holds the n ids, each once; failed is empty. */
async function checkMoved(redis: Redis, n: number, who: string): Promise<void> {
  const pending = await redis.lrange(PENDING, 0, -1);
  const ids = new Set(pending.map((raw) => (JSON.parse(raw) as { id: string }).id));
  const failed = await redis.llen(FAILED);
  let all = ids.size === n;
  for (let k = 0; all && k < n; k++) all = ids.has(`job-${k}`);
  if (pending.length !== n || !all || failed !== 0) {
    throw new Error(`${who}: pending holds ${pending.length} jobs (${ids.size} distinct ids, all expected: ${all}), failed ${failed}; expected ${n} and 0`);
  }
}

export async function queueRows(): Promise<string[]> {
  const lines: string[] = [];
  const jobs = Number(process.env.BENCH_QUEUE_JOBS ?? 100_000);
  const chunk = Number(process.env.BENCH_QUEUE_CHUNK ?? 1000);
  const rounds = Number(process.env.BENCH_QUEUE_ROUNDS ?? 5);
  const load0 = loadavg()[0]!;
  const server = await startPrivateRedis();
  // The deps need a database for their audit store; nothing is written there.
  const db = await privateDatabase('queue');
  const deps = benchDeps(server.url, db.url, 'bench:');
  const { redis } = server;
  try {
    const recovery = createQueueRecoveryActivities(deps);
    const oursMs: number[] = [];
    const seedMs: number[] = [];
    let oursSlow: SlowReport | undefined;
    let seedSlow: SlowReport | undefined;
    let chunks = 0;
    for (let i = 0; i < rounds; i++) {
      await loadFailed(redis, jobs);
      await resetSlowlog(redis, 1000);
      let moved = 0;
      seedMs.push(
        await time(async () => {
          moved = (await redis.eval(SEED_RETRY, 0)) as number;
        }),
      );
      const s = await readSlowlog(redis);
      if (!seedSlow || s.maxMs > seedSlow.maxMs) seedSlow = s;
      if (moved !== jobs) throw new Error(`the seed's EVAL moved ${moved} jobs`);
      await checkMoved(redis, jobs, "the seed's EVAL");

      await loadFailed(redis, jobs);
      await resetSlowlog(redis, 1000);
      oursMs.push(
        await time(async () => {
          const r = await asActivity(recovery.retryFailedJobs.bind(recovery), { service: 'reports', runKey: `bench-retry-${i}`, chunk });
          if (r.moved !== jobs || r.failedLeft !== 0) throw new Error(`retryFailedJobs moved ${r.moved} of ${r.total}, ${r.failedLeft} left`);
          chunks = r.chunks;
        }),
      );
      const o = await readSlowlog(redis);
      if (!oursSlow || o.maxMs > oursSlow.maxMs) oursSlow = o;
      await checkMoved(redis, jobs, 'retryFailedJobs');
    }
    const ratio = median(oursMs) / median(seedMs);
    lines.push(
      `${label(`retry ${fmt(jobs)} failed jobs (n=${rounds})`)} ours ${median(oursMs).toFixed(0).padStart(7)} ms (chunk ${fmt(chunk)}, ${chunks} calls)   ` +
        `seed's EVAL ${median(seedMs).toFixed(0).padStart(7)} ms   ratio ${ratio.toFixed(2)}x (goal <= 2x: ${goal(ratio <= 2)})`,
    );
    lines.push(slowLine('ours, slowest round', oursSlow!, 10));
    lines.push(slowLine("seed's EVAL, slowest round", seedSlow!, 10));
    lines.push(`${label('  no call of ours over 10 ms')} ${goal(overMs(oursSlow!, 10) === 0)}; both moved exactly ${fmt(jobs)} jobs, each once`);
  } finally {
    await deps.close();
    await db.drop();
    await server.stop();
  }
  lines.push(loadLine(load0));
  return lines;
}
