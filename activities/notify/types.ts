// The notification port's types, apart so the transports and the port import them without a cycle.
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
