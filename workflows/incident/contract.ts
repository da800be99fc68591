// The incident runbook's contract (seed 002 "Incident Response" severities, 003 "Incident Response Process"
// and "Incident Communication Template"): input, the messages people and other runbooks send a running
// incident, and its result. Pure (zod and Temporal message definitions), shared by the workflow, the
// health check that opens incidents, the CLI and the API.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { afterMs, INCIDENT_SEVERITIES, type IncidentSeverity } from '../../common/incidents';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, duration, person, targetName, toMs } from '../lib/schema';

export { INCIDENT_SEVERITIES, type IncidentSeverity };

export const incidentStatus = z.enum(['investigating', 'identified', 'monitoring', 'resolved']);
export type IncidentStatus = z.infer<typeof incidentStatus>;

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max);

export const incidentInputSchema = z
  .object({
    ...baseInputShape,
    severity: z.enum(INCIDENT_SEVERITIES, { message: 'must be one of P0, P1, P2, P3' }).describe('seed 002 severity levels'),
    title: text(200).describe('brief description, the subject line: "[INCIDENT] <service> - <title>"'),
    service: targetName.optional().describe('the affected configured service'),
    impact: z.string().trim().max(2000).optional().describe('description of user impact'),
    summary: z.string().trim().max(4000).optional().describe('what we know so far'),
    updateEvery: duration('24h').optional().describe('status updates go out this often until resolved (default incidents.updateEvery, 15m)'),
    escalation: z
      .array(
        z
          .object({
            level: targetName,
            people: z.array(person).min(1),
            after: z
              .string()
              .refine((s) => afterMs(s) !== undefined, 'must be a duration such as "15m", or "0s" for at once')
              .refine((s) => (afterMs(s) ?? 0) <= toMs('7d'), 'must be at most 7d')
              .describe('unacknowledged this long after declaration: this level is notified'),
          })
          .strict(),
      )
      .min(1)
      .max(10)
      .optional()
      .describe('the escalation ladder for this incident (default incidents.escalation); people must be configured'),
    source: z
      .object({
        runbook: z.string().min(1).max(100),
        workflowId: z.string().min(1).max(400),
        detail: z.string().max(2000).optional(),
      })
      .strict()
      .optional()
      .describe('the run that opened it (e.g. a health check)'),
  })
  .strict()
  .superRefine((i, ctx) => {
    const ladder = i.escalation ?? [];
    for (const [n, l] of ladder.entries()) {
      if (ladder.findIndex((x) => x.level === l.level) !== n)
        ctx.addIssue({ code: 'custom', path: ['escalation', n, 'level'], message: `"${l.level}" is named twice` });
      const prev = ladder[n - 1];
      if (prev && (afterMs(l.after) ?? 0) <= (afterMs(prev.after) ?? 0))
        ctx.addIssue({ code: 'custom', path: ['escalation', n, 'after'], message: `must be later than the level before (${prev.level}: ${prev.after})` });
    }
  });

export type IncidentInput = z.input<typeof incidentInputSchema>;
export type IncidentParams = z.output<typeof incidentInputSchema>;

/** The messages' arguments, checked by the workflow's validators and by the CLI and API before sending. */
export const acknowledgeArgsSchema = z.object({ by: person, note: z.string().trim().max(2000).optional() }).strict();
export const statusArgsSchema = z
  .object({
    by: person,
    status: z.enum(['investigating', 'identified', 'monitoring'], { message: 'must be investigating, identified or monitoring' }),
    text: text(4000).describe('Current Status: what we know so far'),
    nextSteps: z.string().trim().max(2000).optional(),
    eta: z.string().trim().max(200).optional(),
  })
  .strict();
export const resolveArgsSchema = z.object({ by: person, rootCause: text(4000), resolution: z.string().trim().max(4000).optional() }).strict();

/** Why a message to the incident was refused (the update fails with this type; the run goes on). */
export const INCIDENT_MESSAGE_REFUSED = 'IncidentMessageRefused';

/** A person acknowledges: the escalation ladder stops. */
export interface AcknowledgeArgs {
  by: string;
  note?: string;
}
/** A status update (also sent on the updateEvery timer with the latest text). */
export interface StatusUpdateArgs {
  by: string;
  status: Exclude<IncidentStatus, 'resolved'>;
  text: string;
  nextSteps?: string;
  eta?: string;
}
export interface ResolveArgs {
  by: string;
  rootCause: string;
  resolution?: string;
}
/** Something another run did about this incident (a runbook whose input names it, or one it started). */
export interface IncidentActionArgs {
  runbook: string;
  workflowId: string;
  text: string;
  at?: string;
}

export const acknowledgeUpdate = defineUpdate<void, [AcknowledgeArgs]>('acknowledge');
export const statusUpdate = defineUpdate<void, [StatusUpdateArgs]>('postStatus');
export const resolveUpdate = defineUpdate<void, [ResolveArgs]>('resolve');
/** Signals for the Temporal UI and for other workflows (which cannot send updates). */
export const acknowledgeSignal = defineSignal<[AcknowledgeArgs]>('acknowledgeFromUi');
export const statusSignal = defineSignal<[StatusUpdateArgs]>('postStatusFromUi');
export const resolveSignal = defineSignal<[ResolveArgs]>('resolveFromUi');
export const actionSignal = defineSignal<[IncidentActionArgs]>('incidentAction');

export interface TimelineEvent {
  at: string;
  kind: 'declared' | 'notified' | 'acknowledged' | 'status' | 'escalated' | 'action' | 'resolved' | 'repeated';
  by?: string;
  text: string;
}

export const incidentQuery = defineQuery<{ status: IncidentStatus; acknowledgedBy?: string; escalatedTo: string[]; timeline: TimelineEvent[] }>('incident');

export interface IncidentResult extends RunbookResult {
  severity: IncidentSeverity;
  incidentStatus: IncidentStatus;
  acknowledgedBy?: string;
  rootCause?: string;
  timeline: TimelineEvent[];
  /** The post-incident report (markdown), built from the timeline. */
  report: string;
}

/** Workflow id of the incident a health check opens for a service: one open incident per service and source. */
export const healthIncidentId = (service: string): string => `incident-health-${service}`;

export function exampleIncidentInput(): IncidentInput {
  return { severity: 'P3', title: 'Demo: reports slow to load', service: 'reports', requestedBy: 'alice', updateEvery: '5m' };
}

export function summarizeIncident(r: IncidentResult): string[] {
  const count = (k: TimelineEvent['kind']) => r.timeline.filter((e) => e.kind === k).length;
  return [
    `${r.severity} ${r.incidentStatus}; ${r.acknowledgedBy ? `acknowledged by ${r.acknowledgedBy}` : 'never acknowledged'}` +
      `${r.rootCause ? `; root cause: ${r.rootCause}` : ''}`,
    `timeline: ${r.timeline.length} event(s): ${count('escalated')} escalation(s), ${count('status') + count('repeated')} status update(s), ${count('action')} action(s) by other runbooks`,
    // The post-incident report itself (the dry run's: the declaration as it would go out).
    '',
    ...r.report.split('\n'),
  ];
}
