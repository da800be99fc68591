// Email over SMTP (nodemailer). Recipients per audience come from notify.email.to (addresses, or people
// names resolved to their email) plus the people a notification names. The Message-ID is derived from the
// notification key, so a message sent again after a lost acknowledgement is recognisably the same one.
import { createHash } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../../config/schema';
import type { Notification } from './types';
import { decisionCommands, runUrl, SEVERITY_RANK } from './links';

type EmailConfig = NonNullable<Config['notify']['email']>;

/** Addresses for a notification: the audience's list and its named people, people names resolved, deduplicated. */
export function emailRecipients(n: Notification, cfg: EmailConfig, people: Config['people']): { to: string[]; unknown: string[] } {
  const to = new Set<string>();
  const unknown: string[] = [];
  for (const r of [...cfg.to[n.audience], ...(n.people ?? [])]) {
    if (r.includes('@')) to.add(r);
    else if (people[r]?.email) to.add(people[r].email);
    else unknown.push(r);
  }
  return { to: [...to], unknown };
}

export function messageId(key: string, from: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? 'runbooks.invalid';
  return `<notify.${createHash('sha256').update(key).digest('hex').slice(0, 32)}@${domain}>`;
}

export function emailMessage(n: Notification, ctx: { uiUrl: string; namespace: string; from: string; to: string[] }) {
  const link = runUrl(ctx.uiUrl, ctx.namespace, n.workflowId);
  const lines = [n.text, ''];
  const fields = Object.entries(n.fields ?? {});
  if (fields.length) lines.push(...fields.map(([k, v]) => `${k}: ${String(v)}`), '');
  if (n.audience === 'approvers') {
    const c = decisionCommands(n.workflowId);
    lines.push('Approve:', `  ${c.approve}`, 'Reject:', `  ${c.reject}`, '');
  }
  lines.push(`The run in the Temporal Web UI: ${link}`, '', `-- runbook ${n.runbook}, run ${n.workflowId}`);
  return {
    from: ctx.from,
    to: ctx.to,
    subject: n.subject ?? `[${n.severity}] ${n.title}`,
    text: `${lines.join('\n')}\n`,
    messageId: messageId(n.key, ctx.from),
    headers: { 'X-Runbook-Workflow-Id': n.workflowId, 'X-Runbook-Notification': n.key },
  };
}

export function takesEmail(cfg: EmailConfig, n: Notification): boolean {
  return SEVERITY_RANK[n.severity] >= SEVERITY_RANK[cfg.minSeverity];
}

/** One pooled-less SMTP transport per worker; short timeouts so a dead server fails the attempt, not the activity. */
export function smtpTransport(cfg: EmailConfig): Transporter {
  return nodemailer.createTransport({
    host: cfg.host,
    port: cfg.port,
    secure: cfg.secure,
    ...(cfg.user ? { auth: { user: cfg.user, pass: cfg.password ?? '' } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
}
