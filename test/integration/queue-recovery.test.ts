// Queue recovery on real servers: check against thresholds (notified), stuck jobs, and retries of the list
// layout and of BullMQ that survive a SIGKILL of the worker mid-way with every job accounted for by id:
// each exactly once where it should be, none lost, none duplicated. Bad input changes nothing.
//
// Crash runs use task queues of their own: a child worker process (the victim) starts them, and an
// in-process worker on the same queue (the prebuilt bundle: no second bundling) finishes them.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { Queue } from 'bullmq';
import { claimsKeyOf } from '../../activities/queues/recovery';
import { runbookByName } from '../../client/registry';
import { createRunbookWorker } from '../../workers/create-worker';
import { RunbookMetrics } from '../../workers/metrics';
import type { QueueRecoveryInput, QueueRecoveryResult } from '../../workflows/queue-recovery/contract';
import { createTestEnv, eventually, redisUrl, TEMPORAL_ADDRESS, NAMESPACE, workflowId, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { admin, failureOf } from '../helpers/runs';
import { exited, startWorkerProcess } from '../helpers/worker-process';

jest.setTimeout(240_000);

let env: TestEnv;
let dir: string;
const children: ChildProcess[] = [];
const finishers: Array<{ worker: Worker; running: Promise<void>; connection: NativeConnection }> = [];
const bull = new Map<string, Queue>();
/** When the "old" notifications jobs had all completed (for the clean test). */
let oldDoneAt = 0;

const LIST = 'report_jobs';
const base = { service: 'reports', requestedBy: 'bob' } as const;
type Handle = Awaited<ReturnType<TestEnv['client']['workflow']['start']>>;

const queueOf = (name: string): Queue => bull.get(name)!;

async function scale(replicas: number): Promise<void> {
  const res = await admin(env, 'PUT', '/workers', { replicas });
  expect(res.status).toBe(200);
}

function start(input: QueueRecoveryInput, taskQueue = env.taskQueue): Promise<Handle> {
  return env.client.workflow.start('queueRecovery', { taskQueue, workflowId: workflowId('queue-recovery'), args: [input] });
}

async function run(input: QueueRecoveryInput): Promise<{ h: Handle; r: QueueRecoveryResult }> {
  const h = await start(input);
  return { h, r: (await h.result()) as QueueRecoveryResult };
}

/** A worker in this process on `taskQueue`, with the prebuilt bundle: finishes what a killed child started. */
async function finisher(taskQueue: string): Promise<void> {
  const connection = await NativeConnection.connect({ address: TEMPORAL_ADDRESS });
  const worker = await createRunbookWorker({
    connection,
    namespace: NAMESPACE,
    taskQueue,
    deps: env.deps,
    metrics: new RunbookMetrics(),
    workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! },
    shutdownGraceTimeMs: 2000,
  });
  finishers.push({ worker, running: worker.run(), connection });
}

const lengths = async (): Promise<number[]> =>
  Promise.all([env.redis.llen(env.queue.pending), env.redis.llen(env.queue.processing), env.redis.llen(env.queue.failed)]);

const idsOf = (raws: string[]): string[] => raws.map((raw) => (JSON.parse(raw) as { id: string }).id);

async function pushInBatches(key: string, raws: string[]): Promise<void> {
  for (let i = 0; i < raws.length; i += 1000) await env.redis.lpush(key, ...raws.slice(i, i + 1000));
}

beforeAll(async () => {
  env = await createTestEnv();
  dir = mkdtempSync(path.join(tmpdir(), 'rbt-queue-'));
  const prefix = env.config.services.reports!.bullmq!.prefix;
  for (const name of ['webhooks', 'reports', 'notifications']) bull.set(name, new Queue(name, { connection: { url: redisUrl() }, prefix }));
  // Completed long before the clean test runs: what "completed older than" removes.
  await queueOf('notifications').addBulk(Array.from({ length: 30 }, (_, i) => ({ name: 'job', data: {}, opts: { jobId: `old-${i}` } })));
  await eventually(async () => (await queueOf('notifications').getCompletedCount()) === 30, 30_000, '30 notifications jobs to complete');
  oldDoneAt = Date.now();
  await env.startWorker();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const f of finishers) {
    f.worker.shutdown();
    await f.running.catch(() => undefined);
    await f.connection.close();
  }
  // The crash queues' lock workflows (queues:reports) are not on the env's task queue: end them here.
  for (const tq of [`${env.taskQueue}-list`, `${env.taskQueue}-bull`])
    for await (const w of env.client.workflow.list({ query: `TaskQueue = "${tq}" AND ExecutionStatus = "Running"` }))
      await env.client.workflow
        .getHandle(w.workflowId)
        .terminate('test cleanup')
        .catch(() => undefined);
  await Promise.allSettled([...bull.values()].map((q) => q.close()));
  await env?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('check: healthy queues are ok; over thresholds the run warns, notifies (critical: escalation) and changes nothing', async () => {
  const healthy = await run({ ...base });
  expect(healthy.r.outcome).toBe('completed');
  expect(healthy.r.status).toBe('ok');
  expect(healthy.r.before.map((q) => `${q.name}:${q.status}`)).toEqual([`${LIST}:ok`, 'webhooks:ok', 'reports:ok', 'notifications:ok']);
  await saveHistoryIfRecording('queue-recovery-check', healthy.h);

  // Nothing consumes (processors and the BullMQ workers paused at 0): the depths stay as pushed.
  await scale(0);
  await env.redis.lpush(env.queue.pending, ...Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `deep-${i}`, reportId: 1 })));
  await queueOf('reports').addBulk(Array.from({ length: 15 }, (_, i) => ({ name: 'job', data: {}, opts: { jobId: `r-${i}` } })));
  const before = await lengths();
  const thresholds = { warning: 10, critical: 20, failedWarning: 5, failedCritical: 50 };
  const { r } = await run({ ...base, mode: 'check', thresholds });
  expect(r.outcome).toBe('completed-with-warnings');
  expect(r.status).toBe('critical');
  const by = Object.fromEntries(r.before.map((q) => [q.name, q]));
  expect(by[LIST]).toMatchObject({ status: 'critical', pending: 30 });
  expect(by.reports).toMatchObject({ status: 'warning', waiting: 15 });
  expect(by.webhooks!.status).toBe('ok');
  expect(r.warnings.join('\n')).toMatch(/report_jobs: critical: 30 pending > 20/);
  const note = await eventually(async () => env.notifications.find((n) => n.body.title === 'Queues of reports: critical'), 20_000, 'the critical notification');
  expect(note.body).toMatchObject({ severity: 'critical', audience: 'escalation' });
  expect(note.body.text).toMatch(/reports \(BullMQ\): waiting 15/);
  expect(await lengths()).toEqual(before);
  expect(await queueOf('reports').getWaitingCount()).toBe(15);

  await env.redis.del(env.queue.pending);
  await queueOf('reports').drain();
});

test('bad input is refused naming the field, and nothing changes', async () => {
  await env.redis.lpush(env.queue.failed, JSON.stringify({ id: 'keep-1', reportId: 1 }));
  const before = await lengths();
  const cases: Array<[unknown, RegExp]> = [
    [
      { ...base, mode: 'recover', queues: ['report_jobs', 'emails'] },
      /queues: unknown queue\(s\) emails of reports; known: report_jobs, webhooks, reports, notifications/,
    ],
    [{ ...base, thresholds: { warning: -1 } }, /thresholds\.warning: must be a non-negative integer/],
    [{ ...base, mode: 'recover', chunk: 0 }, /chunk: Too small/i],
    [{ ...base, thresholds: { warning: 900, critical: 100 } }, /thresholds\.warning: must not be above critical \(100\)/],
    [{ ...base, mode: 'check', clean: { completedOlderThan: '1d' } }, /clean: applies to mode "recover" only/],
  ];
  for (const [input, message] of cases) {
    const h = await start(input as QueueRecoveryInput);
    const f = await failureOf(h);
    expect(f.type).toBe('InvalidInputError');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(message);
  }
  // The front doors refuse the same, before anything starts.
  expect(runbookByName('queue-recovery').parse({ ...base, chunk: 0 })).toMatchObject({ ok: false, error: expect.stringMatching(/chunk/) });
  expect(await lengths()).toEqual(before);
  expect(await env.redis.lrange(env.queue.failed, 0, -1)).toEqual([JSON.stringify({ id: 'keep-1', reportId: 1 })]);
  await env.redis.del(env.queue.failed);
});

test('stuck jobs: old claims back to pending with attempts + 1, at maxAttempts to failed; recent and unclaimed ones untouched', async () => {
  const claims = claimsKeyOf(env.queue);
  const job = (id: string, extra: Record<string, unknown> = {}): string => JSON.stringify({ id, reportId: 7, ...extra });
  const hourAgo = String(Date.now() - 3600_000);
  await env.redis.lpush(env.queue.processing, job('old-a'), job('old-b', { attempts: 3 }), job('recent-c'), job('unclaimed-d'));
  await env.redis.hset(claims, 'old-a', hourAgo, 'old-b', hourAgo, 'recent-c', String(Date.now()));

  const { h, r } = await run({ ...base, mode: 'recover', queues: [LIST], retryFailed: false, stuckAfter: '1m', maxAttempts: 3 });
  expect(r.outcome).toBe('completed');
  expect(r.stuck).toMatchObject({ examined: 4, requeued: 1, failed: 1, recent: 1, claimedNow: 1, skipped: 0 });
  expect(await env.redis.lrange(env.queue.pending, 0, -1)).toEqual([job('old-a', { attempts: 1 })]);
  expect(await env.redis.lrange(env.queue.failed, 0, -1)).toEqual([job('old-b', { attempts: 3 })]);
  expect((await env.redis.lrange(env.queue.processing, 0, -1)).sort()).toEqual([job('recent-c'), job('unclaimed-d')].sort());
  // The unclaimed job now has a claim from the recovery: stuck only stuckAfter from now.
  expect(Object.keys(await env.redis.hgetall(claims)).sort()).toEqual(['recent-c', 'unclaimed-d']);
  expect(r.accounts).toEqual([
    expect.objectContaining({ queue: LIST, before: { pending: 0, processing: 4, failed: 0, stuck: 2 }, requeued: 1, toFailed: 1, retried: 0 }),
  ]);
  expect(r.accounts[0]!.after).toMatchObject({ pending: 1, processing: 2, failed: 1 });
  expect(runbookByName('queue-recovery').summarize(r).join('\n')).toMatch(
    /report_jobs: before pending 0, processing 4, failed 0.*stuck put back 1, stuck to failed 1/,
  );
  await saveHistoryIfRecording('queue-recovery-recovered', h);

  // Once their claims are over a (short) stuckAfter old, the other two go back as well.
  const claimedAt = Number(await env.redis.hget(claims, 'unclaimed-d'));
  await eventually(async () => Date.now() - claimedAt > 1500, 10_000, 'the claim to age');
  const again = await run({ ...base, mode: 'recover', queues: [LIST], retryFailed: false, stuckAfter: '1s' });
  expect(again.r.stuck).toMatchObject({ requeued: 2, failed: 0 });
  expect(idsOf(await env.redis.lrange(env.queue.pending, 0, -1)).sort()).toEqual(['old-a', 'recent-c', 'unclaimed-d']);
  expect(await env.redis.llen(env.queue.processing)).toBe(0);
  expect(await env.redis.hlen(claims)).toBe(0);
  await env.redis.del(env.queue.pending, env.queue.failed);
});

test('list layout: 20000 failed jobs retried across a SIGKILL of the worker: each id in pending exactly once, later failures stay failed', async () => {
  const N = 20_000;
  const ids = Array.from({ length: N }, (_, i) => `f-${i}`);
  await pushInBatches(
    env.queue.failed,
    ids.map((id, i) => JSON.stringify({ id, reportId: 1 + (i % 200), fail: true })),
  );
  const crashQueue = `${env.taskQueue}-list`;
  const victim = await startWorkerProcess({ ...env, taskQueue: crashQueue }, dir);
  children.push(victim.child);
  // 20 per chunk with a pause between: the run takes seconds, so the kill lands mid-way.
  const h = await start({ ...base, mode: 'recover', queues: [LIST], recoverStuck: false, chunk: 20, chunkPauseMs: 5 }, crashQueue);
  await eventually(async () => (await env.redis.llen(env.queue.pending)) >= 2000, 60_000, 'the retry to move 2000 jobs');
  // Failing after the run started: not the run's to retry.
  await env.redis.lpush(env.queue.failed, ...['late-1', 'late-2', 'late-3'].map((id) => JSON.stringify({ id, reportId: 1 })));
  victim.child.kill('SIGKILL');
  expect(await exited(victim.child)).toBeNull();
  const movedAtKill = await env.redis.llen(env.queue.pending);
  expect(movedAtKill).toBeLessThan(N);

  await finisher(crashQueue);
  const r = (await h.result()) as QueueRecoveryResult;
  expect(r.outcome).toBe('completed');
  expect(r.retried).toMatchObject({ moved: N, total: N, short: false });

  const pending = idsOf(await env.redis.lrange(env.queue.pending, 0, -1));
  expect(pending).toHaveLength(N);
  expect(new Set(pending).size).toBe(N);
  expect(new Set(pending)).toEqual(new Set(ids));
  expect(idsOf(await env.redis.lrange(env.queue.failed, 0, -1)).sort()).toEqual(['late-1', 'late-2', 'late-3']);
  // Oldest failure first: it is taken first by the processors (which pop from the tail).
  expect(idsOf(await env.redis.lrange(env.queue.pending, -1, -1))).toEqual(['f-0']);
  console.log(`list retry: killed the worker with ${movedAtKill} of ${N} moved; the new worker moved the rest`);
  await env.redis.del(env.queue.pending, env.queue.failed);
});

test('BullMQ: 2000 failed jobs retried through BullMQ across a SIGKILL: each id waiting exactly once, none failed; clean removes only old completed jobs', async () => {
  const N = 2000;
  const webhooks = queueOf('webhooks');
  const ids = Array.from({ length: N }, (_, i) => `w-${i}`);
  const crashQueue = `${env.taskQueue}-bull`;
  // Bundling in the child takes a while: meanwhile the demo's BullMQ workers fail the jobs.
  const victimReady = startWorkerProcess({ ...env, taskQueue: crashQueue }, dir);
  await scale(2);
  for (let i = 0; i < N; i += 500)
    await webhooks.addBulk(ids.slice(i, i + 500).map((jobId) => ({ name: 'job', data: { fail: true }, opts: { jobId, attempts: 1 } })));
  await eventually(async () => (await webhooks.getFailedCount()) === N, 120_000, `${N} webhooks jobs to fail`);
  await scale(0);
  const victim = await victimReady;
  children.push(victim.child);

  const h = await start({ ...base, mode: 'recover', queues: ['webhooks'], chunk: 10, chunkPauseMs: 20 }, crashQueue);
  await eventually(async () => (await webhooks.getWaitingCount()) >= 200, 60_000, 'the BullMQ retry to start');
  victim.child.kill('SIGKILL');
  expect(await exited(victim.child)).toBeNull();
  const waitingAtKill = await webhooks.getWaitingCount();
  expect(waitingAtKill).toBeLessThan(N);

  await finisher(crashQueue);
  const r = (await h.result()) as QueueRecoveryResult;
  expect(r.outcome).toBe('completed');
  expect(r.bullmqRetried).toEqual([expect.objectContaining({ queue: 'webhooks', retried: N, failedLeft: 0 })]);
  const waiting = (await webhooks.getJobs(['waiting'], 0, -1)).map((j) => j.id!);
  expect(waiting).toHaveLength(N);
  expect(new Set(waiting)).toEqual(new Set(ids));
  expect(await webhooks.getWaitingCount()).toBe(N);
  expect(await webhooks.getFailedCount()).toBe(0);
  console.log(`BullMQ retry: killed the worker with ${waitingAtKill} of ${N} waiting; the new worker retried the rest`);

  // Clean: the 30 jobs completed at the start are old, 10 completed now are not.
  const notifications = queueOf('notifications');
  await scale(2);
  await notifications.addBulk(Array.from({ length: 10 }, (_, i) => ({ name: 'job', data: {}, opts: { jobId: `new-${i}` } })));
  await eventually(async () => (await notifications.getCompletedCount()) === 40, 30_000, 'the new notifications jobs to complete');
  await scale(0);
  await webhooks.drain();
  const olderThan = `${Math.max(1, Math.floor((Date.now() - oldDoneAt) / 2000))}s`;
  const input: QueueRecoveryInput = { ...base, mode: 'recover', queues: ['notifications'], retryFailed: false, clean: { completedOlderThan: olderThan } };
  const dry = await run({ ...input, dryRun: true });
  expect(dry.r.outcome).toBe('dry-run');
  expect(dry.r.plan.find((s) => s.id === 'clean-notifications')!.title).toMatch(/remove 30 completed older than/);
  expect(await notifications.getCompletedCount()).toBe(40);
  const { r: cleaned } = await run(input);
  expect(cleaned.cleaned).toEqual([expect.objectContaining({ queue: 'notifications', state: 'completed', removed: 30 })]);
  expect((await notifications.getJobs(['completed'], 0, -1)).map((j) => j.id!).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `new-${i}`).sort());
});

test('pause and resume: a paused BullMQ queue keeps its jobs waiting while its neighbours work; resume lets them through', async () => {
  await scale(2);
  const paused = await run({ ...base, mode: 'pause', queues: ['webhooks'] });
  expect(paused.r.outcome).toBe('completed');
  expect(paused.r.switched).toEqual(['webhooks']);
  expect(await queueOf('webhooks').isPaused()).toBe(true);
  expect(await queueOf('notifications').isPaused()).toBe(false);

  await queueOf('webhooks').add('job', {}, { jobId: 'held-1' });
  // A job on a queue that is not paused completes: the workers are running, so the webhook job waits
  // because of the pause, not for want of a worker.
  await queueOf('notifications').add('job', {}, { jobId: 'passes-1' });
  await eventually(async () => (await queueOf('notifications').getJob('passes-1'))?.finishedOn !== undefined, 30_000, 'the notifications job to complete');
  expect(await (await queueOf('webhooks').getJob('held-1'))!.getState()).toBe('waiting');
  const check = await run({ ...base, queues: ['webhooks'] });
  expect(check.r.before[0]).toMatchObject({ name: 'webhooks', paused: true, waiting: 1 });

  // The list layout has no pause switch: naming it is refused, and nothing is switched.
  const refused = await failureOf(await start({ ...base, mode: 'resume', queues: ['report_jobs', 'webhooks'] }));
  expect(refused.message).toMatch(/queues: report_jobs is a list-layout queue: resume applies to BullMQ queues/);
  expect(await queueOf('webhooks').isPaused()).toBe(true);

  const resumed = await run({ ...base, mode: 'resume', queues: ['webhooks'] });
  expect(resumed.r.switched).toEqual(['webhooks']);
  expect(await queueOf('webhooks').isPaused()).toBe(false);
  await eventually(async () => (await (await queueOf('webhooks').getJob('held-1'))!.getState()) === 'completed', 30_000, 'the held job to complete');
});
