// Where notifications go (activities/notify): the worker log and the audit store always, and each
// configured transport: email over SMTP, Slack-compatible incoming webhooks (blocks), PagerDuty Events API
// v2 (incidents P0/P1 only), generic webhooks signed with HMAC. Secrets (SMTP password, webhook URLs with
// tokens, routing keys, HMAC keys) are written as ${VAR} and resolved in the worker's memory only.
import { z } from 'zod';

const name = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes, starting with a letter');
const url = z.string().min(1).describe('URL; may contain ${ENV_VAR} placeholders for secrets');

export const AUDIENCES = ['stakeholders', 'approvers', 'escalation'] as const;
export const SEVERITIES = ['info', 'warning', 'critical'] as const;

/** Which notifications a transport takes: by audience and lowest severity. */
const routing = {
  audiences: z
    .array(z.enum(AUDIENCES))
    .min(1)
    .default([...AUDIENCES])
    .describe('audiences it receives (default all)'),
  minSeverity: z.enum(SEVERITIES).default('info').describe('lowest severity it receives'),
};

export const webhookSchema = z
  .object({
    name,
    url: url.describe('receives a JSON POST per notification, with an Idempotency-Key header'),
    secret: z
      .string()
      .min(1)
      .optional()
      .describe('HMAC-SHA256 key (use ${VAR}): each POST carries X-Runbook-Timestamp and X-Runbook-Signature: sha256=<hex of timestamp.body>'),
    ...routing,
  })
  .strict();

export const slackSchema = z
  .object({
    name,
    url: url.describe('Slack-compatible incoming webhook URL (a secret: use ${VAR})'),
    ...routing,
  })
  .strict();

/** A list of addresses or person names (people with an email). */
const recipients = z.array(z.string().min(1)).default([]);

export const emailSchema = z
  .object({
    host: z.string().min(1).describe('SMTP server host'),
    port: z.number().int().min(1).max(65535).default(25),
    secure: z.boolean().default(false).describe('TLS from the start (port 465); otherwise STARTTLS when offered'),
    user: z.string().optional(),
    password: z.string().optional().describe('secret: use ${VAR}'),
    from: z.string().min(3).describe('From: address, e.g. "Runbooks <runbooks@example.com>"'),
    to: z
      .object({ stakeholders: recipients, approvers: recipients, escalation: recipients })
      .strict()
      .prefault({})
      .describe('recipients per audience: email addresses or people names; approvers also get the people a notification names'),
    minSeverity: z.enum(SEVERITIES).default('info'),
  })
  .strict();

export const pagerdutySchema = z
  .object({
    eventsUrl: z.string().url().default('https://events.pagerduty.com/v2/enqueue').describe('Events API v2 endpoint'),
    routingKey: z.string().min(1).describe('integration (routing) key: a secret, use ${VAR}'),
  })
  .strict();

export const notifySchema = z
  .object({
    webhooks: z.array(webhookSchema).default([]),
    slack: z.array(slackSchema).default([]),
    email: emailSchema.optional(),
    pagerduty: pagerdutySchema.optional().describe('pages for incidents P0/P1: trigger, acknowledge, resolve with one dedup key'),
    uiUrl: z.string().url().default('http://127.0.0.1:8233').describe('Temporal Web UI base, for links to the run'),
    attempts: z.number().int().min(1).max(10).default(4).describe('tries per transport before it is reported as not delivered (the run goes on either way)'),
  })
  .strict()
  .superRefine((n, ctx) => {
    // A channel's name keys its delivery records: two channels of one name would skip each other's messages.
    const seen = new Set(['email', 'pagerduty']);
    for (const [kind, list] of [
      ['webhooks', n.webhooks],
      ['slack', n.slack],
    ] as const) {
      for (const [i, c] of list.entries()) {
        if (seen.has(c.name))
          ctx.addIssue({ code: 'custom', path: [kind, i, 'name'], message: `"${c.name}" is already a channel name (email and pagerduty are taken)` });
        seen.add(c.name);
      }
    }
  })
  .prefault({})
  .describe('where notifications go besides the worker log and the audit store');

export type NotifyConfig = z.infer<typeof notifySchema>;
