// PagerDuty Events API v2 bodies: a trigger carries the summary, source, severity, details and a link to
// the run; acknowledge and resolve carry only the routing key, the action and the dedup key that names
// the alert the trigger opened. Pure: the transport POSTs what this returns (the API answers 202).
import type { Notification, Page } from './types';
import { runUrl } from './links';

export interface PagerDutyTrigger {
  routing_key: string;
  event_action: 'trigger';
  dedup_key: string;
  payload: { summary: string; source: string; severity: Page['severity']; custom_details: Record<string, unknown> };
  links: Array<{ href: string; text: string }>;
}

export interface PagerDutyFollowUp {
  routing_key: string;
  event_action: 'acknowledge' | 'resolve';
  dedup_key: string;
}

export type PagerDutyEvent = PagerDutyTrigger | PagerDutyFollowUp;

export function pagerdutyEvent(n: Notification & { page: Page }, ctx: { routingKey: string; uiUrl: string; namespace: string }): PagerDutyEvent {
  const base = { routing_key: ctx.routingKey, dedup_key: n.page.dedupKey };
  if (n.page.action !== 'trigger') return { ...base, event_action: n.page.action };
  const target = n.fields?.target;
  return {
    ...base,
    event_action: 'trigger',
    payload: {
      // The Events API takes at most 1024 characters of summary.
      summary: n.title.length > 1024 ? `${n.title.slice(0, 1023)}…` : n.title,
      source: typeof target === 'string' && target ? target : n.runbook,
      severity: n.page.severity,
      custom_details: { text: n.text, runbook: n.runbook, workflowId: n.workflowId, ...n.fields },
    },
    links: [{ href: runUrl(ctx.uiUrl, ctx.namespace, n.workflowId), text: 'The run in the Temporal Web UI' }],
  };
}
