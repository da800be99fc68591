// Alertmanager's webhook receiver (its standard JSON, version 4): every firing alert labelled
// runbook_action="rollback" asks for an emergency rollback of the service its `service` label names.
// Alerts are grouped by service, so several alerts for one service, and the repeats Alertmanager sends
// every repeat_interval, start one rollback: the runbook's dedupe window makes later starts join it.
// Resolved alerts and alerts without the label start nothing; they are listed as ignored, with why.
import { z } from 'zod';
import { describeIssues } from '../../workflows/lib/validate';
import type { EmergencyRollbackInput } from '../../workflows/emergency-rollback/contract';
import type { StartedRun } from '../runbooks';

const labels = z.record(z.string().max(200), z.string().max(2000));

/** The fields we read; Alertmanager sends more (externalURL, groupKey, truncatedAlerts...), kept out. */
export const webhookSchema = z.object({
  version: z.string().max(10).optional(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string().max(200).optional(),
  alerts: z
    .array(
      z.object({
        status: z.enum(['firing', 'resolved']),
        labels,
        annotations: labels.default({}),
        startsAt: z.string().max(40).optional(),
        fingerprint: z.string().max(64).optional(),
      }),
    )
    .max(500),
});

export interface WebhookAnswer {
  rollbacks: Array<{ service: string; alerts: string[]; workflowId: string; runId: string; created: boolean }>;
  ignored: Array<{ alert: string; why: string }>;
}

export async function alertmanagerWebhook(
  body: unknown,
  deps: { services: string[]; start(service: string, input: Omit<EmergencyRollbackInput, 'requestedBy'>): Promise<StartedRun> },
): Promise<WebhookAnswer | { error: string }> {
  const r = webhookSchema.safeParse(body);
  if (!r.success) return { error: `invalid Alertmanager webhook body: ${describeIssues(r.error)}` };
  const ignored: WebhookAnswer['ignored'] = [];
  const byService = new Map<string, Array<z.infer<typeof webhookSchema>['alerts'][number]>>();
  for (const a of r.data.alerts) {
    const name = a.labels.alertname ?? '(no alertname)';
    const service = a.labels.service;
    if (a.status !== 'firing') ignored.push({ alert: name, why: 'resolved' });
    else if (a.labels.runbook_action !== 'rollback') ignored.push({ alert: name, why: 'no runbook_action="rollback" label' });
    else if (!service) ignored.push({ alert: name, why: 'no service label' });
    else if (!deps.services.includes(service)) ignored.push({ alert: name, why: `service "${service.slice(0, 100)}" is not configured` });
    else byService.set(service, [...(byService.get(service) ?? []), a]);
  }
  const rollbacks: WebhookAnswer['rollbacks'] = [];
  for (const [service, alerts] of byService) {
    const names = [...new Set(alerts.map((a) => a.labels.alertname ?? 'alert'))];
    const run = await deps.start(service, {
      service,
      reason: `Alertmanager: ${names.join(', ')}`.slice(0, 500),
      trigger: {
        source: 'alertmanager',
        alerts: alerts.slice(0, 50).map((a) => ({
          name: (a.labels.alertname ?? 'alert').slice(0, 200),
          ...(a.startsAt ? { startsAt: a.startsAt } : {}),
          ...(a.annotations.summary ? { summary: a.annotations.summary.slice(0, 500) } : {}),
          ...(a.fingerprint ? { fingerprint: a.fingerprint } : {}),
        })),
      },
    });
    rollbacks.push({ service, alerts: names, workflowId: run.workflowId, runId: run.runId, created: run.created });
  }
  return { rollbacks, ignored };
}
