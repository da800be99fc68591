// Notifications: written to the worker log and the audit store, and POSTed as JSON to every configured
// webhook (Slack-compatible "text" field included). Each carries an Idempotency-Key; a retried activity
// skips the channels that already took it, as recorded in the audit store.
import { log } from '@temporalio/activity';
import type { Deps } from '../deps';

export type Severity = 'info' | 'warning' | 'critical';
export type Audience = 'stakeholders' | 'approvers' | 'escalation';

export interface Notification {
  /** Idempotency key, unique per notification of a run. */
  key: string;
  workflowId: string;
  runbook: string;
  severity: Severity;
  audience: Audience;
  title: string;
  text: string;
  fields?: Record<string, string | number | boolean>;
  /** People (keys of people) who must hear of it besides the audience's recipients, e.g. an escalation level. */
  people?: string[];
  /** A PagerDuty Events v2 event for incidents P0/P1 (sent only when notify.pagerduty is configured). */
  page?: Page;
  /** Email subject instead of the title, e.g. the incident template's "[INCIDENT] reports - ...". */
  subject?: string;
}

export interface Page {
  action: 'trigger' | 'acknowledge' | 'resolve';
  /** One per incident: acknowledge and resolve name the alert trigger opened. */
  dedupKey: string;
  severity: 'critical' | 'error' | 'warning' | 'info';
}

export interface NotifyResult {
  /** Transports that have it (now or on an earlier attempt). */
  delivered: string[];
  /** Transports still refusing after notify.attempts tries: reported, never the run's failure. */
  failed: Array<{ channel: string; error: string }>;
}

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;

export function createNotifyActivities(deps: Deps) {
  return {
    async notify(n: Notification): Promise<NotifyResult> {
      const line = `[${n.audience}] ${n.title}: ${n.text}`;
      if (n.severity === 'info') log.info(line, { workflowId: n.workflowId, ...n.fields });
      else log.warn(line, { workflowId: n.workflowId, ...n.fields });
      const delivered: string[] = [];
      for (const hook of deps.config.notify.webhooks) {
        const key = `notify:${n.key}:${hook.name}`;
        if (await deps.audit.find(key)) {
          delivered.push(hook.name);
          continue;
        }
        const res = await fetch(hook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': n.key },
          body: JSON.stringify({ ...n, text: `*${n.title}*\n${n.text}` }),
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok) throw new Error(`webhook "${hook.name}" answered ${res.status}`);
        await deps.audit.record({ key, workflowId: n.workflowId, runbook: n.runbook, kind: 'notification-delivered', data: { channel: hook.name } });
        delivered.push(hook.name);
      }
      await deps.audit.record({
        key: `notify:${n.key}`,
        workflowId: n.workflowId,
        runbook: n.runbook,
        kind: 'notification',
        data: { severity: n.severity, audience: n.audience, title: n.title, text: n.text, delivered },
      });
      return { delivered, failed: [] };
    },
  };
}
