// Schedules as code on the real dev server: `apply` converges (create, change, delete) and a second apply
// is a no-op; it never touches a schedule it did not make; an operator's pause survives it and an edit
// made outside it is put back; a triggered schedule starts the declared runbook with the declared input;
// the overlap policy is honoured; bad declarations are refused before anything reaches the server.
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { castVote } from '../../client/runbooks';
import { applyPlan, applySchedules, planSchedules, scheduleIdOf, ScheduleDeclarationError, validateSchedules } from '../../temporal-config/schedules/apply';
import { SCHEDULES } from '../../temporal-config/schedules/declarations';
import { listSchedules, pauseSchedule, triggerSchedule } from '../../temporal-config/schedules/operate';
import type { ScheduleDeclarationInput } from '../../temporal-config/schedules/schema';
import { pendingApprovals } from '../../workflows/lib/approval';
import { createTestEnv, eventually, type TestEnv } from '../helpers/env';

let env: TestEnv;
const made = new Set<string>();
beforeAll(async () => {
  env = await createTestEnv();
  await env.startWorker();
});
afterAll(async () => {
  for (const id of made)
    await env?.client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  await env?.cleanup();
});

const shipped = (id: string): ScheduleDeclarationInput => structuredClone(SCHEDULES.find((s) => s.id === id)!);
const sid = (declId: string) => scheduleIdOf(declId, env.taskQueue);
const describe = (declId: string) => env.client.schedule.getHandle(sid(declId)).describe();
async function apply(decls: ScheduleDeclarationInput[]) {
  const r = await applySchedules(env.client, decls, env.taskQueue);
  for (const w of r.plan.wired.keys()) made.add(w);
  return r;
}
const kinds = (r: Awaited<ReturnType<typeof apply>>) => Object.fromEntries(r.plan.changes.map((c) => [c.scheduleId.slice(env.taskQueue.length + 1), c.kind]));

/** A maintenance window the test service runs quickly; it waits at its approval gate until decided. */
function quickMaintenance(id: string, overlap: ScheduleDeclarationInput['overlap']): ScheduleDeclarationInput {
  const d = shipped('weekly-db-maintenance');
  return {
    ...d,
    id,
    overlap,
    paused: true, // only triggers start it
    input: {
      ...d.input,
      tasks: [{ kind: 'analyze', table: 'public.report_runs' }],
      approval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '10m' },
      monitoringPeriod: '2s',
      monitorInterval: '1s',
      drainTimeout: '30s',
    },
  };
}

async function runsOf(declId: string): Promise<string[]> {
  const d = await describe(declId);
  return d.info.recentActions.map((a) => a.action.workflow.workflowId);
}

/** Declares a quick maintenance schedule, applies it, triggers it and returns its first run's id. */
async function applyAndTrigger(id: string, overlap: ScheduleDeclarationInput['overlap']) {
  const decl = quickMaintenance(id, overlap);
  await apply([decl]);
  const v = validateSchedules([decl], env.taskQueue);
  await triggerSchedule(env.client, v, id);
  const [first] = await eventually(async () => {
    const r = await runsOf(id);
    return r.length === 1 && r;
  });
  return { decl, v, first: first! };
}

async function atGate(workflowId: string): Promise<WorkflowHandle> {
  const h = env.client.workflow.getHandle(workflowId);
  await eventually(async () => (await h.query(pendingApprovals)).status === 'pending', 30_000, `${workflowId} at its approval gate`);
  return h;
}

test('apply converges: creates, a second apply changes nothing, then updates, deletes and creates exactly what changed', async () => {
  const weekly = shipped('weekly-db-maintenance');
  const monthly = shipped('monthly-db-maintenance');
  // A routine whose runbook has not landed (every shipped one has): listed, never created.
  const waiting = { ...shipped('daily-health-check'), id: 'capacity-report', runbook: 'capacity-report', waitingFor: 'a later issue' };
  const first = await apply([weekly, monthly, waiting]);
  expect(kinds(first)).toEqual({ 'weekly-db-maintenance': 'create', 'monthly-db-maintenance': 'create', 'capacity-report': 'waiting' });
  expect(first.report.applied).toHaveLength(2);
  await expect(describe('capacity-report')).rejects.toBeInstanceOf(ScheduleNotFoundError);

  const created = await describe('weekly-db-maintenance');
  expect(created.action).toMatchObject({ type: 'startWorkflow', workflowType: 'maintenanceWindow', taskQueue: env.taskQueue, args: [weekly.input] });
  expect(created.policies).toMatchObject({ overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 3600_000 });
  // Temporal ANDs day-of-month and day-of-week: weekly on Sundays from the 8th, monthly on the first Sunday.
  for (const t of created.info.nextActionTimes) expect([t.getUTCDay(), t.getUTCHours(), t.getUTCDate() >= 8]).toEqual([0, 2, true]);
  const firstSunday = (await describe('monthly-db-maintenance')).info.nextActionTimes;
  expect(firstSunday.length).toBeGreaterThan(0);
  for (const t of firstSunday) expect([t.getUTCDay(), t.getUTCHours(), t.getUTCDate() <= 7]).toEqual([0, 2, true]);

  const second = await apply([weekly, monthly, waiting]);
  expect(second.report.applied).toEqual([]);
  expect(kinds(second)).toEqual({ 'weekly-db-maintenance': 'unchanged', 'monthly-db-maintenance': 'unchanged', 'capacity-report': 'waiting' });
  expect((await describe('weekly-db-maintenance')).info.lastUpdatedAt).toEqual(created.info.lastUpdatedAt);

  // Change one, drop one, add one.
  const changed = { ...weekly, when: { cron: '30 3 8-31 * SUN' }, input: { ...weekly.input, reason: 'changed reason' } };
  const added = { ...quickMaintenance('hourly-test', 'buffer-one'), when: { every: '1h' } };
  const plan = await planSchedules(env.client, validateSchedules([changed, added], env.taskQueue));
  const byId = Object.fromEntries(plan.changes.map((c) => [c.scheduleId, c]));
  expect(byId[sid('weekly-db-maintenance')]?.kind).toBe('update');
  expect(byId[sid('weekly-db-maintenance')]?.fields?.map((f) => f.field).sort()).toEqual(['action.input (on the server)', 'input', 'when']);
  expect(byId[sid('monthly-db-maintenance')]?.kind).toBe('delete');
  expect(byId[sid('hourly-test')]?.kind).toBe('create');
  await applyPlan(env.client, plan);
  made.add(sid('hourly-test'));
  const updated = await describe('weekly-db-maintenance');
  expect(updated.action.type === 'startWorkflow' && updated.action.args?.[0]).toMatchObject({ reason: 'changed reason' });
  for (const t of updated.info.nextActionTimes) expect([t.getUTCHours(), t.getUTCMinutes()]).toEqual([3, 30]);
  await expect(describe('monthly-db-maintenance')).rejects.toBeInstanceOf(ScheduleNotFoundError);
  expect((await describe('hourly-test')).state.paused).toBe(true);

  const again = await apply([changed, added]);
  expect(again.report.applied).toEqual([]);

  // Declaring none of them deletes every schedule apply made for this task queue.
  const none = await apply([]);
  expect(kinds(none)).toEqual({ 'weekly-db-maintenance': 'delete', 'hourly-test': 'delete' });
  await expect(describe('hourly-test')).rejects.toBeInstanceOf(ScheduleNotFoundError);
});

test('apply never touches a schedule it did not make; an operator pause survives; an edit made elsewhere is put back', async () => {
  // Someone else's schedule that happens to use a declared id, and one that merely shares the task queue.
  const foreignId = sid('foreign-one');
  await env.client.schedule.create({
    scheduleId: foreignId,
    spec: { intervals: [{ every: '1d' }] },
    action: { type: 'startWorkflow', workflowType: 'maintenanceWindow', taskQueue: env.taskQueue, args: [{}] },
    state: { paused: true },
  });
  made.add(foreignId);
  const mine = quickMaintenance('owned-one', 'skip');
  const r = await apply([mine, { ...quickMaintenance('foreign-one', 'skip') }]);
  expect(kinds(r)).toEqual({ 'owned-one': 'create', 'foreign-one': 'conflict' });
  expect(r.report.conflicts.map((c) => c.scheduleId)).toEqual([foreignId]);
  const foreign = await env.client.schedule.getHandle(foreignId).describe();
  expect(foreign.action.type === 'startWorkflow' && foreign.action.args).toEqual([{}]);
  // Declaring nothing deletes only what apply made: the foreign schedule stays.
  const v = validateSchedules([mine], env.taskQueue);
  expect((await planSchedules(env.client, v)).changes.filter((c) => c.kind === 'delete')).toEqual([]);

  // An operator pauses an (unpaused) declared schedule; an apply that changes another field keeps the pause.
  const active = { ...mine, paused: false, when: { cron: '0 4 * * *' } };
  await apply([active]);
  expect((await describe('owned-one')).state.paused).toBe(false);
  await pauseSchedule(env.client, v, 'owned-one', 'database migration tonight', 'alice');
  await apply([{ ...active, title: 'renamed' }]);
  const kept = await describe('owned-one');
  expect(kept.state).toMatchObject({ paused: true, note: 'paused by alice: database migration tonight' });

  // An edit in the Web UI (here: the overlap policy) is a difference, and apply puts the declaration back.
  await env.client.schedule
    .getHandle(sid('owned-one'))
    .update((prev) => ({ ...prev, policies: { ...prev.policies, overlap: ScheduleOverlapPolicy.ALLOW_ALL } }));
  const drift = await planSchedules(env.client, validateSchedules([{ ...active, title: 'renamed' }], env.taskQueue));
  expect(drift.changes[0]).toMatchObject({ kind: 'update', fields: [expect.objectContaining({ field: 'policies.overlap (on the server)' })] });
  await applyPlan(env.client, drift);
  expect((await describe('owned-one')).policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
});

test('bad declarations are refused before anything reaches the server, naming the schedule and the field', async () => {
  const good = quickMaintenance('refused-good', 'skip');
  const cases: Array<[ScheduleDeclarationInput, RegExp]> = [
    [{ ...quickMaintenance('bad-cron', 'skip'), when: { cron: '0 25 * * *' } }, /schedule "bad-cron": when\.cron: .*not a valid cron expression/],
    [{ ...quickMaintenance('bad-runbook', 'skip'), runbook: 'maintenance-windw' }, /schedule "bad-runbook": runbook: unknown runbook "maintenance-windw"/],
    [
      { ...quickMaintenance('bad-input', 'skip'), input: { ...good.input, tasks: [] } },
      /schedule "bad-input": input: invalid maintenance-window input: tasks: needs at least one task/,
    ],
  ];
  for (const [bad, message] of cases) {
    let err: unknown;
    try {
      await apply([good, bad]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ScheduleDeclarationError);
    expect((err as Error).message).toMatch(message);
    // Not even the good one was created: nothing reached the server.
    await expect(describe('refused-good')).rejects.toBeInstanceOf(ScheduleNotFoundError);
    await expect(describe(bad.id)).rejects.toBeInstanceOf(ScheduleNotFoundError);
  }
});

test('a triggered schedule runs its runbook with the declared input; overlap skip drops a second trigger while one runs', async () => {
  const { decl, v, first: id } = await applyAndTrigger('trigger-skip', 'skip');
  expect(id).toMatch(new RegExp(`^${sid('trigger-skip')}-`));
  const run = await atGate(id);
  const d = await run.describe();
  expect(d.type).toBe('maintenanceWindow');
  expect(d.taskQueue).toBe(env.taskQueue);
  const history = await run.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  expect(defaultPayloadConverter.fromPayload(started!.input!.payloads![0]!)).toEqual(decl.input);

  // A second trigger while the first waits at its gate is skipped.
  await new Promise((r) => setTimeout(r, 1100)); // scheduled runs are named by the second
  await triggerSchedule(env.client, v, 'trigger-skip');
  await eventually(async () => (await describe('trigger-skip')).info.numActionsSkippedOverlap === 1, 20_000, 'the overlap skip');
  expect(await runsOf('trigger-skip')).toEqual([id]);

  const rows = await listSchedules(env.client, v);
  expect(rows[0]).toMatchObject({ scheduleId: sid('trigger-skip'), state: 'paused', last: { workflowId: id, status: 'awaiting-approval' } });
  await castVote(env.client, id, { approver: 'alice', decision: 'reject', comment: 'test over' });
  expect(await run.result()).toMatchObject({ outcome: 'rejected' });
});

test('overlap buffer-one keeps a second trigger and starts it when the running one ends', async () => {
  const { v, first } = await applyAndTrigger('trigger-buffer', 'buffer-one');
  await atGate(first);
  await new Promise((r) => setTimeout(r, 1100));
  await triggerSchedule(env.client, v, 'trigger-buffer');
  // Buffered, not started, while the first still runs.
  await new Promise((r) => setTimeout(r, 2000));
  expect(await runsOf('trigger-buffer')).toEqual([first]);
  expect((await describe('trigger-buffer')).info.numActionsSkippedOverlap).toBe(0);

  await castVote(env.client, first, { approver: 'alice', decision: 'reject' });
  const runs = await eventually(
    async () => {
      const r = await runsOf('trigger-buffer');
      return r.length === 2 && r;
    },
    30_000,
    'the buffered run to start',
  );
  expect(runs[0]).toBe(first);
  const second = await atGate(runs[1]!);
  await castVote(env.client, runs[1]!, { approver: 'alice', decision: 'reject' });
  expect(await second.result()).toMatchObject({ outcome: 'rejected' });
});
