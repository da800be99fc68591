// Automatic rollback end to end, on real servers: the demo service runs the faulty v1.5.0 under steady
// traffic; a real Prometheus scrapes it and evaluates the stack's own alerting rules (for: shortened to
// 3s); a real Alertmanager calls the runbook HTTP API's webhook with its token; the API starts exactly one
// emergencyRollback however often the alert repeats; the demo serves v1.4.2 again, checked over HTTP.
import { setTimeout as sleep } from 'node:timers/promises';
import { WEBHOOK_PATH } from '../../scripts/stack/components/alertmanager';
import { HOST } from '../../scripts/stack/paths';
import type { EmergencyRollbackResult } from '../../workflows/emergency-rollback/contract';
import { freePort, keepPosting, startAlerting, type Alerting } from '../helpers/alerting';
import { startApi, TOKENS, type TestApi } from '../helpers/api';
import { createTestEnv, eventually, type TestEnv } from '../helpers/env';
import { admin } from '../helpers/runs';

let env: TestEnv;
let api: TestApi;
let alerting: Alerting;

beforeAll(async () => {
  // The demo runs inside this jest process, whose memory is jest's: lift its limit so that the memory
  // trigger does not fire first (the trigger under test is the error rate of the faulty release).
  process.env.DEMO_MEMORY_LIMIT_BYTES = String(64 * 1024 ** 3);
  const promPort = await freePort();
  env = await createTestEnv({
    initialVersions: ['v1.4.2', 'v1.5.0'],
    configure: (raw) => {
      raw.services.reports!.metrics = {
        prometheusUrl: `http://${HOST}:${promPort}`,
        errorRatio:
          'sum(rate(reports_http_requests_total{route!="/metrics", code=~"5.."}[$window])) / sum(rate(reports_http_requests_total{route!="/metrics"}[$window]))',
        p95Seconds: 'histogram_quantile(0.95, sum by (le) (rate(reports_http_request_duration_seconds_bucket{route!="/metrics"}[$window])))',
      };
      raw.services.reports!.rollback = { ...raw.services.reports!.rollback, verifyWindow: '5s' };
    },
  });
  await env.startWorker();
  api = await startApi(env);
  alerting = await startAlerting({
    demo: new URL(env.demo.url).host,
    webhookUrl: `${api.url}${WEBHOOK_PATH}`,
    token: TOKENS.alertmanager.token,
    forDuration: '3s',
    interval: '1s',
    promPort,
  });
});

afterAll(async () => {
  await alerting?.stop();
  await api?.close();
  await env?.cleanup();
});

const rollbackStarts = async (): Promise<Array<{ workflowId: string }>> =>
  (
    await env.pool.query<{ workflowId: string }>(
      `SELECT workflow_id AS "workflowId" FROM runbook_audit WHERE runbook = 'emergencyRollback' AND kind = 'run-started'`,
    )
  ).rows;

test('faulty version -> Prometheus rule fires -> Alertmanager -> API webhook -> exactly one emergencyRollback -> the previous version is served', async () => {
  const traffic = keepPosting(`${env.demo.url}/reports`, { reportId: 1 }, 40);
  let codes: Record<number, number> = {};
  try {
    const [started] = await eventually(
      async () => {
        const s = await rollbackStarts();
        return s.length ? s : undefined;
      },
      90_000,
      'an emergencyRollback started by the alert',
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; alerts ${JSON.stringify(await alerting.alerts())}${alerting.logs()}`);
    });
    const h = env.client.workflow.getHandle<() => Promise<EmergencyRollbackResult>>(started!.workflowId);
    const r = await h.result();
    expect(r.outcome).toBe('completed');
    expect(r.to).toMatchObject({ version: 'v1.4.2', cause: 'rollback' });
    expect(r.verification.metrics).toMatchObject({ measured: true, breaches: [] });
    const input = (await h.describe()).raw.workflowExecutionInfo?.type?.name;
    expect(input).toBe('emergencyRollback');
    const audit = await env.deps.audit.forWorkflow(started!.workflowId);
    const runStarted = audit.find((a) => a.kind === 'run-started')!;
    expect(runStarted.actor).toBe('alertmanager');
    expect((runStarted.data as { input: { trigger: { source: string; alerts: Array<{ name: string }> } } }).input.trigger).toMatchObject({
      source: 'alertmanager',
      alerts: expect.arrayContaining([expect.objectContaining({ name: 'ReportsErrorRateHigh' })]),
    });

    // The alert keeps firing until its rate window has passed, and Alertmanager may call again: still one.
    await sleep(8_000);
  } finally {
    codes = await traffic.stop();
  }
  expect(codes[500]).toBeGreaterThan(0);
  expect(await rollbackStarts()).toHaveLength(1);
  const d = (await (await admin(env, 'GET', '/deployment')).json()) as { history: Array<{ cause: string }> };
  expect(d.history.filter((x) => x.cause === 'rollback')).toHaveLength(1);

  // Checked over HTTP: the previous version, and no more 500s.
  const health = (await (await fetch(`${env.demo.url}/health`)).json()) as { version: string };
  expect(health.version).toBe('v1.4.2');
  const after = keepPosting(`${env.demo.url}/reports`, { reportId: 1 }, 10);
  await sleep(2_000);
  expect(Object.keys(await after.stop())).toEqual(['202']);
});

test('the webhook: the same alert posted again joins the rollback; 401 without a token, 403 for an approver token, 400 for a body that is not Alertmanager JSON', async () => {
  const body = {
    version: '4',
    status: 'firing',
    receiver: 'runbook-api',
    alerts: [{ status: 'firing', labels: { alertname: 'ReportsErrorRateHigh', service: 'reports', runbook_action: 'rollback' }, annotations: {} }],
  };
  const again = await api.call('POST', WEBHOOK_PATH, { as: 'alertmanager', body });
  expect(again.status).toBe(200);
  expect(again.body).toMatchObject({ rollbacks: [{ service: 'reports', created: false, workflowId: (await rollbackStarts())[0]!.workflowId }], ignored: [] });
  expect((await api.call('POST', WEBHOOK_PATH, { body })).status).toBe(401);
  expect((await api.call('POST', WEBHOOK_PATH, { as: 'alice', body })).status).toBe(403);
  const bad = await api.call('POST', WEBHOOK_PATH, { as: 'alertmanager', body: { status: 'firing', alerts: 'x' } });
  expect(bad.status).toBe(400);
  expect(bad.body.error).toMatch(/^invalid Alertmanager webhook body: alerts/);
  expect(await rollbackStarts()).toHaveLength(1);
});

test('the bad release deployed again: the same alert starts a new rollback (the first no longer covers the service), and its repeat joins that one', async () => {
  expect((await admin(env, 'POST', '/deployment', { version: 'v1.5.0', requestId: `redeploy-${env.id}` })).status).toBe(201);
  const body = {
    version: '4',
    status: 'firing',
    alerts: [{ status: 'firing', labels: { alertname: 'ReportsErrorRateHigh', service: 'reports', runbook_action: 'rollback' }, annotations: {} }],
  };
  const first = await api.call('POST', WEBHOOK_PATH, { as: 'alertmanager', body });
  const [rb] = first.body.rollbacks as Array<{ workflowId: string; created: boolean }>;
  expect(rb!.created).toBe(true);
  const r = await env.client.workflow.getHandle<() => Promise<EmergencyRollbackResult>>(rb!.workflowId).result();
  expect(r.outcome).toBe('completed');
  expect(r.to).toMatchObject({ revision: 5, version: 'v1.4.2' });
  const repeat = await api.call('POST', WEBHOOK_PATH, { as: 'alertmanager', body });
  expect(repeat.body.rollbacks).toEqual([expect.objectContaining({ workflowId: rb!.workflowId, created: false })]);
  expect(await rollbackStarts()).toHaveLength(2);
});
