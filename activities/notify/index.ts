// The notification port. Every notification goes to the worker log and the audit store, and to each
// configured transport that takes it (by audience and severity): email over SMTP, Slack-compatible incoming
// webhooks, PagerDuty Events v2 (only notifications that carry a page), generic webhooks signed with HMAC.
// Idempotent per channel: the audit record notify:<key>:<channel> marks a channel that took it, and a retried
// activity skips those. Every channel is tried on every attempt; the ones that failed make the attempt fail
// (Temporal retries) until notify.attempts, after which they are returned as `failed` and the run goes on.
// Errors and logs name the channel, never its URL or key (secrets).
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { Transporter } from 'nodemailer';
import type { Deps } from '../deps';
import { emailMessage, emailRecipients, smtpTransport, takesEmail } from './email';
import { routes } from './links';
import { pagerdutyEvent } from './pagerduty';
import { slackPayload } from './slack';
import { webhookBody, webhookHeaders } from './webhook';

import type { Notification, NotifyResult } from './types';

export type { Audience, Notification, NotifyResult, Page, Severity } from './types';
export { verifySignature } from './webhook';

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;

/** A failure whose message is safe to show: it names what happened, never the URL or a key. */
class ChannelError extends Error {}

/** What went wrong, without anything a URL, SMTP transcript or server message could leak. */
function describe(err: unknown): string {
  if (err instanceof ChannelError) return err.message;
  const e = err as { name?: string; code?: string; responseCode?: number; cause?: { code?: string; name?: string } };
  if (e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError' || e.code === 'ETIMEDOUT') return 'timed out';
  if (e.responseCode) return `SMTP server answered ${e.responseCode}`;
  const code = e.cause?.code ?? e.code;
  return code ? `cannot connect (${code})` : 'failed to send';
}

async function post(url: string, headers: Record<string, string>, body: string, ok: (status: number) => boolean = (s) => s >= 200 && s < 300): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer().catch(() => undefined);
  if (!ok(res.status)) throw new ChannelError(`answered ${res.status}`);
}

interface Channel {
  name: string;
  send(): Promise<void>;
}

export function createNotifyActivities(deps: Deps) {
  let smtp: Transporter | undefined;

  /** The transports that take this notification, each as a send to run. */
  function channels(n: Notification, namespace: string): Channel[] {
    const cfg = deps.config.notify;
    const ctx = { uiUrl: cfg.uiUrl, namespace };
    const out: Channel[] = [];
    for (const hook of cfg.webhooks) {
      if (!routes(hook, n)) continue;
      out.push({
        name: hook.name,
        send: () => {
          const body = webhookBody(n);
          return post(hook.url, webhookHeaders(n, body, hook.secret), body);
        },
      });
    }
    if (cfg.email && takesEmail(cfg.email, n)) {
      const email = cfg.email;
      const { to, unknown } = emailRecipients(n, email, deps.config.people);
      if (unknown.length) log.warn('email recipients without an address were skipped', { people: unknown, workflowId: n.workflowId });
      if (to.length) {
        out.push({
          name: 'email',
          send: async () => {
            smtp ??= smtpTransport(email);
            await smtp.sendMail(emailMessage(n, { ...ctx, from: email.from, to }));
          },
        });
      }
    }
    for (const s of cfg.slack) {
      if (routes(s, n)) out.push({ name: s.name, send: () => post(s.url, { 'content-type': 'application/json' }, JSON.stringify(slackPayload(n, ctx))) });
    }
    const pd = cfg.pagerduty;
    const page = n.page;
    if (pd && page) {
      const event = pagerdutyEvent({ ...n, page }, { ...ctx, routingKey: pd.routingKey });
      out.push({ name: 'pagerduty', send: () => post(pd.eventsUrl, { 'content-type': 'application/json' }, JSON.stringify(event)) });
    }
    return out;
  }

  return {
    async notify(n: Notification): Promise<NotifyResult> {
      const info = Context.current().info;
      const line = `[${n.audience}] ${n.title}: ${n.text}`;
      if (info.attempt === 1) {
        if (n.severity === 'info') log.info(line, { workflowId: n.workflowId, ...n.fields });
        else log.warn(line, { workflowId: n.workflowId, ...n.fields });
      }
      // All at once: one channel that hangs or refuses does not hold back the others.
      const outcomes = await Promise.all(
        channels(n, info.namespace).map(async (c): Promise<{ channel: string; error?: string }> => {
          const key = `notify:${n.key}:${c.name}`;
          try {
            if (!(await deps.audit.find(key))) {
              await c.send();
              await deps.audit.record({ key, workflowId: n.workflowId, runbook: n.runbook, kind: 'notification-delivered', data: { channel: c.name } });
            }
            return { channel: c.name };
          } catch (err) {
            const error = describe(err);
            log.warn(`notification not delivered by ${c.name}: ${error}`, { workflowId: n.workflowId, key: n.key, attempt: info.attempt });
            return { channel: c.name, error };
          }
        }),
      );
      const delivered = outcomes.filter((o) => o.error === undefined).map((o) => o.channel);
      const failed = outcomes.flatMap((o) => (o.error === undefined ? [] : [{ channel: o.channel, error: o.error }]));
      const maxAttempts = info.retryPolicy?.maximumAttempts || Infinity;
      const last = info.attempt >= Math.min(deps.config.notify.attempts, maxAttempts);
      if (failed.length && !last) {
        throw ApplicationFailure.retryable(
          `not delivered by ${failed.map((f) => `${f.channel} (${f.error})`).join(', ')}; delivered by ${delivered.join(', ') || 'none'}`,
          'NotificationNotDelivered',
        );
      }
      if (failed.length) {
        await deps.audit.record({
          key: `notify:${n.key}:failed`,
          workflowId: n.workflowId,
          runbook: n.runbook,
          kind: 'notification-failed',
          data: { title: n.title, attempts: info.attempt, failed, delivered },
        });
      }
      await deps.audit.record({
        key: `notify:${n.key}`,
        workflowId: n.workflowId,
        runbook: n.runbook,
        kind: 'notification',
        data: { severity: n.severity, audience: n.audience, title: n.title, text: n.text, delivered, failed: failed.map((f) => f.channel) },
      });
      return { delivered, failed };
    },
  };
}
