// The Slack-compatible incoming-webhook payload: a `text` fallback (what notifications and old clients
// show) and `blocks`: a header, the text, the fields, the commands for approvers, and a link button to
// the run in the Temporal Web UI. Pure: the transport POSTs what this returns.
import type { Notification } from './types';
import { decisionCommands, runUrl } from './links';

export interface SlackPayload {
  text: string;
  blocks: Array<Record<string, unknown>>;
}

const ICON = { info: ':information_source:', warning: ':warning:', critical: ':rotating_light:' } as const;

// Slack's limits: header 150 characters, section text 3000, 10 fields of 2000.
const cut = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

export function slackPayload(n: Notification, ctx: { uiUrl: string; namespace: string }): SlackPayload {
  const link = runUrl(ctx.uiUrl, ctx.namespace, n.workflowId);
  const blocks: SlackPayload['blocks'] = [
    { type: 'header', text: { type: 'plain_text', text: cut(n.title, 150), emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: cut(n.text, 3000) } },
  ];
  const fields = Object.entries(n.fields ?? {}).slice(0, 10);
  if (fields.length) {
    blocks.push({ type: 'section', fields: fields.map(([k, v]) => ({ type: 'mrkdwn', text: cut(`*${k}*\n${String(v)}`, 2000) })) });
  }
  if (n.audience === 'approvers') {
    const c = decisionCommands(n.workflowId);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Approve:*\n\`\`\`${c.approve}\`\`\`\n*Reject:*\n\`\`\`${c.reject}\`\`\`` } });
  }
  blocks.push(
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `${ICON[n.severity]} ${n.severity} · ${n.runbook} · <${link}|${n.workflowId}>` }],
    },
    {
      type: 'actions',
      elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open the run in Temporal' }, url: link }],
    },
  );
  return { text: `${ICON[n.severity]} *${n.title}*\n${n.text}\n<${link}|Open the run>`, blocks };
}
