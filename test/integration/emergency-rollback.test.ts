// The emergency rollback on real servers: a demo service running the faulty v1.5.0 (30 % of report
// requests answer 500) with v1.4.2 before it, the seed's v2 data in Mongo and Postgres, and the reviewed
// database rollback steps of config/local.json. It rolls back, changes exactly what the steps name, serves
// v1.4.2 again, opens an incident, and a second start within the window joins the first run.
import { runbooks } from '../../client/registry';
import { startRunbookRun } from '../../client/runbooks';
import type { EmergencyRollbackResult } from '../../workflows/emergency-rollback/contract';
import type { UndoDataRollbackResult } from '../../workflows/undo-data-rollback/contract';
import { createTestEnv, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { admin, failureOf, gateOpen, startRun, stepReaches } from '../helpers/runs';
import { castVote } from '../../client/runbooks';

const entry = runbooks.emergencyRollback;

async function postReports(env: TestEnv, n: number): Promise<Record<number, number>> {
  const codes: Record<number, number> = {};
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${env.demo.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reportId":1}' });
    await res.arrayBuffer();
    codes[res.status] = (codes[res.status] ?? 0) + 1;
  }
  return codes;
}

async function deployment(
  env: TestEnv,
): Promise<{ current: { revision: number; version: string; cause: string }; history: Array<{ revision: number; version: string; cause: string }> }> {
  return (await (await admin(env, 'GET', '/deployment')).json()) as never;
}

async function flags(env: TestEnv): Promise<Record<string, boolean>> {
  return ((await (await admin(env, 'GET', '/flags')).json()) as { flags: Record<string, boolean> }).flags;
}

/** Every document of the collections the rollback steps touch, and the rows of the tables, in a stable order. */
async function snapshot(env: TestEnv) {
  const docs = async (c: string) => env.mongo.collection(c).find({}).sort({ name: 1, _id: 1 }).toArray();
  const rows = async (sql: string): Promise<Array<Record<string, unknown>>> => (await env.pool.query<Record<string, unknown>>(sql)).rows;
  return {
    templates: await docs('reporttemplates'),
    schedules: await docs('reportschedules'),
    exports: await rows('SELECT * FROM report_exports ORDER BY id'),
    reports: await rows('SELECT id, visibility FROM reports ORDER BY id'),
    migrations: await rows('SELECT version FROM schema_migrations ORDER BY version'),
  };
}

describe('emergencyRollback', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ initialVersions: ['v1.4.2', 'v1.5.0'] });
    await env.startWorker();
  });
  afterAll(async () => env?.cleanup());

  test('a dry run shows the plan with what each database step would touch, and changes nothing', async () => {
    const before = await snapshot(env);
    const run = await startRunbookRun(env.client, entry, { service: 'reports', requestedBy: 'bob', dryRun: true }, { taskQueue: env.taskQueue });
    const r = (await run.handle.result()) as EmergencyRollbackResult;
    expect(r.outcome).toBe('dry-run');
    const titles = r.plan.map((s) => s.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        'roll the deployment of reports back: revision 2 (v1.5.0) -> revision 1 (v1.4.2)',
        expect.stringMatching(/^database rollback templates-v2-fields: unset .*advancedFilters.* on [1-9]\d* document\(s\) of reporttemplates/),
        expect.stringMatching(
          /^database rollback exports-v2-formats: delete on [1-9]\d* row\(s\) of public\.report_exports.*\(down-migration 0002_reports_v2\)$/,
        ),
      ]),
    );
    expect(r.plan.every((s) => s.status === 'skipped')).toBe(true);
    expect(r.data.map((d) => d.id)).toEqual([
      'templates-v2-fields',
      'templates-v2-types',
      'schedules-advanced',
      'exports-v2-formats',
      'reports-org-visibility',
      'migration-0002-record',
    ]);
    expect(r.data.every((d) => d.count > 0)).toBe(true);
    expect(await snapshot(env)).toEqual(before);
    expect((await deployment(env)).current).toMatchObject({ revision: 2, version: 'v1.5.0' });
  });

  let first: EmergencyRollbackResult;
  let firstId: string;
  let beforeFirst: Awaited<ReturnType<typeof snapshot>>;

  test('rolls back: processors stopped and flags off meanwhile, v1.4.2 served again, exactly the configured data changed, verified, incident opened', async () => {
    const faulty = await postReports(env, 40);
    expect(faulty[500]).toBeGreaterThan(0);
    const before = await snapshot(env);
    beforeFirst = before;

    const run = await startRunbookRun(
      env.client,
      entry,
      { service: 'reports', requestedBy: 'bob', reason: 'v1.5.0 answers 500', verifyWindow: '1s' },
      { taskQueue: env.taskQueue },
    );
    expect(run.created).toBe(true);
    firstId = run.workflowId;
    first = (await run.handle.result()) as EmergencyRollbackResult;
    expect(first.outcome).toBe('completed');
    expect(first.from).toMatchObject({ revision: 2, version: 'v1.5.0' });
    expect(first.to).toMatchObject({ revision: 3, version: 'v1.4.2', cause: 'rollback' });
    expect(first.plan.map((s) => [s.id, s.status])).toEqual([
      ['precheck', 'done'],
      ['notify-start', 'done'],
      ['incident', 'done'],
      ['stop-new-work', 'done'],
      ['rollback', 'done'],
      ['rollout', 'done'],
      ...first.data.map((d) => [`data-${d.id}`, 'done']),
      ['resume-work', 'done'],
      ['verify', 'done'],
      ['integrity', 'done'],
      ['record', 'done'],
      ['report', 'done'],
    ]);
    // Each step changed what it counted, and saved it for an undo.
    for (const d of first.data) expect([d.id, d.changed, d.saved]).toEqual([d.id, d.count, d.count]);
    expect(first.integrity?.ok).toBe(true);
    expect(first.verification.smoke?.every((s) => s.ok)).toBe(true);

    // The service: the previous version, no 500s, processors back, the release's flag off, the module on.
    const health = (await (await fetch(`${env.demo.url}/health`)).json()) as { version: string; revision: number };
    expect(health).toMatchObject({ version: 'v1.4.2', revision: 3 });
    expect(await postReports(env, 40)).toEqual({ 202: 40 });
    expect(await flags(env)).toMatchObject({ REPORTS_MODULE_ENABLED: true, REPORTS_V2_ENABLED: false });
    expect(((await (await admin(env, 'GET', '/state')).json()) as { replicas: number }).replicas).toBe(2);

    // The data: v2 fields and types gone, custom schedules weekly, v2 exports and the migration record gone,
    // and nothing else touched.
    const after = await snapshot(env);
    expect(after.templates.filter((d) => 'advancedFilters' in d || 'customChartTypes' in d || 'templateInheritance' in d)).toEqual([]);
    expect(after.templates.filter((d) => ['advanced-analytics', 'predictive-insights', 'custom-dashboards'].includes(d.reportType as string))).toEqual([]);
    expect(after.schedules.filter((d) => ['custom', 'conditional'].includes(d.frequency as string))).toEqual([]);
    const untouchedTemplates = before.templates.filter((d) => (d.version as number) < 2);
    expect(after.templates.filter((d) => (d.version as number) < 2)).toEqual(untouchedTemplates);
    const untouchedSchedules = before.schedules.filter((d) => !['custom', 'conditional'].includes(d.frequency as string));
    expect(
      after.schedules.filter(
        (d) => !before.schedules.some((b) => String(b._id) === String(d._id) && ['custom', 'conditional'].includes(b.frequency as string)),
      ),
    ).toEqual(untouchedSchedules);
    expect(after.exports).toEqual(before.exports.filter((e) => !['dashboard', 'predictive-pdf'].includes(e.format as string)));
    expect(after.reports.filter((x) => x.visibility === 'org-wide')).toEqual([]);
    expect(after.reports.length).toBe(before.reports.length);
    expect(after.migrations).toEqual([{ version: '0001_init' }]);

    // The incident record and the audit trail.
    const incidents = await env.deps.audit.incidents('reports');
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({
      workflowId: firstId,
      severity: 'critical',
      status: 'open',
      title: 'Emergency rollback of reports: revision 2 (v1.5.0) -> revision 1 (v1.4.2)',
    });
    const kinds = (await env.deps.audit.forWorkflow(firstId)).map((a) => a.kind);
    expect(kinds).toEqual(expect.arrayContaining(['run-started', 'deployment-rolled-back', 'data-rolled-back', 'rollback-completed', 'run-finished']));
    expect(env.notifications.filter((n) => n.body.workflowId === firstId).map((n) => n.body.title)).toEqual([
      'Emergency rollback of reports started',
      'Emergency rollback of reports completed',
    ]);
    await saveHistoryIfRecording('emergency-rollback-completed', run.handle);
  });

  test('dedupe: a second start while the service is still at the revision the first run left joins it; after a new deploy it is a new rollback', async () => {
    const opts = { taskQueue: env.taskQueue };
    // The API passes the revision it reads from the platform: still 3, the first run's, so the same run.
    const again = await startRunbookRun(
      env.client,
      entry,
      { service: 'reports', requestedBy: 'carol', reason: 'me too' },
      { ...opts, currentRevision: async () => 3 },
    );
    expect(again).toMatchObject({ created: false, workflowId: firstId });
    // A caller that cannot read the revision gets a run of its own, and the runbook refuses to roll back a rollback.
    const blind = await startRunbookRun(env.client, entry, { service: 'reports', requestedBy: 'carol' }, opts);
    expect(blind.created).toBe(true);
    const r = (await blind.handle.result()) as EmergencyRollbackResult;
    expect(r.outcome).toBe('aborted');
    expect(r.reason).toMatch(/^nothing was changed: the current revision 3 \(v1\.4\.2\) is itself a rollback/);
    expect((await deployment(env)).history).toHaveLength(3);

    // The bad release deployed again (revision 4): the same request now rolls back again.
    expect((await admin(env, 'POST', '/deployment', { version: 'v1.5.0', requestId: `redeploy-${env.id}` })).status).toBe(201);
    const next = await startRunbookRun(
      env.client,
      entry,
      { service: 'reports', requestedBy: 'carol', verifyWindow: '1s' },
      { ...opts, currentRevision: async () => 4 },
    );
    expect(next.created).toBe(true);
    const n = (await next.handle.result()) as EmergencyRollbackResult;
    expect(n.outcome).toBe('completed');
    expect(n.to).toMatchObject({ revision: 5, version: 'v1.4.2', cause: 'rollback' });
    // Nothing left of v2 to roll back in the data: each step counted 0 and changed nothing.
    expect(n.data.map((d) => d.changed)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test('undo-data-rollback puts back exactly what the first rollback changed (its newest data-changing rollback by default), after approval; a second undo restores nothing', async () => {
    const h = await startRun<UndoDataRollbackResult>(env, 'undoDataRollback', { service: 'reports', requestedBy: 'carol', reason: 'v2 is fixed' });
    await Promise.race([gateOpen(h), failureOf(h).then((f) => Promise.reject(new Error(`failed before its gate: ${f.message}`)))]);
    await castVote(env.client, h.workflowId, { approver: 'dave', decision: 'approve' });
    const r = await h.result();
    expect(r.outcome).toBe('completed');
    expect(r.rollbackId).toBe(firstId);
    expect(r.restored).toEqual([...first.data].reverse().map((d) => ({ id: d.id, restored: d.changed })));
    expect(await snapshot(env)).toEqual(beforeFirst);
    await saveHistoryIfRecording('undo-data-rollback-completed', h);

    const again = await startRun<UndoDataRollbackResult>(env, 'undoDataRollback', { service: 'reports', requestedBy: 'carol' });
    await gateOpen(again);
    await castVote(env.client, again.workflowId, { approver: 'dave', decision: 'approve' });
    const r2 = await again.result();
    expect(r2.rollbackRunId).toBe(r.rollbackRunId);
    expect(r2.restored.every((x) => x.restored === 0)).toBe(true);
    expect(await snapshot(env)).toEqual(beforeFirst);
  });
});

describe('emergencyRollback stopped partway', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({
      initialVersions: ['v1.4.2', 'v1.5.0'],
      configure: (raw) => {
        // A reviewed step that fails when applied: report 1 still has runs referencing it (a foreign key).
        raw.services.reports!.dataRollback!.steps.push({
          id: 'report-in-use',
          store: 'postgres',
          target: 'reports-db',
          table: 'public.reports',
          where: { id: [1] },
          delete: true,
        });
      },
    });
    await env.startWorker();
  });
  afterAll(async () => env?.cleanup());

  test('the database steps done are undone (all or nothing), processors and flags restored; the deployment stays rolled back', async () => {
    const before = await snapshot(env);
    const flagsBefore = await flags(env);
    const h = await startRun<EmergencyRollbackResult>(env, 'emergencyRollback', { service: 'reports', requestedBy: 'bob', verifyWindow: '1s' });
    const failure = await failureOf(h);
    expect(failure.message).toMatch(/failed at data-report-in-use: .*foreign key/);
    expect(failure.message).toMatch(
      /Undone: undo database rollback report-in-use ok, undo database rollback migration-0002-record ok, .*undo database rollback templates-v2-fields ok, restore processors and paused flags ok\.$/,
    );
    expect(await snapshot(env)).toEqual(before);
    expect(await flags(env)).toEqual({ ...flagsBefore, REPORTS_V2_ENABLED: false });
    expect(((await (await admin(env, 'GET', '/state')).json()) as { replicas: number }).replicas).toBe(2);
    expect((await deployment(env)).current).toMatchObject({ version: 'v1.4.2', cause: 'rollback' });
    await saveHistoryIfRecording('emergency-rollback-data-undone', h);
  });
});

describe('emergencyRollback in an environment whose policy asks for approval', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({
      initialVersions: ['v1.4.2', 'v1.5.0'],
      configure: (raw) => {
        raw.services.reports!.environment = 'production';
        raw.environments = { production: { rollbackApproval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '10m' } } };
      },
    });
    await env.startWorker();
  });
  afterAll(async () => env?.cleanup());

  test('waits for a second person before changing anything; the requester cannot approve', async () => {
    const run = await startRunbookRun(env.client, entry, { service: 'reports', requestedBy: 'alice', verifyWindow: '1s' }, { taskQueue: env.taskQueue });
    await gateOpen(run.handle);
    await stepReaches(run.handle, 'approval', 'running');
    expect((await deployment(env)).current.version).toBe('v1.5.0');
    await expect(castVote(env.client, run.workflowId, { approver: 'alice', decision: 'approve' })).rejects.toThrow(/requested this run and cannot approve it/);
    await castVote(env.client, run.workflowId, { approver: 'dave', decision: 'approve' });
    const r = (await run.handle.result()) as EmergencyRollbackResult;
    expect(r.outcome).toBe('completed');
    expect(r.approval.votes.map((v) => v.approver)).toEqual(['dave']);
    expect((await deployment(env)).current).toMatchObject({ version: 'v1.4.2' });
    await saveHistoryIfRecording('emergency-rollback-approved', run.handle);
  });
});
