// Pure logic of the rollbacks: which revision a rollback goes back to (and when it refuses), how
// Alertmanager's webhook calls become rollback starts (one per service), and the input schemas.
import { alertmanagerWebhook } from '../../client/api/alertmanager';
import type { StartedRun } from '../../client/runbooks';
import type { DeploymentState, Revision } from '../../activities';
import { emergencyRollbackInputSchema } from '../../workflows/emergency-rollback/contract';
import { gradualRollbackInputSchema } from '../../workflows/gradual-rollback/contract';
import { chooseRevision } from '../../workflows/lib/rollback';
import { describeIssues } from '../../workflows/lib/validate';

const r = (revision: number, version: string, cause: Revision['cause'] = 'deploy'): Revision => ({
  revision,
  version,
  cause,
  requestId: `req-${revision}`,
  at: '2026-11-26T00:00:00Z',
});
const deployment = (history: Revision[]): DeploymentState => ({
  current: history[history.length - 1]!,
  history,
  rollout: { revision: history[history.length - 1]!.revision, status: 'complete', updated: 2, total: 2 },
  available: ['v1.4.2', 'v1.5.0'],
});

describe('chooseRevision', () => {
  test('default: the revision before the current one', () => {
    expect(chooseRevision(deployment([r(1, 'v1.4.2'), r(2, 'v1.5.0')]), undefined)).toEqual({ to: r(1, 'v1.4.2') });
  });
  test('refuses to roll back a rollback by default (it would re-deploy the bad release), but follows an explicit toRevision', () => {
    const d = deployment([r(1, 'v1.4.2'), r(2, 'v1.5.0'), r(3, 'v1.4.2', 'rollback')]);
    expect(chooseRevision(d, undefined).refusal).toMatch(/revision 3 \(v1\.4\.2\) is itself a rollback/);
    expect(chooseRevision(d, 1)).toEqual({ to: r(1, 'v1.4.2') });
  });
  test('refuses a single revision, an unknown revision and the current one', () => {
    expect(chooseRevision(deployment([r(1, 'v1.4.2')]), undefined).refusal).toMatch(/no previous revision/);
    expect(chooseRevision(deployment([r(1, 'v1.4.2'), r(2, 'v1.5.0')]), 7).refusal).toMatch(
      /toRevision: there is no revision 7; history: revision 1 \(v1\.4\.2\), revision 2/,
    );
    expect(chooseRevision(deployment([r(1, 'v1.4.2'), r(2, 'v1.5.0')]), 2).refusal).toMatch(/is the current one/);
  });
});

describe('the Alertmanager webhook', () => {
  const alert = (name: string, labels: Record<string, string>, status: 'firing' | 'resolved' = 'firing') => ({
    status,
    labels: { alertname: name, ...labels },
    annotations: { summary: `${name} summary` },
    startsAt: '2026-11-26T01:00:00Z',
    fingerprint: `fp-${name}`,
  });
  const body = (alerts: unknown[]) => ({ version: '4', status: 'firing', receiver: 'runbook-api', groupKey: 'x', externalURL: 'http://am', alerts });

  function recorder() {
    const calls: Array<{ service: string; input: unknown }> = [];
    return {
      calls,
      start: async (service: string, input: unknown): Promise<StartedRun> => {
        calls.push({ service, input });
        return { workflowId: `rollback-${service}`, runId: 'run', created: calls.length === 1, handle: undefined as never };
      },
    };
  }

  test('several rollback alerts for one service start one rollback, with the alerts as its trigger', async () => {
    const rec = recorder();
    const answer = await alertmanagerWebhook(
      body([
        alert('ReportsErrorRateHigh', { service: 'reports', runbook_action: 'rollback' }),
        alert('ReportsLatencyP95High', { service: 'reports', runbook_action: 'rollback' }),
      ]),
      { services: ['reports'], start: rec.start },
    );
    expect(rec.calls).toHaveLength(1);
    expect(rec.calls[0]).toEqual({
      service: 'reports',
      input: {
        service: 'reports',
        reason: 'Alertmanager: ReportsErrorRateHigh, ReportsLatencyP95High',
        trigger: {
          source: 'alertmanager',
          alerts: [
            { name: 'ReportsErrorRateHigh', startsAt: '2026-11-26T01:00:00Z', summary: 'ReportsErrorRateHigh summary', fingerprint: 'fp-ReportsErrorRateHigh' },
            {
              name: 'ReportsLatencyP95High',
              startsAt: '2026-11-26T01:00:00Z',
              summary: 'ReportsLatencyP95High summary',
              fingerprint: 'fp-ReportsLatencyP95High',
            },
          ],
        },
      },
    });
    // The input is what the runbook accepts (requestedBy comes from the API token).
    expect(emergencyRollbackInputSchema.safeParse({ ...(rec.calls[0]!.input as object), requestedBy: 'alertmanager' }).success).toBe(true);
    expect(answer).toEqual({
      rollbacks: [
        { service: 'reports', alerts: ['ReportsErrorRateHigh', 'ReportsLatencyP95High'], workflowId: 'rollback-reports', runId: 'run', created: true },
      ],
      ignored: [],
    });
  });

  test('resolved alerts, alerts without the label or service, and unknown services start nothing and say why', async () => {
    const rec = recorder();
    const answer = await alertmanagerWebhook(
      body([
        alert('A', { service: 'reports', runbook_action: 'rollback' }, 'resolved'),
        alert('B', { service: 'reports' }),
        alert('C', { runbook_action: 'rollback' }),
        alert('D', { service: 'billing', runbook_action: 'rollback' }),
      ]),
      { services: ['reports'], start: rec.start },
    );
    expect(rec.calls).toEqual([]);
    expect(answer).toEqual({
      rollbacks: [],
      ignored: [
        { alert: 'A', why: 'resolved' },
        { alert: 'B', why: 'no runbook_action="rollback" label' },
        { alert: 'C', why: 'no service label' },
        { alert: 'D', why: 'service "billing" is not configured' },
      ],
    });
  });

  test('a body that is not Alertmanager JSON is refused, naming the field', async () => {
    const rec = recorder();
    expect(await alertmanagerWebhook({ status: 'firing', alerts: [{ labels: {} }] }, { services: ['reports'], start: rec.start })).toEqual({
      error: expect.stringMatching(/^invalid Alertmanager webhook body: alerts\[0\]\.status/),
    });
    expect(await alertmanagerWebhook('nope', { services: ['reports'], start: rec.start })).toEqual({
      error: expect.stringContaining('invalid Alertmanager webhook body'),
    });
    expect(rec.calls).toEqual([]);
  });
});

describe('rollback inputs', () => {
  const issues = (schema: typeof emergencyRollbackInputSchema | typeof gradualRollbackInputSchema, v: unknown): string => {
    const p = schema.safeParse(v);
    return p.success ? 'ok' : describeIssues(p.error);
  };
  test('emergency: unknown fields, a bad revision and a long verify window are refused by name', () => {
    expect(issues(emergencyRollbackInputSchema, { service: 'reports', requestedBy: 'bob' })).toBe('ok');
    expect(issues(emergencyRollbackInputSchema, { service: 'reports', requestedBy: 'bob', force: true })).toMatch(/force/);
    expect(issues(emergencyRollbackInputSchema, { service: 'reports', requestedBy: 'bob', toRevision: 0 })).toMatch(/toRevision/);
    expect(issues(emergencyRollbackInputSchema, { service: 'reports', requestedBy: 'bob', verifyWindow: '2h' })).toMatch(/verifyWindow: must be at most 15m/);
  });
  test('gradual: the watch is bounded (at most 500 reads, every 5s or more)', () => {
    expect(issues(gradualRollbackInputSchema, { service: 'reports', requestedBy: 'bob' })).toBe('ok');
    expect(issues(gradualRollbackInputSchema, { service: 'reports', requestedBy: 'bob', watchFor: '24h', watchInterval: '10s' })).toMatch(
      /watchInterval: .*500 reads/,
    );
    expect(issues(gradualRollbackInputSchema, { service: 'reports', requestedBy: 'bob', watchFor: '10s', watchInterval: '1s' })).toMatch(
      /watchInterval: must be at least 5s/,
    );
  });
});
