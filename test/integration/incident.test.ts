// The incident runbook on real servers: declaration with the communication template (paged for P1), the
// escalation ladder while nobody acknowledges (each level no earlier than its time), acknowledge stopping
// it, status updates repeating every updateEvery, an action of another runbook that names the incident,
// resolve with the root cause, and the post-incident report listing every event in order. Short intervals
// come from the test configuration; a second webhook records when each notification arrived.
import { createServer, type Server } from 'node:http';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { HOST } from '../../scripts/stack/paths';
import { acknowledgeUpdate, incidentQuery, resolveUpdate, statusUpdate, type IncidentInput, type IncidentResult } from '../../workflows/incident/contract';
import type { QueueRecoveryResult } from '../../workflows/queue-recovery/contract';
import { startApi } from '../helpers/api';
import { createTestEnv, eventually, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { failureOf, startRun, type RunHandle } from '../helpers/runs';

jest.setTimeout(120_000);

interface Received {
  at: number;
  body: {
    key: string;
    audience: string;
    title: string;
    text: string;
    workflowId: string;
    people?: string[];
    subject?: string;
    page?: { action: string; dedupKey: string; severity: string };
  };
}

let env: TestEnv;
let sink: Server;
const received: Received[] = [];

/** The ladder of the test configuration: on-call at once, team lead after 3s, engineering manager after 6s. */
const LADDER = [
  { level: 'on-call', people: ['dave'], after: '0s' },
  { level: 'team-lead', people: ['alice'], after: '3s' },
  { level: 'engineering-manager', people: ['erin'], after: '6s' },
];

beforeAll(async () => {
  sink = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ at: Date.now(), body: JSON.parse(body) as Received['body'] });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => sink.listen(0, HOST, r));
  const url = `http://${HOST}:${(sink.address() as { port: number }).port}/timed`;
  env = await createTestEnv({
    configure: (raw) => {
      raw.incidents = { updateEvery: '2s', escalation: LADDER };
      raw.notify = { ...raw.notify, webhooks: [...(raw.notify?.webhooks ?? []), { name: 'timed', url }] };
    },
  });
  await env.startWorker();
});

afterAll(async () => {
  await env?.cleanup();
  await new Promise((r) => sink?.close(r));
});

/** What the timed webhook received for one run, by the event part of its key (`declared`, `update-3`, ...). */
function notices(h: RunHandle): Array<Received & { event: string }> {
  return received.filter((n) => n.body.workflowId === h.workflowId).map((n) => ({ ...n, event: n.body.key.split(':').slice(2).join(':') }));
}
const notice = (h: RunHandle, event: string) => notices(h).find((n) => n.event === event);
const arrived = (h: RunHandle, event: string) => eventually(async () => notice(h, event), 30_000, `notification "${event}" of ${h.workflowId}`);

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof WorkflowUpdateFailedError)) throw new Error(`expected the update to be refused, got ${String(err)}`);
  return err.cause?.message ?? '';
}

const p1: IncidentInput = {
  severity: 'P1',
  title: 'Reports time out',
  service: 'reports',
  requestedBy: 'bob',
  impact: 'report downloads take over 10s',
  summary: 'p95 latency of /reports above 10s since 11:40',
};

test('P1 nobody acknowledges: template and page, ladder in order and on time; then ack, updates, an action, resolve and the report in order', async () => {
  const h = await startRun<IncidentResult>(env, 'incident', p1);

  const declared = await arrived(h, 'declared');
  expect(declared.body.subject).toBe('[INCIDENT] reports - Reports time out');
  expect(declared.body.page).toEqual({ action: 'trigger', dedupKey: h.workflowId, severity: 'error' });
  expect(declared.body.audience).toBe('escalation');
  // Seed 003's template, filled in.
  for (const line of [
    'Status: INVESTIGATING',
    'Severity: P1 (partial outage',
    'Start Time: 20',
    'Impact: report downloads take over 10s',
    'Current Status:\np95 latency of /reports above 10s since 11:40',
    'Actions Taken:',
    'Next Steps:\nNext update by',
    'ETA for Resolution: unknown',
  ])
    expect(declared.body.text).toContain(line);

  // Nobody acknowledges: every level in order, each no earlier than `after` since the declaration.
  const manager = await arrived(h, 'escalate-engineering-manager');
  const { timeline } = await h.query(incidentQuery);
  const declaredAt = Date.parse(timeline.find((e) => e.kind === 'declared')!.at);
  const onCall = notice(h, 'escalate-on-call')!;
  const lead = notice(h, 'escalate-team-lead')!;
  expect(onCall.body.people).toEqual(['dave']);
  expect(lead.body.people).toEqual(['alice']);
  expect(manager.body.people).toEqual(['erin']);
  expect(lead.at).toBeGreaterThanOrEqual(declaredAt + 3000);
  expect(manager.at).toBeGreaterThanOrEqual(declaredAt + 6000);
  const order = notices(h).map((n) => n.event);
  expect(order.indexOf('declared')).toBeLessThan(order.indexOf('escalate-on-call'));
  expect(order.indexOf('escalate-on-call')).toBeLessThan(order.indexOf('escalate-team-lead'));
  expect(order.indexOf('escalate-team-lead')).toBeLessThan(order.indexOf('escalate-engineering-manager'));

  // An unknown person and an empty text are refused; the incident goes on.
  expect(await refusal(h.executeUpdate(acknowledgeUpdate, { args: [{ by: 'zed' }] }))).toMatch(/by: "zed" is not a configured person/);
  expect(await refusal(h.executeUpdate(statusUpdate, { args: [{ by: 'dave', status: 'identified', text: '  ' }] }))).toMatch(/text: must not be empty/);
  expect(await refusal(h.executeUpdate(resolveUpdate, { args: [{ by: 'dave', rootCause: '' }] }))).toMatch(/rootCause: must not be empty/);

  await h.executeUpdate(acknowledgeUpdate, { args: [{ by: 'alice', note: 'looking at it' }] });
  const ack = await arrived(h, 'acknowledged');
  expect(ack.body.page).toEqual({ action: 'acknowledge', dedupKey: h.workflowId, severity: 'error' });
  expect(ack.body.text).toContain('acknowledged by alice');
  // Twice is a no-op: no second acknowledgement.
  await h.executeUpdate(acknowledgeUpdate, { args: [{ by: 'dave' }] });
  expect((await h.query(incidentQuery)).acknowledgedBy).toBe('alice');

  await h.executeUpdate(statusUpdate, { args: [{ by: 'dave', status: 'identified', text: 'a slow query on report_runs', nextSteps: 'add the index' }] });

  // Another runbook that names the incident: the incident records how it ended.
  const check = await startRun<QueueRecoveryResult>(env, 'queueRecovery', { service: 'reports', requestedBy: 'dave', mode: 'check', incident: h.workflowId });
  await check.result();
  await eventually(
    async () => (await h.query(incidentQuery)).timeline.some((e) => e.kind === 'action' && e.text.includes(check.workflowId)),
    30_000,
    'the action',
  );

  // Scheduled updates repeat, each at least updateEvery after the update before it.
  await eventually(
    async () => {
      const tl = (await h.query(incidentQuery)).timeline;
      const lastStatus = tl.map((e) => e.kind).lastIndexOf('status');
      return lastStatus >= 0 && tl.slice(lastStatus).some((e) => e.kind === 'repeated');
    },
    30_000,
    'a scheduled update after the status update',
  );

  await h.executeUpdate(resolveUpdate, { args: [{ by: 'alice', rootCause: 'missing index on report_runs', resolution: 'index added' }] });
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect(r.incidentStatus).toBe('resolved');
  expect(r.acknowledgedBy).toBe('alice');
  expect(r.rootCause).toBe('missing index on report_runs');

  const resolved = notice(h, 'resolved')!;
  expect(resolved.body.page).toEqual({ action: 'resolve', dedupKey: h.workflowId, severity: 'error' });
  expect(resolved.body.text).toContain('Status: RESOLVED');
  expect(resolved.body.text).toContain('Root Cause:\nmissing index on report_runs');

  // Updates: every one unique, scheduled ones at least updateEvery after the update before.
  const updates = r.timeline.filter((e) => e.kind === 'status' || e.kind === 'repeated');
  expect(updates.length).toBeGreaterThanOrEqual(3);
  for (let i = 1; i < updates.length; i++)
    if (updates[i]!.kind === 'repeated') expect(Date.parse(updates[i]!.at) - Date.parse(updates[i - 1]!.at)).toBeGreaterThanOrEqual(2000);
  const updateKeys = notices(h)
    .filter((n) => n.event.startsWith('update-'))
    .map((n) => n.event);
  expect(new Set(updateKeys).size).toBe(updateKeys.length);
  expect(updateKeys.length).toBe(updates.length);

  // The timeline and the report list every event in order.
  const kinds = r.timeline.map((e) => e.kind);
  const firstOf = (k: string) => kinds.indexOf(k as (typeof kinds)[number]);
  const sequence = ['declared', 'notified', 'escalated', 'acknowledged', 'status', 'action', 'resolved'].map(firstOf);
  expect(sequence.every((i) => i >= 0)).toBe(true);
  expect([...sequence].sort((a, b) => a - b)).toEqual(sequence);
  expect(kinds.at(-1)).toBe('resolved');
  expect(kinds.filter((k) => k === 'escalated')).toHaveLength(3);
  const times = r.timeline.map((e) => Date.parse(e.at));
  expect([...times].sort((a, b) => a - b)).toEqual(times);
  const at = (s: string) => {
    const i = r.report.indexOf(s);
    expect(i).toBeGreaterThanOrEqual(0);
    return i;
  };
  const inReport = [
    '**declared** (bob)',
    '**notified**',
    'on-call (dave) notified',
    'team-lead (alice) notified',
    'engineering-manager (erin) notified',
    '**acknowledged** (alice)',
    '**status** (dave): IDENTIFIED: a slow query on report_runs',
    `**action** (queueRecovery): ${check.workflowId}`,
    '**resolved** (alice)',
  ].map(at);
  expect([...inReport].sort((a, b) => a - b)).toEqual(inReport);
  expect(r.report).toContain('- Root cause: missing index on report_runs');
  expect(r.report).toContain('## Actions by other runbooks');
  await saveHistoryIfRecording('incident-resolved', h);
});

test('acknowledge stops the escalation: no later level, even past its time', async () => {
  const h = await startRun<IncidentResult>(env, 'incident', {
    severity: 'P2',
    title: 'Cache hit rate low',
    service: 'reports',
    requestedBy: 'carol',
    updateEvery: '1s',
    escalation: [
      { level: 'on-call', people: ['erin'], after: '0s' },
      { level: 'team-lead', people: ['alice'], after: '8s' },
    ],
  } satisfies IncidentInput);
  const declared = await arrived(h, 'declared');
  expect(declared.body.page).toBeUndefined();
  expect(declared.body.audience).toBe('stakeholders');
  await arrived(h, 'escalate-on-call');
  await h.executeUpdate(acknowledgeUpdate, { args: [{ by: 'erin' }] });
  const declaredAt = Date.parse((await h.query(incidentQuery)).timeline[0]!.at);
  // A scheduled update later than the team lead's time proves the loop went past it: a level due then would
  // have gone out before that update, in the same pass.
  await eventually(
    async () => (await h.query(incidentQuery)).timeline.some((e) => e.kind === 'repeated' && Date.parse(e.at) >= declaredAt + 9000),
    40_000,
    'a scheduled update past the team lead time',
  );
  const state = await h.query(incidentQuery);
  expect(state.escalatedTo).toEqual(['on-call']);
  expect(state.timeline.filter((e) => e.kind === 'escalated')).toHaveLength(1);
  expect(notice(h, 'escalate-team-lead')).toBeUndefined();
  await h.executeUpdate(resolveUpdate, { args: [{ by: 'erin', rootCause: 'cache flushed by a deploy' }] });
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect(r.report).toContain('- Escalated to: on-call');
  expect(r.report).not.toContain('team-lead (alice) notified');
});

test('bad input is refused with a message naming the field or person', async () => {
  const bad = async (input: Record<string, unknown>): Promise<string> => (await failureOf(await startRun(env, 'incident', input))).message;
  const base = { severity: 'P2', title: 'x', requestedBy: 'bob' };
  const [severity, title, person, order, service] = await Promise.all([
    bad({ ...base, severity: 'P5' }),
    bad({ ...base, title: '   ' }),
    bad({
      ...base,
      escalation: [
        { level: 'on-call', people: ['dave'], after: '0s' },
        { level: 'team-lead', people: ['zed'], after: '5m' },
      ],
    }),
    bad({
      ...base,
      escalation: [
        { level: 'on-call', people: ['dave'], after: '10m' },
        { level: 'team-lead', people: ['alice'], after: '5m' },
      ],
    }),
    bad({ ...base, service: 'nope' }),
  ]);
  expect(severity).toMatch(/invalid incident input: severity: must be one of P0, P1, P2, P3/);
  expect(title).toMatch(/invalid incident input: title: must not be empty/);
  expect(person).toMatch(/invalid incident input: escalation\[1\]\.people\[0\]: "zed" is not a configured person; known: .*alice/);
  expect(order).toMatch(/escalation\[1\]\.after: must be later than the level before \(on-call: 10m\)/);
  expect(service).toMatch(/service: "nope" is not configured/);
});

test('a dry run returns the plan and the filled template without notifying', async () => {
  const h = await startRun<IncidentResult>(env, 'incident', { ...p1, dryRun: true });
  const r = await h.result();
  expect(r.outcome).toBe('dry-run');
  expect(r.plan.map((s) => s.id)).toEqual(['declare', 'respond', 'post-incident-report', 'report']);
  expect(r.plan[1]!.title).toContain('on-call (dave) at 0s -> team-lead (alice) at 3s -> engineering-manager (erin) at 6s');
  expect(r.report).toContain('Subject: [INCIDENT] reports - Reports time out');
  expect(r.report).toContain('Status: INVESTIGATING');
  expect(notices(h)).toEqual([]);
});

test("HTTP API: ack, status and resolve as the token's person; a body naming someone else or an empty text is refused", async () => {
  const api = await startApi(env);
  try {
    const h = await startRun<IncidentResult>(env, 'incident', { severity: 'P3', title: 'Typo on the reports page', requestedBy: 'bob', updateEvery: '1h' });
    await arrived(h, 'declared');
    const path = (a: string) => `/runs/${h.workflowId}/incident/${a}`;
    expect((await api.call('POST', path('ack'), { body: {} })).status).toBe(401);
    const asOther = await api.call('POST', path('ack'), { as: 'alice', body: { by: 'bob' } });
    expect(asOther.status).toBe(400);
    expect(asOther.body.error).toMatch(/by: comes from your token \(alice\)/);
    const ack = await api.call('POST', path('ack'), { as: 'alice', body: { note: 'on it' } });
    expect(ack.status).toBe(200);
    expect(ack.body.incident).toMatchObject({ acknowledgedBy: 'alice' });
    const empty = await api.call('POST', path('status'), { as: 'bob', body: { status: 'identified', text: ' ' } });
    expect(empty.status).toBe(400);
    expect(empty.body.error).toMatch(/text: must not be empty/);
    const status = await api.call('POST', path('status'), { as: 'bob', body: { status: 'monitoring', text: 'fix deployed', eta: 'now' } });
    expect(status.status).toBe(200);
    const resolved = await api.call('POST', path('resolve'), { as: 'carol', body: { rootCause: 'a typo in the template', resolution: 'fixed' } });
    expect(resolved.status).toBe(200);
    const r = await h.result();
    expect(r.outcome).toBe('completed');
    expect(r.timeline.map((e) => [e.kind, e.by])).toEqual([
      ['declared', 'bob'],
      ['notified', undefined],
      // The configured ladder's on-call level (after 0s).
      ['escalated', undefined],
      ['acknowledged', 'alice'],
      ['status', 'bob'],
      ['resolved', 'carol'],
    ]);
  } finally {
    await api.close();
  }
});
