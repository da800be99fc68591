// Notifications as people receive them, on real servers: a real runbook run on a real worker sends through
// every transport at once, to a real SMTP server (the in-process mail sink: the test reads the message that
// arrived) and real HTTP receivers (the sink's /hooks for Slack, PagerDuty and a signed webhook; the env's
// webhook sink; a receiver that refuses twice; a port nobody listens on). Only the PagerDuty sequence and the
// "retried after success" case call the activity in a simulated activity context (no runbook pages yet).
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createNotifyActivities, type Notification, type NotifyResult } from '../../activities/notify';
import { messageId } from '../../activities/notify/email';
import { runUrl } from '../../activities/notify/links';
import { verifySignature } from '../../activities/notify/webhook';
import type { QueueRecoveryInput, QueueRecoveryResult } from '../../workflows/queue-recovery/contract';
import { HOST } from '../../scripts/stack/paths';
import { castVote } from '../../client/runbooks';
import { createTestEnv, maintenanceInput, NAMESPACE, workflowId, type TestEnv } from '../helpers/env';
import { admin, gateOpen } from '../helpers/runs';

jest.setTimeout(120_000);

const HMAC_KEY = `hmac-${randomUUID()}`;
const ROUTING_KEY = `routing-${randomUUID().replace(/-/g, '')}`;

let env: TestEnv;
let flaky: { server: Server; url: string; posts: Array<{ key: string; status: number }> };
let downPort: number;

/** A receiver that answers 500 to the first two POSTs of each notification key, then 202. */
function flakyReceiver(): Promise<typeof flaky> {
  const posts: Array<{ key: string; status: number }> = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const key = String(req.headers['idempotency-key']);
      const status = posts.filter((p) => p.key === key).length < 2 ? 500 : 202;
      posts.push({ key, status });
      res.writeHead(status).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, HOST, () => resolve({ server, url: `http://${HOST}:${(server.address() as AddressInfo).port}/hook`, posts })),
  );
}

/** A loopback port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  const srv = createServer();
  return new Promise((resolve) =>
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    }),
  );
}

beforeAll(async () => {
  flaky = await flakyReceiver();
  downPort = await closedPort();
  env = await createTestEnv({
    configure: (raw, { mail }) => {
      const notify = raw.notify!;
      raw.notify = {
        ...notify,
        // 500, 500, 202: the flaky receiver takes it on the last try.
        attempts: 3,
        webhooks: [
          ...(notify.webhooks ?? []),
          { name: 'signed', url: `${mail.url}/hooks/signed`, secret: HMAC_KEY },
          { name: 'flaky', url: flaky.url, audiences: ['escalation'] },
          { name: 'down', url: `http://${HOST}:${downPort}/hook`, minSeverity: 'critical' },
        ],
        slack: [{ name: 'slack', url: `${mail.url}/hooks/slack` }],
        pagerduty: { eventsUrl: `${mail.url}/hooks/pagerduty`, routingKey: ROUTING_KEY },
      };
    },
  });
  await env.startWorker();
});

afterAll(async () => {
  await env?.cleanup();
  await new Promise((r) => flaky?.server.close(r));
});

const sentTo = (name: string, key: string) => env.mail.hooks(name).filter((h) => (h.body as { key?: string; dedup_key?: string }).key === key);
const mailsFor = (key: string) => env.mail.messages().filter((m) => m.headers['x-runbook-notification'] === key);
const sinkFor = (key: string) => env.notifications.filter((n) => n.body.key === key);

async function checkQueues(input: Partial<QueueRecoveryInput> = {}): Promise<{ id: string; r: QueueRecoveryResult }> {
  const id = workflowId('notify-queues');
  const h = await env.client.workflow.start('queueRecovery', {
    taskQueue: env.taskQueue,
    workflowId: id,
    args: [{ service: 'reports', requestedBy: 'bob', mode: 'check', queues: ['report_jobs'], ...input }],
  });
  return { id, r: (await h.result()) as QueueRecoveryResult };
}

/** The key the kit gave the run's notification `event` (workflowId:runKey:event), read from the env's webhook sink. */
function keyOf(id: string, event: string): string {
  const n = env.notifications.find((x) => x.body.workflowId === id && x.body.key.endsWith(`:${event}`));
  if (!n) throw new Error(`no "${event}" notification of ${id} reached the webhook sink`);
  return n.body.key;
}

test('a runbook run: email with recipients, subject and run link over SMTP; Slack blocks with links; a signed webhook', async () => {
  const { id, r } = await checkQueues();
  expect(r.outcome).toBe('completed');
  expect(r.warnings).toEqual([]);
  const key = keyOf(id, 'finished');
  const note = sinkFor(key)[0]!.body;
  const link = runUrl(env.config.notify.uiUrl, NAMESPACE, id);

  const mail = await env.mail.waitForMessage((m) => m.headers['x-runbook-notification'] === key, 20_000);
  expect(mail.to.sort()).toEqual(['alice@example.test', 'bob@example.test']);
  expect(mail.from).toMatch(/^"?Runbooks"? <runbooks@example\.test>$/);
  expect(mail.subject).toBe(`[info] ${note.title}`);
  expect(mail.messageId).toBe(messageId(key, 'Runbooks <runbooks@example.test>'));
  expect(mail.text).toContain(note.text.split('\n').at(-1)!);
  expect(mail.text).toContain(`The run in the Temporal Web UI: ${link}`);
  expect(mail.text).not.toContain('npm run runbook -- approve');

  const slack = await env.mail.waitForHook((h) => h.name === 'slack' && JSON.stringify(h.body).includes(id));
  const payload = slack.body as { text: string; blocks: Array<{ type: string; text?: { text: string }; elements?: Array<{ url?: string; text: unknown }> }> };
  expect(payload.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'context', 'actions']);
  expect(payload.blocks[0]!.text!.text).toBe(note.title);
  expect(payload.blocks.at(-1)!.elements![0]!.url).toBe(link);
  expect(payload.text).toContain(link);

  const signed = await env.mail.waitForHook((h) => h.name === 'signed' && (h.body as { key: string }).key === key);
  const ts = signed.headers['x-runbook-timestamp'] as string;
  const sig = signed.headers['x-runbook-signature'] as string;
  expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
  expect(verifySignature(HMAC_KEY, ts, signed.raw, sig)).toBe(true);
  expect(verifySignature(HMAC_KEY, ts, signed.raw.replace('"info"', '"critical"'), sig)).toBe(false);
  expect(verifySignature('not-the-key', ts, signed.raw, sig)).toBe(false);
  expect(signed.body).toMatchObject({ key, workflowId: id, audience: 'stakeholders', severity: 'info', title: note.title });

  // Once per channel; the stakeholders' info notice goes neither to the escalation-only nor the critical-only hook.
  expect([mailsFor(key).length, sentTo('signed', key).length, sinkFor(key).length]).toEqual([1, 1, 1]);
  expect(env.mail.hooks('slack').filter((h) => JSON.stringify(h.body).includes(id))).toHaveLength(1);
  expect(flaky.posts.filter((p) => p.key === key)).toEqual([]);
  expect(env.mail.hooks('pagerduty')).toEqual([]);
});

test('a receiver that refuses twice is retried and takes it once; one that is down does not fail the run and is reported', async () => {
  // Nothing consumes: 30 jobs stay pending, over the critical threshold (20) -> an escalation notice.
  expect((await admin(env, 'PUT', '/workers', { replicas: 0 })).status).toBe(200);
  try {
    await env.redis.lpush(env.queue.pending, ...Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `deep-${i}`, reportId: 1 })));
    const { id, r } = await checkQueues({ thresholds: { warning: 10, critical: 20 } });
    expect(r.outcome).toBe('completed-with-warnings');
    expect(r.status).toBe('critical');
    const key = keyOf(id, 'queues-critical');

    // Refused twice, accepted on the third try: delivered exactly once, never reported.
    expect(flaky.posts.filter((p) => p.key === key).map((p) => p.status)).toEqual([500, 500, 202]);
    expect(r.warnings.join('\n')).not.toMatch(/flaky/);
    // Down: a warning of the run naming the channel, never its address.
    expect(r.warnings).toContain('notification "queues-critical" was not delivered by down: cannot connect (ECONNREFUSED)');
    expect(JSON.stringify(r)).not.toContain(String(downPort));
    const audit = await env.deps.audit.forWorkflow(id);
    const failed = audit.filter((a) => a.kind === 'notification-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.data).toMatchObject({ attempts: 3, failed: [{ channel: 'down', error: 'cannot connect (ECONNREFUSED)' }] });
    expect((failed[0]!.data.delivered as string[]).sort()).toEqual(['email', 'flaky', 'signed', 'slack', 'test-sink']);
    expect(
      audit
        .filter((a) => a.kind === 'notification-delivered' && a.key.startsWith(`notify:${key}:`))
        .map((a) => a.data.channel)
        .sort(),
    ).toEqual(['email', 'flaky', 'signed', 'slack', 'test-sink']);

    // Three attempts of the activity, yet every other channel got it once.
    const mail = await env.mail.waitForMessage((m) => m.headers['x-runbook-notification'] === key);
    expect(mail.to.sort()).toEqual(['alice@example.test', 'dave@example.test']);
    expect(mail.subject).toBe('[critical] Queues of reports: critical');
    expect(mail.text).toContain('npm run runbook -- start queue-recovery');
    expect([mailsFor(key).length, sentTo('signed', key).length, sinkFor(key).length]).toEqual([1, 1, 1]);
    const slackOf = env.mail.hooks('slack').filter((h) => JSON.stringify(h.body).includes(id));
    // The critical notice and the run's "finished" notice, each once.
    expect(slackOf.map((h) => (h.body as { blocks: Array<{ text?: { text: string } }> }).blocks[0]!.text!.text).sort()).toEqual(
      [sinkFor(keyOf(id, 'finished'))[0]!.body.title, 'Queues of reports: critical'].sort(),
    );
  } finally {
    await env.redis.del(env.queue.pending);
    await admin(env, 'PUT', '/workers', { replicas: 2 });
  }
});

test('an approval request reaches the approvers with the approve and reject commands', async () => {
  const id = workflowId('notify-approval');
  const h = await env.client.workflow.start('maintenanceWindow', {
    taskQueue: env.taskQueue,
    workflowId: id,
    args: [maintenanceInput({ tasks: [{ kind: 'analyze', table: 'public.report_runs' }] })],
  });
  await gateOpen(h);
  const mail = await env.mail.waitForMessage((m) => m.headers['x-runbook-workflow-id'] === id && m.subject.includes('Approval needed'));
  expect(mail.to.sort()).toEqual(['alice@example.test', 'dave@example.test']);
  expect(mail.text).toContain(`npm run runbook -- approve ${id} --as <you>`);
  expect(mail.text).toContain(`npm run runbook -- reject ${id} --as <you> --comment "<why>"`);
  expect(mail.text).toContain(runUrl(env.config.notify.uiUrl, NAMESPACE, id));
  const slack = await env.mail.waitForHook((h) => h.name === 'slack' && JSON.stringify(h.body).includes(`approve ${id}`));
  expect(JSON.stringify(slack.body)).toContain(`reject ${id} --as <you>`);

  await castVote(env.client, id, { approver: 'dave', decision: 'reject', comment: 'not now' });
  expect((await h.result()).outcome).toBe('rejected');
});

describe('the activity in an activity context', () => {
  const logger = new DefaultLogger('ERROR');
  const notify = (n: Notification, info: Partial<Info> = {}): Promise<NotifyResult> =>
    new MockActivityEnvironment({ namespace: NAMESPACE, ...info }, { logger }).run(() => createNotifyActivities(env.deps).notify(n));
  const incident = `incident:reports:${randomUUID().slice(0, 8)}`;
  const base = (event: string): Notification => ({
    key: `${incident}:${event}`,
    workflowId: `incident-${incident.slice(-8)}`,
    runbook: 'incident',
    // Not critical: the critical-only "down" hook stays out of these.
    severity: 'warning',
    audience: 'stakeholders',
    title: '[P1] reports: health check failing',
    text: 'GET /health answers 503 since 11:40.',
    fields: { target: 'reports' },
  });

  test('PagerDuty: trigger, acknowledge and resolve share one dedup key; only the trigger carries details', async () => {
    const steps = ['trigger', 'acknowledge', 'resolve'] as const;
    for (const action of steps) {
      const res = await notify({ ...base(`page-${action}`), page: { action, dedupKey: incident, severity: 'critical' } });
      expect(res.failed).toEqual([]);
      expect(res.delivered).toContain('pagerduty');
    }
    const events = env.mail.hooks('pagerduty').filter((h) => (h.body as { dedup_key: string }).dedup_key === incident);
    expect(events.map((e) => (e.body as { event_action: string }).event_action)).toEqual([...steps]);
    expect(events[0]!.body).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: incident,
      payload: {
        summary: '[P1] reports: health check failing',
        source: 'reports',
        severity: 'critical',
        custom_details: { text: 'GET /health answers 503 since 11:40.', runbook: 'incident', workflowId: base('x').workflowId, target: 'reports' },
      },
      links: [{ href: runUrl(env.config.notify.uiUrl, NAMESPACE, base('x').workflowId), text: 'The run in the Temporal Web UI' }],
    });
    expect(events[1]!.body).toEqual({ routing_key: ROUTING_KEY, event_action: 'acknowledge', dedup_key: incident });
    expect(events[2]!.body).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: incident });
  });

  test('retried after it succeeded, it sends nothing twice: one email, one POST per channel', async () => {
    const n: Notification = {
      ...base('retried'),
      workflowId: workflowId('incident-retried'),
      page: { action: 'trigger', dedupKey: `${incident}-retried`, severity: 'error' },
      subject: '[INCIDENT] reports - down',
    };
    const first = await notify(n, { attempt: 1 });
    const second = await notify(n, { attempt: 2 });
    expect(first).toEqual({ delivered: ['test-sink', 'signed', 'email', 'slack', 'pagerduty'], failed: [] });
    expect(second).toEqual(first);
    const mail = await env.mail.waitForMessage((m) => m.headers['x-runbook-notification'] === n.key);
    expect(mail.subject).toBe('[INCIDENT] reports - down');
    expect(mailsFor(n.key)).toHaveLength(1);
    expect(sinkFor(n.key)).toHaveLength(1);
    expect(sentTo('signed', n.key)).toHaveLength(1);
    expect(env.mail.hooks('pagerduty').filter((h) => (h.body as { dedup_key: string }).dedup_key === `${incident}-retried`)).toHaveLength(1);
    expect(env.mail.hooks('slack').filter((h) => JSON.stringify(h.body).includes(n.workflowId))).toHaveLength(1);
  });
});
