// Exclusive use of a target, built into the kit: two runs that change the same service never overlap,
// the second waits (and says for whom) or is refused as its input says, and a holder that is terminated
// (so it cannot release) blocks the next run only for the lock's bounded holder check. Also the kit's
// continue-as-new: a long monitoring phase carries its state into new runs and still ends as one run.
import { castVote } from '../../client/runbooks';
import { lockState } from '../../workflows/lib/target-lock';
import { progress } from '../../workflows/lib/progress';
import type { PlanStep } from '../../workflows/lib/result';
import type { MaintenanceWindowResult } from '../../workflows/maintenance-window/contract';
import { createTestEnv, eventually, maintenanceInput, workflowId, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { gateOpen, platform, resetPlatform, startRun, stepReaches } from '../helpers/runs';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
  await env.startWorker();
  await env.pool.query('CREATE MATERIALIZED VIEW slow_stats AS SELECT 1 AS id, pg_sleep(1.5)::text AS slept');
  await env.pool.query('CREATE UNIQUE INDEX slow_stats_id ON slow_stats (id)');
});
afterAll(async () => env?.cleanup());
afterEach(async () => resetPlatform(env));

const mw = (overrides = {}) =>
  maintenanceInput({ backup: false, tasks: [{ kind: 'refresh-materialized-view', view: 'slow_stats' }], monitoringPeriod: '1s', ...overrides });
const start = (input: unknown, prefix: string) => startRun<MaintenanceWindowResult>(env, 'maintenanceWindow', input, workflowId(prefix));

/** The span in which a run changed the service: from maintenance mode on to maintenance mode off. */
function changeSpan(plan: PlanStep[]): [number, number] {
  const on = plan.find((s) => s.id === 'maintenance-on')!;
  const off = plan.find((s) => s.id === 'maintenance-off')!;
  return [Date.parse(on.startedAt!), Date.parse(off.finishedAt!)];
}

test('two maintenance windows approved at the same moment never overlap, and the service ends as it started', async () => {
  const [a, b] = await Promise.all([start(mw(), 'mw-excl-a'), start(mw(), 'mw-excl-b')]);
  await Promise.all([gateOpen(a), gateOpen(b)]);
  await Promise.all([
    castVote(env.client, a.workflowId, { approver: 'alice', decision: 'approve' }),
    castVote(env.client, b.workflowId, { approver: 'dave', decision: 'approve' }),
  ]);
  // One of them waits for the other, and says which run holds the service.
  const waiting = await eventually(
    async () => {
      for (const [me, other] of [
        [a, b],
        [b, a],
      ] as const) {
        const p = await me.query(progress);
        if (p.status === 'waiting-for-target' && p.waitingFor === other.workflowId) return p;
      }
      return undefined;
    },
    20_000,
    'one run to wait for the other',
  );
  expect(waiting.message).toMatch(/^waiting for service:reports: held by mw-excl-[ab]-\w+ \(maintenanceWindow\) since /);

  const [ra, rb] = await Promise.all([a.result(), b.result()]);
  expect([ra.outcome, rb.outcome]).toEqual(['completed', 'completed']);
  const [sa, sb] = [changeSpan(ra.plan), changeSpan(rb.plan)];
  expect(sa[1] <= sb[0] || sb[1] <= sa[0]).toBe(true);
  // Each saw the service as it really was: 2 workers, not the other run's 0.
  for (const r of [ra, rb]) expect(r.plan.find((s) => s.id === 'scale-down')!.detail).toBe('2 -> 0');
  expect(await platform(env)).toMatchObject({ replicas: 2, maintenance: false });
  await saveHistoryIfRecording('maintenance-window-waited-for-target', ra.plan.find((s) => s.id === 'lock')!.detail === 'granted' ? b : a);
  const lockHandle = env.client.workflow.getHandle(`lock:${env.taskQueue}:service:reports`);
  expect((await lockHandle.query(lockState)).holder).toBeUndefined();
});

test('onConflict "refuse": the second run is aborted at once, names the holder, and changes nothing', async () => {
  const a = await start(
    mw({
      tasks: [
        { kind: 'refresh-materialized-view', view: 'slow_stats' },
        { kind: 'refresh-materialized-view', view: 'slow_stats' },
      ],
    }),
    'mw-holder',
  );
  await gateOpen(a);
  await castVote(env.client, a.workflowId, { approver: 'alice', decision: 'approve' });
  await stepReaches(a, 'task-1', 'running');
  const b = await start(mw({ onConflict: 'refuse' }), 'mw-refused');
  await gateOpen(b);
  await castVote(env.client, b.workflowId, { approver: 'alice', decision: 'approve' });
  const rb = await b.result();
  expect(rb.outcome).toBe('aborted');
  expect(rb.reason).toMatch(
    new RegExp(`^service:reports is in use by ${a.workflowId} \\(maintenanceWindow\\) since .*; onConflict is "refuse", so nothing was changed$`),
  );
  expect(rb.plan.find((s) => s.id === 'maintenance-on')!.status).toBe('skipped');
  expect((await a.result()).outcome).toBe('completed');
});

test('a terminated holder cannot release, yet blocks the next run only until the lock sees it gone', async () => {
  const a = await start(mw({ tasks: [1, 2, 3, 4].map(() => ({ kind: 'refresh-materialized-view', view: 'slow_stats' })) }), 'mw-terminated');
  await gateOpen(a);
  await castVote(env.client, a.workflowId, { approver: 'alice', decision: 'approve' });
  await stepReaches(a, 'task-1', 'running');
  const b = await start(mw(), 'mw-next');
  await gateOpen(b);
  await castVote(env.client, b.workflowId, { approver: 'dave', decision: 'approve' });
  await eventually(async () => (await b.query(progress)).waitingFor === a.workflowId, 20_000, 'b to wait for a');
  const terminatedAt = Date.now();
  await a.terminate('test: a holder that never releases');
  const rb = await b.result();
  const lock = rb.plan.find((s) => s.id === 'lock')!;
  // The test config checks holders every 1s: b got the service within a few seconds of the termination.
  expect(Date.parse(lock.finishedAt!) - terminatedAt).toBeLessThan(8000);
  expect(rb.outcome).toBe('completed');
  const state = await env.client.workflow.getHandle(`lock:${env.taskQueue}:service:reports`).query(lockState);
  expect(state.expired.map((e) => e.holder)).toContain(a.workflowId);
  await saveHistoryIfRecording('target-lock-expired-holder', env.client.workflow.getHandle(`lock:${env.taskQueue}:service:reports`));
});

test('a long monitoring phase continues as new, carrying its state, and ends as one completed run', async () => {
  const h = await start(
    mw({ tasks: [{ kind: 'analyze', table: 'reports' }], monitoringPeriod: '6s', monitorInterval: '300ms', historyLimit: 200 }),
    'mw-continued',
  );
  const firstRunId = (await h.describe()).runId;
  await gateOpen(h);
  await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect((await env.client.workflow.getHandle(h.workflowId, firstRunId).describe()).status.name).toBe('CONTINUED_AS_NEW');
  expect((await h.describe()).runId).not.toBe(firstRunId);
  // The carried state: every check of every run counted once, the plan and the vote kept.
  const checks = Number(/^(\d+) health checks/.exec(r.plan.find((s) => s.id === 'monitor')!.detail!)![1]);
  const lastRun = (await h.fetchHistory()).events ?? [];
  const checksInLastRun = lastRun.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkHealth').length;
  expect(checks).toBeGreaterThan(checksInLastRun);
  expect(r.approval.votes.map((v) => v.approver)).toEqual(['alice']);
  expect(r.plan.filter((s) => s.status === 'done').map((s) => s.id)).toContain('task-1');
  // One run to the audit store: one start, one ending.
  const kinds = (await env.deps.audit.forWorkflow(h.workflowId)).map((x) => x.kind);
  expect(kinds.filter((k) => k === 'run-started')).toHaveLength(1);
  expect(kinds.filter((k) => k === 'run-finished')).toHaveLength(1);
  expect(await platform(env)).toMatchObject({ replicas: 2, maintenance: false });
  // The last run of the chain: it starts from the carried state (the resume argument).
  await saveHistoryIfRecording('maintenance-window-continued-as-new', h);
});
