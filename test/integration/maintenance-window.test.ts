// The maintenance-window runbook against a real Temporal dev server, Postgres, Redis, FerretDB and the
// demo service. Every assertion reads the real systems: pg_stat_user_tables, Redis lists, the demo's
// platform state, the audit table, the webhook sink and the workflow history.
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { castVote, VoteRefusedError } from '../../client/runbooks';
import { approveFromUi, pendingApprovals } from '../../workflows/lib/approval';
import { plan, progress } from '../../workflows/lib/progress';
import { exampleMaintenanceInput, type MaintenanceWindowInput, type MaintenanceWindowResult } from '../../workflows/maintenance-window/contract';
import { createTestEnv, eventually, maintenanceInput, workflowId, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { enqueue as enqueueJobs, failureOf, gateOpen, platform as platformOf, startRun, type DemoState, type RunHandle } from '../helpers/runs';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
  await env.startWorker();
});
afterAll(async () => env?.cleanup());

type Handle = RunHandle<MaintenanceWindowResult>;

const start = (input: MaintenanceWindowInput, id = workflowId('mw')): Promise<Handle> => startRun<MaintenanceWindowResult>(env, 'maintenanceWindow', input, id);

interface TableStats {
  last_vacuum: Date | null;
  last_analyze: Date | null;
  vacuum_count: string;
  analyze_count: string;
}
async function stats(table: string): Promise<TableStats> {
  const r = await env.pool.query<TableStats>('SELECT last_vacuum, last_analyze, vacuum_count, analyze_count FROM pg_stat_user_tables WHERE relname = $1', [
    table,
  ]);
  return r.rows[0]!;
}

async function auditKinds(id: string): Promise<string[]> {
  return (await env.deps.audit.forWorkflow(id)).map((r) => r.kind);
}

const platform = (): Promise<DemoState> => platformOf(env);
const enqueue = (n: number): Promise<void> => enqueueJobs(env, n);

async function scheduledActivities(h: Handle): Promise<number> {
  const history = await h.fetchHistory();
  return (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).length;
}

describe('maintenance window: approved', () => {
  test('runs every task for real, drains the queue, scales workers back, and records it all', async () => {
    const runsBefore = Number((await env.pool.query('SELECT count(*) FROM report_runs')).rows[0].count);
    const indexBefore = (await env.pool.query("SELECT relfilenode FROM pg_class WHERE relname = 'report_runs_report_id'")).rows[0].relfilenode;
    const h = await start(
      // The README's example tasks: vacuum, reindex, refresh a view, analyze, rebuild Mongo indexes.
      maintenanceInput({ tasks: exampleMaintenanceInput().tasks }),
      workflowId('mw-approved'),
    );
    await gateOpen(h);
    expect((await h.query(progress)).status).toBe('awaiting-approval');
    expect(await stats('reports')).toMatchObject({ last_vacuum: null });
    // Work arrives while the run waits: the drain step must see it all processed before any task.
    await enqueue(150);
    const state = await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve', comment: 'go ahead' });
    expect(state.status).toBe('approved');
    const result = await h.result();

    expect(result.outcome).toBe('completed');
    expect(result.tasks.map((t) => t.status)).toEqual(['done', 'done', 'done', 'done', 'done']);
    // Postgres really did the work.
    const reports = await stats('reports');
    expect(reports.last_vacuum).toBeInstanceOf(Date);
    expect(reports.last_analyze).toBeInstanceOf(Date);
    expect((await stats('report_runs')).last_analyze).toBeInstanceOf(Date);
    const indexAfter = (await env.pool.query("SELECT relfilenode FROM pg_class WHERE relname = 'report_runs_report_id'")).rows[0].relfilenode;
    expect(indexAfter).not.toBe(indexBefore);
    // Every queued job was processed (none lost), the queue is empty, the view saw the new rows.
    const runsAfter = Number((await env.pool.query('SELECT count(*) FROM report_runs')).rows[0].count);
    expect(runsAfter).toBeGreaterThanOrEqual(runsBefore + 150);
    expect(await env.redis.llen(env.queue.pending)).toBe(0);
    expect(await env.redis.llen(env.queue.processing)).toBe(0);
    const viewRuns = Number((await env.pool.query('SELECT sum(runs) AS n FROM report_daily_stats')).rows[0].n);
    expect(viewRuns).toBeGreaterThanOrEqual(runsBefore + 150);
    // Mongo indexes were rebuilt and are all there.
    const names = (await env.mongo.collection('report_audit_logs').listIndexes().toArray()).map((i) => String(i.name)).sort();
    expect(names).toEqual(['_id_', 'actor', 'report_created']);
    // Workers scaled 2 -> 0 -> 2, maintenance mode is off again.
    expect(result.plan.find((s) => s.id === 'scale-down')!.detail).toBe('2 -> 0');
    expect(await platform()).toMatchObject({ replicas: 2, maintenance: false });
    // The backup exists and is what the result says.
    expect(existsSync(result.backup!.file)).toBe(true);
    expect(createHash('sha256').update(readFileSync(result.backup!.file)).digest('hex')).toBe(result.backup!.sha256);
    expect(result.backup!.tables).toBeGreaterThanOrEqual(2);
    // The audit store has the vote, one completion per task, and the outcome.
    const audit = await env.deps.audit.forWorkflow(h.workflowId);
    const vote = audit.find((r) => r.kind === 'vote')!;
    expect(vote).toMatchObject({ actor: 'alice', data: { decision: 'approve', comment: 'go ahead', via: 'update', roles: ['sre-lead'] } });
    expect(audit.filter((r) => r.kind === 'task-completed')).toHaveLength(5);
    expect(audit.at(-1)).toMatchObject({ kind: 'run-finished', data: { outcome: 'completed' } });
    // Stakeholders and approvers were told, each notification with an idempotency key.
    const mine = env.notifications.filter((n) => n.body.workflowId === h.workflowId);
    expect(mine.map((n) => n.body.audience)).toEqual(['stakeholders', 'approvers', 'stakeholders']);
    expect(mine.every((n) => typeof n.headers['idempotency-key'] === 'string')).toBe(true);
    // No secret reached workflow history.
    const history = JSON.stringify(await h.fetchHistory());
    expect(history).not.toContain(process.env.TEST_PG_PASSWORD);
    expect(history).not.toContain((env.rawConfig.services.reports!.platform as { token: string }).token);
    await saveHistoryIfRecording('maintenance-window-approved', h);
  });
});

describe('maintenance window: puts things back as they were', () => {
  test('maintenance mode that was already on before the run is left on', async () => {
    const token = (env.rawConfig.services.reports!.platform as { token: string }).token;
    const setMaintenance = (enabled: boolean) =>
      fetch(`${env.demo.url}/admin/maintenance`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ enabled }),
      });
    await setMaintenance(true);
    try {
      const h = await start(maintenanceInput({ tasks: [{ kind: 'analyze', table: 'reports' }], backup: false }), workflowId('mw-was-on'));
      await gateOpen(h);
      await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.plan.find((s) => s.id === 'maintenance-off')!.detail).toBe('left on: it was on before this run');
      expect(await platform()).toMatchObject({ replicas: 2, maintenance: true });
    } finally {
      await setMaintenance(false);
    }
  });
});

describe('maintenance window: not approved', () => {
  test('a rejection runs no task and the result says who rejected and why', async () => {
    const before = await stats('report_runs');
    const h = await start(maintenanceInput({ tasks: [{ kind: 'vacuum-analyze', table: 'report_runs' }] }), workflowId('mw-rejected'));
    await gateOpen(h);
    await castVote(env.client, h.workflowId, { approver: 'dave', decision: 'reject', comment: 'not during quarter close' });
    const result = await h.result();
    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe('rejected: rejected by dave: not during quarter close; no maintenance task was run');
    expect(result.tasks.map((t) => t.status)).toEqual(['not-run']);
    expect(result.backup).toBeUndefined();
    expect((await stats('report_runs')).vacuum_count).toBe(before.vacuum_count);
    const kinds = await auditKinds(h.workflowId);
    expect(kinds).not.toContain('task-started');
    expect(kinds).toContain('vote');
    expect(await platform()).toMatchObject({ replicas: 2, maintenance: false });
    await saveHistoryIfRecording('maintenance-window-rejected', h);
  });

  test('no decision before the timeout is an explicit timed-out outcome, escalated first, with nothing run', async () => {
    const h = await start(
      maintenanceInput({ approval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '3s', escalateAfter: '1s' } }),
      workflowId('mw-timeout'),
    );
    const result = await h.result();
    expect(result.outcome).toBe('timed-out');
    expect(result.approval.status).toBe('timed-out');
    expect(result.reason).toMatch(/^approval timed out: no decision by .* \(approval timeout 3s\); 0 of 1 approval\(s\); no maintenance task was run$/);
    expect(result.approval.escalatedAt).toBeDefined();
    const audiences = env.notifications.filter((n) => n.body.workflowId === h.workflowId).map((n) => n.body.audience);
    expect(audiences).toEqual(['stakeholders', 'approvers', 'escalation', 'stakeholders']);
    expect(await auditKinds(h.workflowId)).not.toContain('task-started');
  });
});

describe('approval deadlines and cancellation before any change', () => {
  test('a window that closes before the approval timeout bounds the gate, and escalation comes at 3/4 of it', async () => {
    const h = await start(
      maintenanceInput({ window: { length: '4s' }, approval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '1h' } }),
      workflowId('mw-window-gate'),
    );
    const result = await h.result();
    expect(result.outcome).toBe('timed-out');
    expect(result.reason).toMatch(/\(the maintenance window ends\)/);
    const audiences = env.notifications.filter((n) => n.body.workflowId === h.workflowId).map((n) => n.body.audience);
    expect(audiences).toContain('escalation');
  });

  test('cancelling while waiting for approval is recorded, announced and leaves nothing changed', async () => {
    const h = await start(maintenanceInput(), workflowId('mw-cancel-gate'));
    await gateOpen(h);
    await h.cancel();
    await expect(h.result()).rejects.toThrow(WorkflowFailedError);
    expect((await h.describe()).status.name).toBe('CANCELLED');
    const finished = (await env.deps.audit.forWorkflow(h.workflowId)).find((r) => r.kind === 'run-finished');
    expect(finished?.data).toMatchObject({ outcome: 'cancelled' });
    expect((finished?.data as { reason: string }).reason).toBe(
      'cancelled at approval. Done: no task. Not done: VACUUM (ANALYZE) public.reports on reports-db; ANALYZE public.report_runs on reports-db.',
    );
    expect(env.notifications.some((n) => n.body.workflowId === h.workflowId && n.body.title === 'Maintenance of reports stopped')).toBe(true);
    expect(await platform()).toMatchObject({ replicas: 2, maintenance: false });
  });
});

describe('approval gate rules on a live run', () => {
  test('quorum 2 of 2 waits for the second vote; self-approval, wrong roles and duplicates are refused', async () => {
    const h = await start(maintenanceInput({ approval: { quorum: 2, approverRoles: ['sre-lead'], timeout: '1h' } }), workflowId('mw-quorum'));
    await gateOpen(h);
    await expect(castVote(env.client, h.workflowId, { approver: 'bob', decision: 'approve' })).rejects.toThrow(
      new VoteRefusedError('"bob" requested this run and cannot approve it; ask someone with role sre-lead'),
    );
    await expect(castVote(env.client, h.workflowId, { approver: 'erin', decision: 'approve' })).rejects.toThrow(
      '"erin" has roles [dba]; this gate needs one of [sre-lead]',
    );
    const afterFirst = await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });
    expect(afterFirst.status).toBe('pending');
    await expect(castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' })).rejects.toThrow(/"alice" already voted/);
    // Still waiting: one approval is not a quorum of two.
    expect((await h.query(progress)).status).toBe('awaiting-approval');
    expect((await h.describe()).status.name).toBe('RUNNING');
    // The second approval comes from the Temporal UI, as a signal.
    await h.signal(approveFromUi, { approver: 'dave', decision: 'approve', comment: 'from the UI' });
    const result = await h.result();
    expect(result.outcome).toBe('completed');
    expect(result.approval.votes.map((v) => [v.approver, v.via])).toEqual([
      ['alice', 'update'],
      ['dave', 'signal'],
    ]);
    // Refused update votes never entered history: only the two counted votes are in the audit store.
    expect((await env.deps.audit.forWorkflow(h.workflowId)).filter((r) => r.kind === 'vote').map((r) => r.actor)).toEqual(['alice', 'dave']);
    await saveHistoryIfRecording('maintenance-window-quorum-ui-vote', h);
  });

  test('a refused vote sent from the UI is recorded with its reason and not counted', async () => {
    const h = await start(maintenanceInput(), workflowId('mw-ui-refused'));
    await gateOpen(h);
    await h.signal(approveFromUi, { approver: 'carol', decision: 'approve' });
    const refused = await eventually(async () => (await h.query(pendingApprovals)).refused[0], 10_000, 'the refused vote');
    expect(refused).toMatchObject({ approver: 'carol', via: 'signal', reason: '"carol" has roles [developer]; this gate needs one of [sre-lead]' });
    expect((await h.query(pendingApprovals)).status).toBe('pending');
    const row = await eventually(async () => (await env.deps.audit.forWorkflow(h.workflowId)).find((r) => r.kind === 'vote-refused'), 10_000, 'audit row');
    expect(row.actor).toBe('carol');
    await castVote(env.client, h.workflowId, { approver: 'bob', decision: 'reject', comment: 'withdrawn' });
    expect((await h.result()).outcome).toBe('rejected');
  });

  test('a quorum the directory cannot meet fails fast, naming approval.quorum', async () => {
    const h = await start(maintenanceInput({ approval: { quorum: 3, approverRoles: ['sre-lead'], timeout: '1h' } }), workflowId('mw-quorum-impossible'));
    const f = await failureOf(h);
    expect(f.type).toBe('InvalidInputError');
    expect(f.message).toBe(
      'invalid input: approval.quorum: needs 3 approver(s) with role sre-lead other than the requester; the directory has 2 (alice, dave)',
    );
  });
});

describe('bad input fails fast as a non-retryable failure naming the field, executing nothing', () => {
  const now = Date.now();
  test.each<[string, Partial<MaintenanceWindowInput>, RegExp]>([
    [
      'window end before start',
      { window: { start: new Date(now + 7200_000).toISOString(), end: new Date(now + 3600_000).toISOString() } },
      /window\.end: must be after window\.start/,
    ],
    [
      'a table name with SQL metacharacters',
      { tasks: [{ kind: 'vacuum-analyze', table: 'reports; DROP TABLE reports' }] },
      /tasks\[0\]\.table: must be a plain table name/,
    ],
    ['an unknown task', { tasks: [{ kind: 'truncate', table: 'reports' } as never] }, /tasks\[0\]\.kind: unknown task kind/],
  ])('%s', async (_name, override, expected) => {
    const h = await start(maintenanceInput(override), workflowId('mw-bad'));
    const f = await failureOf(h);
    expect(f.type).toBe('InvalidInputError');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(expected);
    expect(await scheduledActivities(h)).toBe(0);
    expect(await auditKinds(h.workflowId)).toEqual([]);
    if (_name === 'an unknown task') await saveHistoryIfRecording('maintenance-window-invalid-input', h);
  });

  test('an unknown target service', async () => {
    const h = await start(maintenanceInput({ service: 'billing' }), workflowId('mw-bad-target'));
    const f = await failureOf(h);
    expect(f.type).toBe('InvalidInputError');
    expect(f.message).toBe('invalid maintenanceWindow input: service: "billing" is not configured; known services: reports, reports-down');
    expect(await auditKinds(h.workflowId)).toEqual([]);
  });

  test('a table that does not exist in the target database', async () => {
    const h = await start(maintenanceInput({ tasks: [{ kind: 'analyze', table: 'public.nope' }] }), workflowId('mw-bad-table'));
    expect((await failureOf(h)).message).toBe('invalid maintenanceWindow input: tasks[0].table: relation "public.nope" does not exist in reports-db');
  });
});

describe('dry run, pre-checks and the window deadline', () => {
  test('dryRun returns the plan and changes nothing', async () => {
    const before = await stats('reports');
    const h = await start(
      maintenanceInput({
        dryRun: true,
        tasks: [
          { kind: 'vacuum-analyze', table: 'reports' },
          { kind: 'mongo-rebuild-indexes', collection: 'report_templates' },
        ],
      }),
      workflowId('mw-dry'),
    );
    const result = await h.result();
    expect(result.outcome).toBe('dry-run');
    expect(result.plan.map((s) => s.id)).toEqual([
      'precheck-health',
      'precheck-connectivity',
      'notify-start',
      'approval',
      'wait-window',
      'lock',
      'backup',
      'maintenance-on',
      'drain',
      'scale-down',
      'task-1',
      'task-2',
      'verify',
      'scale-up',
      'maintenance-off',
      'monitor',
      'report',
    ]);
    expect(result.plan.every((s) => s.status === 'skipped')).toBe(true);
    expect(result.plan.find((s) => s.id === 'task-2')!.title).toBe('rebuild indexes of report_templates on reports-mongo');
    expect(await h.query(plan)).toEqual(result.plan);
    expect((await stats('reports')).vacuum_count).toBe(before.vacuum_count);
    expect(await auditKinds(h.workflowId)).toEqual([]);
    expect(env.notifications.filter((n) => n.body.workflowId === h.workflowId)).toEqual([]);
    expect(await platform()).toMatchObject({ replicas: 2, maintenance: false });
  });

  test('an unhealthy service is not touched: the run aborts before asking for approval', async () => {
    const h = await start(maintenanceInput({ service: 'reports-down' }), workflowId('mw-down'));
    const result = await h.result();
    expect(result.outcome).toBe('aborted');
    expect(result.reason).toMatch(/^pre-check failed: reports-down is unhealthy \(ECONNREFUSED\); nothing was changed$/);
    expect(result.approval.status).toBe('not-requested');
  });

  test('when the window ends mid-run it stops at a safe point, scales back up and reports what was not done', async () => {
    await env.pool.query(`CREATE MATERIALIZED VIEW slow_stats AS SELECT 1 AS id, pg_sleep(2.5)::text AS slept`);
    await env.pool.query('CREATE UNIQUE INDEX slow_stats_id ON slow_stats (id)');
    const vacuumsBefore = (await stats('report_runs')).vacuum_count;
    const h = await start(
      maintenanceInput({
        window: { start: new Date(Date.now() - 60_000).toISOString(), end: new Date(Date.now() + 6000).toISOString() },
        tasks: [
          { kind: 'refresh-materialized-view', view: 'slow_stats' },
          { kind: 'refresh-materialized-view', view: 'slow_stats' },
          { kind: 'refresh-materialized-view', view: 'slow_stats' },
          { kind: 'vacuum-analyze', table: 'report_runs' },
        ],
      }),
      workflowId('mw-deadline'),
    );
    await gateOpen(h);
    await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });
    const result = await h.result();
    expect(result.outcome).toBe('window-ended');
    expect(result.reason).toMatch(
      /^the maintenance window ended at .* before "task-\d"\. Done: REFRESH MATERIALIZED VIEW CONCURRENTLY slow_stats on reports-db.*Not done: .*VACUUM \(ANALYZE\) report_runs on reports-db\. Undone: scale-up ok, maintenance-off ok\.$/,
    );
    expect(result.tasks[0]!.status).toBe('done');
    expect(result.tasks[3]!.status).toBe('skipped');
    expect(result.compensations).toEqual([
      { name: 'scale-up', ok: true },
      { name: 'maintenance-off', ok: true },
    ]);
    expect((await stats('report_runs')).vacuum_count).toBe(vacuumsBefore);
    expect(await platform()).toMatchObject({ replicas: 2, maintenance: false });
    const stopped = env.notifications.find((n) => n.body.workflowId === h.workflowId && n.body.title === 'Maintenance of reports stopped');
    expect(stopped?.body.severity).toBe('warning');
    await saveHistoryIfRecording('maintenance-window-deadline', h);
  });

  test('cancelling a run mid-task undoes what it changed', async () => {
    await env.pool.query('CREATE MATERIALIZED VIEW IF NOT EXISTS slow_stats AS SELECT 1 AS id, pg_sleep(2.5)::text AS slept');
    await env.pool.query('CREATE UNIQUE INDEX IF NOT EXISTS slow_stats_id ON slow_stats (id)');
    const h = await start(
      maintenanceInput({
        tasks: [
          { kind: 'refresh-materialized-view', view: 'slow_stats' },
          { kind: 'analyze', table: 'reports' },
        ],
      }),
      workflowId('mw-cancel'),
    );
    await gateOpen(h);
    await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });
    await eventually(async () => (await h.query(plan)).find((s) => s.id === 'task-1')?.status === 'running', 20_000, 'task-1 to run');
    expect((await platform()).replicas).toBe(0);
    await h.cancel();
    await expect(h.result()).rejects.toThrow(WorkflowFailedError);
    expect((await h.describe()).status.name).toBe('CANCELLED');
    expect(await platform()).toMatchObject({ replicas: 2, maintenance: false });
    const finished = (await env.deps.audit.forWorkflow(h.workflowId)).find((r) => r.kind === 'run-finished');
    expect(finished?.data).toMatchObject({ outcome: 'cancelled' });
    await saveHistoryIfRecording('maintenance-window-cancelled', h);
  });
});
