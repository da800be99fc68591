// The restart-workers runbook (seed 004 "Restarting Queue") against the real stack: the demo service's
// processors really stop consuming when wedged, a graceful (rolling) restart really cannot replace a
// processor that never finishes its job, and a force restart really kills them and requeues their jobs.
// Recovery is read from Redis, Postgres and the platform's state, never assumed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { runbooks } from '../../client/registry';
import { castVote, startTypedRunbook } from '../../client/runbooks';
import { plan } from '../../workflows/lib/progress';
import type { RestartWorkersInput } from '../../workflows/restart-workers/contract';
import { createTestEnv, eventually, workflowId, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { admin, enqueue, failureOf, gateOpen, platform, startRun, stepReaches } from '../helpers/runs';
import { exited, startWorkerProcess } from '../helpers/worker-process';

let env: TestEnv;
let dir: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  env = await createTestEnv();
  dir = mkdtempSync(path.join(tmpdir(), 'rbt-restart-'));
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await env?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const input = (o: Partial<RestartWorkersInput> = {}): RestartWorkersInput => ({
  service: 'reports',
  requestedBy: 'bob',
  reason: 'test: jobs not processed',
  recoveryTimeout: '20s',
  approval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '10m' },
  ...o,
});
// A typed start through the registry, as a program would: the compiler checks the input.
const start = (i: RestartWorkersInput, prefix = 'rw') =>
  startTypedRunbook(env.client, runbooks.restartWorkers, i, { taskQueue: env.taskQueue, workflowId: workflowId(prefix) });
const runs = async (): Promise<number> => Number((await env.pool.query('SELECT count(*) FROM report_runs')).rows[0].count);
const depth = async (): Promise<number> => (await env.redis.llen(env.queue.pending)) + (await env.redis.llen(env.queue.processing));

/** Wedges every processor: each takes one job and hangs on it, so the queue stops moving. */
async function wedge(jobs = 10): Promise<void> {
  await admin(env, 'PUT', '/faults', { wedged: true });
  await enqueue(env, jobs, `wedge-${Date.now()}`);
  await eventually(async () => (await platform(env)).wedged === 2, 10_000, 'both processors to wedge');
  await admin(env, 'PUT', '/faults', { wedged: false });
}

/** Healthy processors and an empty queue, whatever the test before left behind. */
async function unwedge(): Promise<void> {
  await admin(env, 'PUT', '/faults', { wedged: false });
  await admin(env, 'POST', '/workers/restart', { mode: 'force', requestId: `test-cleanup-${Date.now()}` });
  await eventually(async () => (await depth()) === 0 && (await platform(env)).wedged === 0, 20_000, 'healthy processors and an empty queue');
}
beforeEach(unwedge);

describe('with an in-process worker', () => {
  beforeAll(async () => env.startWorker());

  test('healthy processors: the graceful restart recovers them, no approval is asked, nothing is killed', async () => {
    const before = await platform(env);
    const h = await start(input(), 'rw-graceful');
    const r = await h.result();
    expect(r.outcome).toBe('completed');
    expect(r.recoveredBy).toBe('graceful');
    expect(r.graceful!.recovery).toMatchObject({ recovered: true, probe: 'done', rollout: 'complete' });
    expect(r.force).toBeUndefined();
    expect(r.approval.status).toBe('not-requested');
    expect(r.plan.filter((s) => s.status === 'skipped').map((s) => s.id)).toEqual(['approval-force', 'force-restart', 'force-recovery']);
    const after = await platform(env);
    expect(after.generation).toBe(before.generation! + 1);
    expect(after).toMatchObject({ replicas: 2, wedged: 0, rollout: { status: 'complete', updated: 2, total: 2 } });
    const audit = await env.deps.audit.forWorkflow(h.workflowId);
    expect(audit.filter((x) => x.kind === 'workers-restarted')).toHaveLength(1);
    expect(audit.at(-1)).toMatchObject({ kind: 'run-finished', data: { outcome: 'completed' } });
    await saveHistoryIfRecording('restart-workers-graceful', h);
  });

  test('wedged processors: graceful does not recover them; after approval a force restart does, and no job is lost', async () => {
    const runsBefore = await runs();
    await wedge(10);
    const before = await platform(env);
    const h = await start(input({ recoveryTimeout: '3s' }), 'rw-force');
    await gateOpen(h, 30_000);
    const waiting = await h.query(plan);
    expect(waiting.find((s) => s.id === 'graceful-recovery')!.detail).toMatch(
      /^not recovered after 3\.\ds \(probe queued, queue \d+ -> \d+, rollout in-progress\)$/,
    );
    // The rolling restart is stuck behind a processor that never finishes its job, as on a real platform.
    expect((await platform(env)).rollout).toMatchObject({ status: 'in-progress', updated: 0 });
    expect(await depth()).toBeGreaterThan(0);
    await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve', comment: 'kill them' });
    const r = await h.result();
    expect(r.outcome).toBe('completed');
    expect(r.recoveredBy).toBe('force');
    expect(r.force!.restart.killed).toBe(2);
    expect(r.force!.recovery).toMatchObject({ recovered: true, probe: 'done' });
    // Every job, the two the wedged processors held included, was processed: none lost, none left.
    await eventually(async () => (await depth()) === 0, 20_000, 'the queue to drain');
    expect(await runs()).toBeGreaterThanOrEqual(runsBefore + 10 + 2);
    const after = await platform(env);
    expect(after).toMatchObject({ wedged: 0, replicas: 2 });
    expect(after.generation).toBe(before.generation! + 2);
    expect(r.approval.votes.map((v) => v.approver)).toEqual(['alice']);
    await saveHistoryIfRecording('restart-workers-force-approved', h);
  });

  test('a rejected force restart kills nothing, and the run says the processors are still not processing', async () => {
    await wedge(4);
    const h = await start(input({ recoveryTimeout: '2s' }), 'rw-rejected');
    await gateOpen(h, 30_000);
    await castVote(env.client, h.workflowId, { approver: 'dave', decision: 'reject', comment: 'look at it first' });
    const r = await h.result();
    expect(r.outcome).toBe('rejected');
    expect(r.reason).toMatch(
      /^rejected: rejected by dave: look at it first; the processors were not force-restarted and are still not processing jobs\. Graceful restart: not recovered/,
    );
    expect((await platform(env)).wedged).toBe(2);
  });

  test('force: false stops after the graceful restart without asking anyone', async () => {
    await wedge(2);
    const r = await (await start(input({ recoveryTimeout: '2s', force: false }), 'rw-noforce')).result();
    expect(r.outcome).toBe('aborted');
    expect(r.approval.status).toBe('not-requested');
    expect((await platform(env)).wedged).toBe(2);
  });

  test('dry run returns the plan and restarts nothing; bad input fails naming the field', async () => {
    const before = await platform(env);
    const r = await (await start(input({ dryRun: true }), 'rw-dry')).result();
    expect(r.outcome).toBe('dry-run');
    expect(r.plan.map((s) => s.id)).toEqual([
      'precheck',
      'notify-start',
      'lock',
      'graceful-restart',
      'graceful-recovery',
      'approval-force',
      'force-restart',
      'force-recovery',
      'verify',
      'report',
    ]);
    expect((await platform(env)).generation).toBe(before.generation);
    // Refused at the edge, nothing started; and by the workflow itself when a start skips the edge (Web UI).
    await expect(start(input({ recoveryTimeout: '3h' }), 'rw-bad')).rejects.toThrow('invalid restart-workers input: recoveryTimeout: must be at most 1h');
    const bad = await failureOf(await startRun(env, 'restartWorkers', input({ recoveryTimeout: '3h' }), workflowId('rw-bad')));
    expect(bad).toMatchObject({ type: 'InvalidInputError', nonRetryable: true, message: 'invalid restartWorkers input: recoveryTimeout: must be at most 1h' });
    const noQueue = await failureOf(await start(input({ service: 'reports-down' }), 'rw-noqueue'));
    expect(noQueue.message).toBe('invalid restartWorkers input: service: "reports-down" has no job queue configured');
  });
});

test('SIGKILL of the worker mid-run: a new worker finishes it and no restart is applied twice', async () => {
  const first = await startWorkerProcess(env, dir);
  children.push(first.child);
  await wedge(6);
  const before = await platform(env);
  const h = await start(input({ recoveryTimeout: '6s' }), 'rw-crash');
  await stepReaches(h, 'graceful-recovery', 'running', 30_000);
  first.child.kill('SIGKILL');
  expect(await exited(first.child)).toBeNull();

  const second = await startWorkerProcess(env, dir);
  children.push(second.child);
  await gateOpen(h, 60_000);
  await castVote(env.client, h.workflowId, { approver: 'dave', decision: 'approve' });
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect(r.recoveredBy).toBe('force');
  // One graceful and one force restart: the platform's generation moved by exactly two.
  expect((await platform(env)).generation).toBe(before.generation! + 2);
  const restarts = (await env.deps.audit.forWorkflow(h.workflowId)).filter((x) => x.kind === 'workers-restarted');
  expect(restarts.map((x) => (x.data as { mode: string }).mode)).toEqual(['graceful', 'force']);
  await eventually(async () => (await depth()) === 0, 20_000, 'the queue to drain');
  second.child.kill('SIGTERM');
  expect(await exited(second.child)).toBe(0);
});
