// The HTTP API on the real stack: who may do what (401/403), starts validated with the runbooks' own
// schemas and idempotent by key, approvals whose identity is the token's, status, results, lists, cancel,
// and the OpenAPI document generated from the same schemas.
import { RUNBOOKS } from '../../client/registry';
import type { MaintenanceWindowResult } from '../../workflows/maintenance-window/contract';
import { startApi, type TestApi } from '../helpers/api';
import { createTestEnv, eventually, maintenanceInput, type TestEnv } from '../helpers/env';
import { platform } from '../helpers/runs';

let env: TestEnv;
let api: TestApi;
beforeAll(async () => {
  env = await createTestEnv();
  await env.startWorker();
  api = await startApi(env);
});
afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

/** A maintenance window the API may start: requestedBy comes from the token, so the body leaves it out. */
function mwBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const { requestedBy: _who, ...rest } = maintenanceInput({ backup: false, tasks: [{ kind: 'analyze', table: 'reports' }], monitoringPeriod: '1s' });
  return { ...rest, ...overrides };
}

async function runsOnQueue(): Promise<number> {
  return (await env.client.workflow.count(`TaskQueue = "${env.taskQueue}"`)).count;
}

describe('authentication and roles', () => {
  test('no token or an unknown one is 401; the wrong role is 403; nothing starts', async () => {
    const before = await runsOnQueue();
    expect((await api.call('GET', '/runs')).status).toBe(401);
    expect((await api.call('GET', '/runs', { headers: { authorization: 'Bearer not-a-token-of-ours-at-all-000' } })).status).toBe(401);
    expect((await api.call('GET', '/runs', { headers: { authorization: `Basic ${Buffer.from('bob:x').toString('base64')}` } })).status).toBe(401);
    const asApprover = await api.call('POST', '/runbooks/restart-workers/runs', { as: 'alice', body: { service: 'reports' } });
    expect(asApprover).toEqual({ status: 403, body: { error: 'this needs role operator; token "alice-approver" has approver' } });
    expect((await api.call('POST', '/runs/whatever/approve', { as: 'bob', body: {} })).status).toBe(403);
    expect((await api.call('POST', '/runs/whatever/cancel', { as: 'alice' })).status).toBe(403);
    // Public: liveness and the API's description.
    expect((await api.call('GET', '/health')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await runsOnQueue()).toBe(before);
  });
});

describe('starting runs', () => {
  test('bad input is a 400 naming the field, an unknown runbook 404, a body naming someone else 400; nothing starts', async () => {
    const before = await runsOnQueue();
    expect(await api.call('POST', '/runbooks/restart-workers/runs', { as: 'bob', body: { service: 'reports', recoveryTimeout: '3h' } })).toEqual({
      status: 400,
      body: { error: 'invalid restart-workers input: recoveryTimeout: must be at most 1h' },
    });
    expect((await api.call('POST', '/runbooks/restart-workers/runs', { as: 'bob', body: { service: 'reports', extra: 1 } })).body.error).toMatch(
      /^invalid restart-workers input: \(input\): Unrecognized key: "extra"/,
    );
    expect((await api.call('POST', '/runbooks/restart-everything/runs', { as: 'bob', body: {} })).status).toBe(404);
    expect(await api.call('POST', '/runbooks/restart-workers/runs', { as: 'bob', body: { service: 'reports', requestedBy: 'alice' } })).toEqual({
      status: 400,
      body: { error: 'invalid body: requestedBy: comes from your token (bob); leave it out' },
    });
    expect((await api.call('POST', '/runbooks/restart-workers/runs', { as: 'bob', body: [1, 2] })).status).toBe(400);
    expect(
      (
        await api.call('POST', '/runbooks/restart-workers/runs', {
          as: 'bob',
          body: { service: 'reports' },
          headers: { 'idempotency-key': 'no spaces allowed' },
        })
      ).status,
    ).toBe(400);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await runsOnQueue()).toBe(before);
  });

  test('the same Idempotency-Key starts one run however often it is sent, even after the run ended', async () => {
    const send = () =>
      api.call('POST', '/runbooks/restart-workers/runs', {
        as: 'bob',
        body: { service: 'reports', recoveryTimeout: '20s' },
        headers: { 'idempotency-key': `alert-${env.id}` },
      });
    const [a, b] = await Promise.all([send(), send()]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(a.body.workflowId).toBe(b.body.workflowId);
    const id = a.body.workflowId as string;
    const done = await eventually(
      async () => {
        const r = await api.call('GET', `/runs/${id}/result`, { as: 'bob' });
        return r.status === 200 ? r : undefined;
      },
      30_000,
      'the run to end',
    );
    expect(done.body).toMatchObject({ execution: 'COMPLETED', result: { outcome: 'completed', recoveredBy: 'graceful' } });
    const again = await send();
    expect(again).toMatchObject({ status: 200, body: { workflowId: id, created: false, status: 'COMPLETED' } });
    // The requester is the token's person.
    expect((await env.client.workflow.getHandle(id).describe()).searchAttributes.RunbookRequester).toEqual(['bob']);
  });
});

describe('approvals, status, lists and cancel', () => {
  test('an approver votes as the token says; self-approval and a body naming the approver are refused', async () => {
    const started = await api.call('POST', '/runbooks/maintenance-window/runs', { as: 'carol', body: mwBody() });
    expect(started.status).toBe(201);
    const id = started.body.workflowId as string;
    await eventually(
      async () => ((await api.call('GET', `/runs/${id}`, { as: 'bob' })).body.approvals as { status?: string } | undefined)?.status === 'pending',
      20_000,
      'the gate',
    );
    // The inbox: alice may decide it; carol requested it (not in hers); bob, an operator, has no inbox.
    const box = await eventually(async () => {
      const r = await api.call('GET', '/inbox', { as: 'alice' });
      return (r.body.items as Array<{ workflowId: string }>).some((i) => i.workflowId === id) && r;
    });
    expect(box.body).toMatchObject({
      person: 'alice',
      items: expect.arrayContaining([expect.objectContaining({ workflowId: id, requestedBy: 'carol', quorum: 1, approvals: 0 })]),
    });
    const carols = (await api.call('GET', '/inbox', { as: 'carol' })).body.items as Array<{ workflowId: string }>;
    expect(carols.map((i) => i.workflowId)).not.toContain(id);
    expect((await api.call('GET', '/inbox', { as: 'bob' })).status).toBe(403);
    // carol started it: she has the approver role too, but cannot approve her own run.
    expect(await api.call('POST', `/runs/${id}/approve`, { as: 'carol', body: {} })).toEqual({
      status: 409,
      body: { error: '"carol" requested this run and cannot approve it; ask someone with role sre-lead' },
    });
    expect(await api.call('POST', `/runs/${id}/approve`, { as: 'alice', body: { approver: 'dave' } })).toEqual({
      status: 400,
      body: { error: 'invalid body: approver: comes from your token (alice); leave it out' },
    });
    const vote = await api.call('POST', `/runs/${id}/approve`, { as: 'alice', body: { comment: 'via the API' } });
    expect(vote).toMatchObject({ status: 200, body: { approver: 'alice', decision: 'approve', gate: 'approved' } });
    const after = (await api.call('GET', '/inbox', { as: 'alice' })).body.items as Array<{ workflowId: string }>;
    expect(after.map((i) => i.workflowId)).not.toContain(id);
    const status = await api.call('GET', `/runs/${id}`, { as: 'alice' });
    expect(status.body).toMatchObject({ workflowId: id, type: 'maintenanceWindow' });
    expect((status.body.plan as Array<{ id: string }>).map((s) => s.id)).toContain('task-1');
    const result = await eventually(
      async () => {
        const r = await api.call('GET', `/runs/${id}/result`, { as: 'bob' });
        return r.status === 200 ? r : undefined;
      },
      30_000,
      'the result',
    );
    const r = result.body.result as MaintenanceWindowResult;
    expect(r.outcome).toBe('completed');
    expect(r.approval.votes).toMatchObject([{ approver: 'alice', comment: 'via the API', via: 'update' }]);
    const audit = await env.deps.audit.forWorkflow(id);
    expect(audit.find((x) => x.kind === 'vote')).toMatchObject({ actor: 'alice' });
  });

  test('list filters by runbook and status; cancel runs the undo and a second cancel is 409', async () => {
    const started = await api.call('POST', '/runbooks/maintenance-window/runs', { as: 'bob', body: mwBody() });
    const id = started.body.workflowId as string;
    const listed = await eventually(
      async () => {
        const l = await api.call('GET', '/runs?runbook=maintenance-window&status=awaiting-approval', { as: 'alice' });
        return (l.body.runs as Array<{ workflowId: string }>).some((x) => x.workflowId === id) ? l : undefined;
      },
      20_000,
      'the run in the list',
    );
    expect(
      (listed.body.runs as Array<{ runbook: string; status: string }>).every((x) => x.runbook === 'maintenance-window' && x.status === 'awaiting-approval'),
    ).toBe(true);
    expect((await api.call('GET', '/runs?status=awaiting approval"', { as: 'alice' })).status).toBe(400);
    expect((await api.call('GET', '/runs?limit=1000', { as: 'alice' })).status).toBe(400);
    expect((await api.call('POST', `/runs/${id}/cancel`, { as: 'bob' })).status).toBe(202);
    await eventually(async () => (await api.call('GET', `/runs/${id}/result`, { as: 'bob' })).body.execution === 'CANCELLED', 20_000, 'the cancellation');
    expect((await api.call('POST', `/runs/${id}/cancel`, { as: 'dave' })).status).toBe(409);
    expect(await platform(env)).toMatchObject({ replicas: 2, maintenance: false });
    expect((await api.call('GET', '/runs/no-such-run', { as: 'bob' })).status).toBe(404);
  });
});

test('the OpenAPI document describes every runbook start with the schema that validates it', async () => {
  const doc = (await api.call('GET', '/openapi.json')).body as {
    openapi: string;
    paths: Record<string, unknown>;
    components: { schemas: Record<string, { properties: Record<string, unknown>; required: string[] }> };
  };
  expect(doc.openapi).toBe('3.1.0');
  for (const r of RUNBOOKS) {
    expect(doc.paths[`/runbooks/${r.name}/runs`]).toBeDefined();
    const schema = doc.components.schemas[`${r.workflowType}Input`]!;
    const own = r.inputJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(schema.properties).sort()).toEqual(
      Object.keys(own.properties)
        .filter((k) => k !== 'requestedBy')
        .sort(),
    );
    // What the runbook requires, except the requester (the API takes it from the token).
    expect([...schema.required].sort()).toEqual(own.required.filter((k) => k !== 'requestedBy').sort());
    expect(schema.required.length).toBeGreaterThan(0);
  }
  // The webhook receiver, with the Alertmanager JSON it accepts.
  expect(doc.paths['/alertmanager/webhook']).toBeDefined();
  expect(doc.components.schemas.AlertmanagerWebhook!.required).toEqual(['status', 'alerts']);
});
