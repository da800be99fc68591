// The notification payloads as the receivers see them: Slack blocks with links and commands, PagerDuty
// Events v2 bodies, email message and recipients, and the HMAC signature of generic webhooks.
import { emailMessage, emailRecipients, messageId } from '../../activities/notify/email';
import { pagerdutyEvent } from '../../activities/notify/pagerduty';
import { slackPayload } from '../../activities/notify/slack';
import type { Notification, Page } from '../../activities/notify/types';
import { sign, verifySignature, webhookBody, webhookHeaders } from '../../activities/notify/webhook';
import { notifySchema } from '../../config/notify';

const ctx = { uiUrl: 'http://127.0.0.1:8233/', namespace: 'runbooks' };
const RUN = 'http://127.0.0.1:8233/namespaces/runbooks/workflows/maintenance-window-1a2b';

const note = (o: Partial<Notification> = {}): Notification => ({
  key: 'maintenance-window-1a2b:run1:approval-requested',
  workflowId: 'maintenance-window-1a2b',
  runbook: 'maintenance-window',
  severity: 'info',
  audience: 'stakeholders',
  title: 'Approval needed: maintenance of reports',
  text: 'bob asks for maintenance of reports.',
  fields: { target: 'reports', tasks: 2 },
  ...o,
});

type Block = { type: string; text?: { text: string }; fields?: Array<{ text: string }>; elements?: Array<{ url?: string; text: unknown }> };

describe('slack', () => {
  test('blocks: header, text, fields, context and a link button to the run; approvers get the commands', () => {
    const p = slackPayload(note({ audience: 'approvers' }), ctx);
    const blocks = p.blocks as Block[];
    expect(blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'section', 'context', 'actions']);
    expect(blocks[0]!.text!.text).toBe('Approval needed: maintenance of reports');
    expect(blocks[1]!.text!.text).toBe('bob asks for maintenance of reports.');
    expect(blocks[2]!.fields!.map((f) => f.text)).toEqual(['*target*\nreports', '*tasks*\n2']);
    expect(blocks[3]!.text!.text).toContain('npm run runbook -- approve maintenance-window-1a2b --as <you>');
    expect(blocks[3]!.text!.text).toContain('npm run runbook -- reject maintenance-window-1a2b --as <you>');
    expect(blocks[4]!.elements![0]!.text).toContain(`<${RUN}|maintenance-window-1a2b>`);
    expect(blocks[5]!.elements![0]!.url).toBe(RUN);
    expect(p.text).toContain('*Approval needed: maintenance of reports*');
    expect(p.text).toContain(RUN);
  });

  test('stakeholders get no commands; Slack limits are kept', () => {
    const p = slackPayload(note({ title: 'x'.repeat(400), fields: {} }), ctx);
    const blocks = p.blocks as Block[];
    expect(blocks.map((b) => b.type)).toEqual(['header', 'section', 'context', 'actions']);
    expect(blocks[0]!.text!.text).toHaveLength(150);
    expect(JSON.stringify(p)).not.toContain('npm run runbook');
  });
});

describe('pagerduty', () => {
  const key = { routingKey: 'R0UT1NGKEY', ...ctx };
  const page = (action: Page['action']): Page => ({ action, dedupKey: 'incident:reports:42', severity: 'critical' });

  test('trigger carries summary, source, severity, details and the run link; ack and resolve only the dedup key', () => {
    const trigger = pagerdutyEvent({ ...note({ severity: 'critical', title: '[P1] reports is down' }), page: page('trigger') }, key);
    expect(trigger).toEqual({
      routing_key: 'R0UT1NGKEY',
      event_action: 'trigger',
      dedup_key: 'incident:reports:42',
      payload: {
        summary: '[P1] reports is down',
        source: 'reports',
        severity: 'critical',
        custom_details: {
          text: 'bob asks for maintenance of reports.',
          runbook: 'maintenance-window',
          workflowId: 'maintenance-window-1a2b',
          target: 'reports',
          tasks: 2,
        },
      },
      links: [{ href: RUN, text: 'The run in the Temporal Web UI' }],
    });
    for (const action of ['acknowledge', 'resolve'] as const) {
      expect(pagerdutyEvent({ ...note(), page: page(action) }, key)).toEqual({
        routing_key: 'R0UT1NGKEY',
        event_action: action,
        dedup_key: 'incident:reports:42',
      });
    }
  });

  test('a summary over the API limit is cut to 1024 characters', () => {
    const t = pagerdutyEvent({ ...note({ title: 'y'.repeat(2000) }), page: page('trigger') }, key);
    expect(t.event_action === 'trigger' && t.payload.summary.length).toBe(1024);
  });
});

describe('webhook signature', () => {
  const secret = 'hmac-test-key';
  const now = Date.UTC(2026, 10, 26, 12, 0, 0);

  test('signed headers verify; a tampered body, another key, an old or future timestamp do not', () => {
    const n = note();
    const body = webhookBody(n);
    const h = webhookHeaders(n, body, secret, now);
    const ts = h['X-Runbook-Timestamp']!;
    const sig = h['X-Runbook-Signature']!;
    expect(ts).toBe(String(now / 1000));
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(h['idempotency-key']).toBe(n.key);
    expect(JSON.parse(body)).toMatchObject({
      key: n.key,
      audience: 'stakeholders',
      severity: 'info',
      workflowId: n.workflowId,
      text: `*${n.title}*\n${n.text}`,
    });

    expect(verifySignature(secret, ts, body, sig, { nowMs: now + 60_000 })).toBe(true);
    expect(verifySignature(secret, ts, body.replace('bob', 'eve'), sig, { nowMs: now })).toBe(false);
    expect(verifySignature('another-key', ts, body, sig, { nowMs: now })).toBe(false);
    expect(verifySignature(secret, ts, body, sig, { nowMs: now + 301_000 })).toBe(false);
    expect(verifySignature(secret, ts, body, sig, { nowMs: now - 301_000 })).toBe(false);
    // A replay with a fresh timestamp but the old signature.
    const fresh = String(now / 1000 + 10);
    expect(verifySignature(secret, fresh, body, sig, { nowMs: now })).toBe(false);
    expect(verifySignature(secret, fresh, body, sign(secret, fresh, body), { nowMs: now })).toBe(true);
    expect(verifySignature(secret, undefined, body, sig, { nowMs: now })).toBe(false);
    expect(verifySignature(secret, ts, body, 'sha256=00', { nowMs: now })).toBe(false);
  });

  test('without a secret there is no signature', () => {
    const n = note();
    expect(Object.keys(webhookHeaders(n, webhookBody(n), undefined)).sort()).toEqual(['content-type', 'idempotency-key']);
  });
});

describe('email', () => {
  const people = {
    alice: { roles: ['sre-lead'], email: 'alice@example.test' },
    dave: { roles: ['dba'], email: 'dave@example.test' },
    bob: { roles: ['developer'] },
  };
  const email = notifySchema.parse({
    email: { host: '127.0.0.1', from: 'Runbooks <runbooks@example.test>', to: { stakeholders: ['alice', 'ops@example.test'], approvers: ['alice', 'dave'] } },
  }).email!;
  const config = { people };

  test('recipients: audience list with people resolved, plus the named people; no address is reported', () => {
    expect(emailRecipients(note(), email, config.people)).toEqual({ to: ['alice@example.test', 'ops@example.test'], unknown: [] });
    expect(emailRecipients(note({ audience: 'approvers', people: ['dave', 'bob'] }), email, config.people)).toEqual({
      to: ['alice@example.test', 'dave@example.test'],
      unknown: ['bob'],
    });
    expect(emailRecipients(note({ audience: 'escalation' }), email, config.people).to).toEqual([]);
  });

  test('subject, body with the run link and commands for approvers, a Message-ID fixed by the key', () => {
    const m = emailMessage(note({ audience: 'approvers' }), { ...ctx, from: email.from, to: ['alice@example.test'] });
    expect(m.subject).toBe('[info] Approval needed: maintenance of reports');
    expect(m.text).toContain(`The run in the Temporal Web UI: ${RUN}`);
    expect(m.text).toContain('npm run runbook -- approve maintenance-window-1a2b --as <you>');
    expect(m.text).toContain('target: reports');
    expect(m.messageId).toBe(messageId(note().key, email.from));
    expect(m.messageId).toMatch(/^<notify\.[0-9a-f]{32}@example\.test>$/);
    expect(messageId('another', email.from)).not.toBe(m.messageId);
    const s = emailMessage(note({ subject: '[INCIDENT] reports - down' }), { ...ctx, from: email.from, to: ['a@example.test'] });
    expect(s.subject).toBe('[INCIDENT] reports - down');
    expect(s.text).not.toContain('npm run runbook');
  });
});
