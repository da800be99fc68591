// The operator's view on the real servers: `runbook inbox` (the runs a person may decide now), `runbook
// watch` (a run's plan followed live to its outcome), and what the Temporal Web UI shows of a run: the
// start's static summary and details, and the current details the run keeps up to date.
import { inbox, type Inbox } from '../../client/inbox';
import { runbooks } from '../../client/registry';
import { castVote, startRunbookRun, watchRun, type WatchEnd } from '../../client/runbooks';
import { pendingApprovals } from '../../workflows/lib/approval';
import type { RunChange } from '../../workflows/lib/details';
import { plan, progress } from '../../workflows/lib/progress';
import type { PlanStep } from '../../workflows/lib/result';
import { createTestEnv, eventually, maintenanceInput, workflowId, type TestEnv } from '../helpers/env';
import { gateOpen, resetPlatform, startRun, type RunHandle } from '../helpers/runs';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
  await env.startWorker();
});
afterAll(async () => env?.cleanup());
afterEach(async () => resetPlatform(env));

const runUrl = (id: string) => `http://ui.test/workflows/${id}`;
const inboxOf = (person: string): Promise<Inbox> => inbox(env.client, person, { runUrl, taskQueue: env.taskQueue });
const ids = (box: Inbox) => box.items.map((i) => i.workflowId);

/** The current details a run shows in the Web UI: the SDK answers them to the built-in metadata query. */
async function currentDetails(h: RunHandle): Promise<string> {
  const meta = await h.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return meta.currentDetails ?? '';
}

describe('inbox', () => {
  test('lists a waiting run for the people who may decide it now, and for nobody once they voted or it is decided', async () => {
    // dave requests, and holds an approver role himself: eligible are alice, dave and erin; 2 of them must approve.
    const input = maintenanceInput({
      requestedBy: 'dave',
      reason: 'inbox test',
      backup: false,
      tasks: [{ kind: 'analyze', table: 'reports' }],
      approval: { quorum: 2, approverRoles: ['sre-lead', 'dba'], timeout: '1h' },
    });
    const run = await startRunbookRun(env.client, runbooks.maintenanceWindow, input, { taskQueue: env.taskQueue, workflowId: workflowId('mw-inbox') });
    const h = run.handle as RunHandle;
    await gateOpen(h);
    expect(Object.keys((await h.query(pendingApprovals)).eligible).sort()).toEqual(['alice', 'dave', 'erin']);

    // The search attribute reaches visibility a moment after the run set it.
    const alice = await eventually(async () => {
      const box = await inboxOf('alice');
      return ids(box).includes(h.workflowId) && box;
    });
    const item = alice.items.find((i) => i.workflowId === h.workflowId)!;
    expect((await h.query(progress)).status).toBe('awaiting-approval');
    expect(item).toMatchObject({
      runbook: 'maintenanceWindow',
      name: 'maintenance-window',
      target: 'reports',
      requestedBy: 'dave',
      yourRoles: ['sre-lead'],
      approvals: 0,
      quorum: 2,
      votes: [],
      approve: `npm run runbook -- approve ${h.workflowId} --as alice`,
      reject: `npm run runbook -- reject ${h.workflowId} --as alice --comment "<why>"`,
      url: runUrl(h.workflowId),
    });
    expect(item.msLeft).toBeGreaterThan(0);
    expect(Date.parse(item.deadline!)).toBeGreaterThan(Date.now());
    // What it will do once approved: its pending steps, in plan order, the gate itself not among them.
    const steps = await h.query(plan);
    expect(item.next).toEqual(steps.filter((s) => s.status === 'pending').map((s) => s.title));
    expect(item.next).toContain('ANALYZE reports on reports-db');
    expect(item.next.some((t) => t.startsWith('approval by'))).toBe(false);

    expect(ids(await inboxOf('erin'))).toContain(h.workflowId);
    // The requester is eligible by role but may not approve their own run; carol has no approver role;
    // frank is nobody the directory knows.
    for (const person of ['dave', 'carol', 'frank']) {
      const box = await inboxOf(person);
      expect({ person, ids: ids(box), unreadable: box.unreadable }).toEqual({ person, ids: [], unreadable: [] });
    }

    await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });
    expect(ids(await inboxOf('alice'))).not.toContain(h.workflowId);
    const erin = (await inboxOf('erin')).items.find((i) => i.workflowId === h.workflowId)!;
    expect(erin).toMatchObject({ approvals: 1, quorum: 2, votes: [expect.objectContaining({ approver: 'alice', decision: 'approve' })] });

    // The requester withdraws: the gate is decided, erin (who has not voted) has nothing left to decide.
    await castVote(env.client, h.workflowId, { approver: 'dave', decision: 'reject', comment: 'not needed after all' });
    expect(ids(await inboxOf('erin'))).not.toContain(h.workflowId);
    expect((await h.result()).outcome).toBe('rejected');
  });
});

describe('what the Web UI shows of a run', () => {
  test('the start sets a one-line summary and details from the input; the run keeps its current details up to date', async () => {
    const input = maintenanceInput({ backup: false, reason: 'weekly database maintenance', tasks: [{ kind: 'analyze', table: 'reports' }] });
    const run = await startRunbookRun(env.client, runbooks.maintenanceWindow, input, { taskQueue: env.taskQueue, workflowId: workflowId('mw-details') });
    const h = run.handle as RunHandle;
    const d = await h.describe();
    expect(await d.staticSummary()).toBe('maintenance-window on reports for bob: weekly database maintenance');
    const details = (await d.staticDetails())!;
    expect(details).toContain('**Requested by:** bob');
    expect(details).toContain('**Reason:** weekly database maintenance');
    expect(details).toContain('**Dry run:** no');

    await gateOpen(h);
    const waiting = await eventually(async () => {
      const text = await currentDetails(h);
      return text.includes('awaiting-approval') && text;
    });
    expect(waiting).toContain('**maintenanceWindow** on **reports** requested by bob');
    const steps = await h.query(plan);
    // Every plan step, in order, with its mark and status.
    const stepLines = waiting.split('\n').filter((l) => /^\d+\. /.test(l));
    expect(stepLines).toHaveLength(steps.length);
    expect(stepLines[0]).toMatch(/^1\. ✓ check reports health — done: HTTP 200/);
    expect(stepLines.find((l) => l.includes('approval by 1 of role sre-lead'))).toMatch(/▶ .* — running$/);
    expect(stepLines.at(-1)).toMatch(/· report the outcome .* — pending$/);

    await castVote(env.client, h.workflowId, { approver: 'bob', decision: 'reject', comment: 'changed my mind' });
    expect((await h.result()).outcome).toBe('rejected');
    const ended = await currentDetails(h);
    expect(ended).toContain('**Status:** rejected');
    expect(ended).toMatch(/– ANALYZE reports on reports-db — skipped: rejected/);
  });

  test('a dry run started through the same path says so in its summary', async () => {
    const input = maintenanceInput({ reason: 'just looking', dryRun: true });
    const run = await startRunbookRun(env.client, runbooks.maintenanceWindow, input, { taskQueue: env.taskQueue });
    const d = await run.handle.describe();
    expect(await d.staticSummary()).toBe('maintenance-window on reports for bob (dry run): just looking');
    expect(await d.staticDetails()).toContain('**Dry run:** yes');
    expect((await run.handle.result()).outcome).toBe('dry-run');
  });
});

describe('watch', () => {
  const watch = (id: string): { changes: RunChange[]; done: Promise<WatchEnd> } => {
    const changes: RunChange[] = [];
    return { changes, done: watchRun(env.client, id, { intervalMs: 200, onChange: (c) => changes.push(c) }) };
  };

  test('follows a run through its gate and a continue-as-new, step by step in plan order, to its outcome', async () => {
    const h = await startRun(
      env,
      'maintenanceWindow',
      maintenanceInput({ backup: false, tasks: [{ kind: 'analyze', table: 'reports' }], monitoringPeriod: '6s', monitorInterval: '300ms', historyLimit: 200 }),
      workflowId('mw-watch'),
    );
    const w = watch(h.workflowId);
    // Vote once the watcher has seen the run wait, so the stream has both the waiting and the decision.
    // (The gate opens a moment before the run's status says so: wait for both.)
    await eventually(
      async () =>
        w.changes.some((c) => c.kind === 'gate' && c.status === 'pending') && w.changes.some((c) => c.kind === 'status' && c.status === 'awaiting-approval'),
      20_000,
      'the watcher to see the gate open and the run waiting',
    );
    await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve', comment: 'go' });
    const end = await w.done;
    const result = await h.result();

    expect(end).toMatchObject({ outcome: 'completed', ok: true, executionStatus: 'COMPLETED' });
    expect(w.changes.at(-1)).toEqual({ kind: 'outcome', outcome: 'completed', reason: result.reason, ok: true });
    // The plan is told once; every step then reaches its final status in plan order.
    const planChanges = w.changes.filter((c) => c.kind === 'plan');
    expect(planChanges).toHaveLength(1);
    const final = (s: PlanStep) => s.status === 'done' || s.status === 'skipped' || s.status === 'failed';
    const finished: string[] = [];
    for (const c of w.changes) {
      if (c.kind === 'plan') finished.push(...c.steps.filter(final).map((s) => s.id));
      if (c.kind === 'step' && final(c.step)) finished.push(c.step.id);
    }
    expect(finished).toEqual(result.plan.map((s) => s.id));
    // What happened at the gate, and that the run went on in a new run of the chain.
    expect(w.changes).toContainEqual(expect.objectContaining({ kind: 'status', status: 'awaiting-approval' }));
    expect(w.changes).toContainEqual(expect.objectContaining({ kind: 'vote', approvals: 1, quorum: 1, vote: expect.objectContaining({ approver: 'alice' }) }));
    expect(w.changes).toContainEqual(expect.objectContaining({ kind: 'gate', status: 'approved' }));
    expect(w.changes).toContainEqual({ kind: 'continued', runId: (await h.describe()).runId });
    expect(w.changes.filter((c) => c.kind === 'unreadable')).toEqual([]);
  });

  test('a run that fails on its input ends the watch with the failure', async () => {
    const h = await startRun(env, 'maintenanceWindow', maintenanceInput({ service: 'billing' }), workflowId('mw-watch-bad'));
    const w = watch(h.workflowId);
    const end = await w.done;
    expect(end).toMatchObject({ outcome: 'failed', ok: false, executionStatus: 'FAILED' });
    expect(end.reason).toBe('invalid maintenanceWindow input: service: "billing" is not configured; known services: reports, reports-down');
    expect(w.changes.at(-1)).toMatchObject({ kind: 'outcome', outcome: 'failed', ok: false });
    expect(w.changes).toContainEqual(expect.objectContaining({ kind: 'status', status: 'failed' }));
  });
});
