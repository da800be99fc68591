// The incident runbook (seed 002 "Incident Response", 003 "Incident Response Process" and "Incident
// Communication Template"):
//   declare (the template to the severity's audience; P0/P1 paged) -> respond (status updates every
//   updateEvery until resolved, the escalation ladder while nobody acknowledges, people's acknowledge /
//   status / resolve, actions of other runs) -> post-incident report from the run's own timeline -> report.
// Message handlers are registered when the workflow starts, before the kit resolves anything, so nothing
// sent early is lost: they wait until the incident is declared. No exclusive use of a target (an incident
// never blocks a runbook) and no approval. Every notification has its own key (declared, escalate-<level>,
// update-<n>, acknowledged, resolved), so a retried activity or a replay never sends one twice.
import { allHandlersFinished, ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { z } from 'zod';
import type { IncidentSettings } from '../../activities';
import { afterMs } from '../../common/incidents';
import { runRunbook, type Resume, type Run, type RunbookDefinition, type Severity, type Step } from '../lib/kit';
import { incidentLookups } from '../lib/proxies';
import { toMs } from '../lib/schema';
import { describeIssues } from '../lib/validate';
import {
  acknowledgeArgsSchema,
  acknowledgeSignal,
  acknowledgeUpdate,
  actionSignal,
  INCIDENT_MESSAGE_REFUSED,
  incidentInputSchema,
  incidentQuery,
  resolveArgsSchema,
  resolveSignal,
  resolveUpdate,
  statusArgsSchema,
  statusSignal,
  statusUpdate,
  type AcknowledgeArgs,
  type IncidentActionArgs,
  type IncidentInput,
  type IncidentParams,
  type IncidentResult,
  type IncidentStatus,
  type ResolveArgs,
  type StatusUpdateArgs,
  type TimelineEvent,
} from './contract';

const TYPE = 'incident';

interface Current {
  status: Exclude<IncidentStatus, 'resolved'>;
  text: string;
  nextSteps?: string;
  eta?: string;
  by?: string;
}

export interface State {
  status: IncidentStatus;
  declaredAt: string;
  /** The declaration went out: messages are taken from here on. */
  declared: boolean;
  current: Current;
  acknowledgedBy?: string;
  acknowledgedAt?: string;
  /** Escalation levels notified, in order. */
  escalatedTo: string[];
  /** Status messages sent (people's and scheduled): the n of their keys update-<n>. */
  updates: number;
  nextUpdateAt: number;
  actions: IncidentActionArgs[];
  resolvedBy?: string;
  resolvedAt?: string;
  rootCause?: string;
  resolution?: string;
  timeline: TimelineEvent[];
  report?: string;
}

type IRun = Run<IncidentParams, IncidentSettings, State>;
type IStep = Step<IncidentParams, IncidentSettings, State>;

const utc = (iso: string): string => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

function elapsed(fromIso: string, toIso: string): string {
  const s = Math.max(0, Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** How loud a notification of this severity is. */
const severityOf = (p: IncidentParams): Severity => (p.severity === 'P0' || p.severity === 'P1' ? 'critical' : p.severity === 'P2' ? 'warning' : 'info');
const PAGE_SEVERITY = { P0: 'critical', P1: 'error', P2: 'warning', P3: 'info' } as const;

/** The email subject of every message about this incident (seed 003's template). */
export const incidentSubject = (p: IncidentParams): string => `[INCIDENT] ${p.service ?? 'all services'} - ${p.title}`;

/** Seed 003's Incident Communication Template, filled in. */
export function fillTemplate(p: IncidentParams, t: IncidentSettings, s: State, extra: { rootCause?: string; resolution?: string } = {}): string {
  const actions = [
    ...(s.acknowledgedBy ? [`acknowledged by ${s.acknowledgedBy} at ${utc(s.acknowledgedAt!)}`] : []),
    ...s.escalatedTo.map((l) => `escalated to ${l}`),
    ...s.actions.slice(-10).map((a) => `${a.runbook} ${a.workflowId}: ${oneLine(a.text).slice(0, 300)}`),
  ];
  const resolved = s.status === 'resolved';
  const lines = [
    `Subject: ${incidentSubject(p)}`,
    '',
    `Status: ${s.status.toUpperCase()}`,
    `Severity: ${p.severity} (${t.severity.description})`,
    `Start Time: ${utc(s.declaredAt)}`,
    `Impact: ${p.impact ?? `being assessed (${p.severity}: ${t.severity.description})`}`,
    '',
    'Current Status:',
    resolved ? `Resolved by ${s.resolvedBy} at ${utc(s.resolvedAt!)}.` : s.current.text,
    ...(extra.rootCause ? ['', 'Root Cause:', extra.rootCause] : []),
    ...(extra.resolution ? ['', 'Resolution:', extra.resolution] : []),
    '',
    'Actions Taken:',
    ...(actions.length ? actions.map((a) => `- ${a}`) : ['- none recorded yet']),
    '',
    'Next Steps:',
    resolved
      ? 'Post-incident review within 24-48 hours (post-mortem, lessons learned, preventive measures, runbook updates).'
      : (s.current.nextSteps ?? `Next update by ${utc(new Date(s.nextUpdateAt).toISOString())}.`),
    '',
    `ETA for Resolution: ${resolved ? 'resolved' : (s.current.eta ?? 'unknown')}`,
  ];
  return lines.join('\n');
}

/** The post-incident report (markdown), from the run's own timeline. */
export function postIncidentReport(p: IncidentParams, t: IncidentSettings, s: State): string {
  const lines = [
    `# Post-incident report: ${p.title}`,
    '',
    `- Severity: ${p.severity} (${t.severity.description})`,
    `- Service: ${p.service ?? 'not named'}`,
    `- Declared: ${s.declaredAt} by ${p.requestedBy}${p.source ? ` (opened by ${p.source.runbook} ${p.source.workflowId})` : ''}`,
    `- Acknowledged: ${s.acknowledgedBy ? `${s.acknowledgedAt} by ${s.acknowledgedBy}, ${elapsed(s.declaredAt, s.acknowledgedAt!)} after declaration` : 'never'}`,
    `- Escalated to: ${s.escalatedTo.length ? s.escalatedTo.join(', ') : 'nobody'}`,
    `- Resolved: ${s.resolvedAt ? `${s.resolvedAt} by ${s.resolvedBy}, ${elapsed(s.declaredAt, s.resolvedAt)} after declaration` : 'not resolved'}`,
    `- Root cause: ${s.rootCause ? oneLine(s.rootCause) : 'not recorded'}`,
    ...(s.resolution ? [`- Resolution: ${oneLine(s.resolution)}`] : []),
    `- Status updates sent: ${s.updates}`,
    '',
    '## Timeline (UTC)',
    '',
    ...s.timeline.map((e, i) => `${i + 1}. ${e.at} **${e.kind}**${e.by ? ` (${e.by})` : ''}: ${oneLine(e.text)}`),
    '',
    '## Actions by other runbooks',
    '',
    ...(s.actions.length ? s.actions.map((a) => `- ${a.at ?? ''} ${a.runbook} \`${a.workflowId}\`: ${oneLine(a.text)}`) : ['- none']),
    '',
    '## Follow-up (seed 003 "Post-Incident", within 24-48 hours)',
    '',
    '- [ ] Conduct the post-mortem',
    '- [ ] Document lessons learned',
    '- [ ] Implement preventive measures',
    '- [ ] Update runbooks',
  ];
  return lines.join('\n');
}

function refused(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: INCIDENT_MESSAGE_REFUSED, nonRetryable: true, message });
}

type Kind = 'acknowledge' | 'status' | 'resolve';
const SCHEMAS: Record<Kind, z.ZodType> = { acknowledge: acknowledgeArgsSchema, status: statusArgsSchema, resolve: resolveArgsSchema };

/**
 * The incident's message desk: handlers registered at workflow start. They check what they can at once
 * (validators: the update is refused before it enters history), wait until the incident is declared, check
 * the person and the incident's state, then apply and notify.
 */
class Desk {
  run?: IRun;
  /** The run will take no messages (a dry run, or it ended). */
  closed = false;
  /** Bumped by every applied message, so the respond loop wakes and recomputes its next wake-up. */
  changed = 0;

  constructor() {
    setHandler(incidentQuery, () => {
      const s = this.run?.state;
      return {
        status: s?.status ?? 'investigating',
        ...(s?.acknowledgedBy ? { acknowledgedBy: s.acknowledgedBy } : {}),
        escalatedTo: s?.escalatedTo ?? [],
        timeline: s?.timeline ?? [],
      };
    });
    const validator = (kind: Kind) => (a: unknown) => {
      const why = this.refusal(kind, a);
      if (why) throw refused(why);
    };
    setHandler(acknowledgeUpdate, (a) => this.acknowledge(a), { validator: validator('acknowledge') });
    setHandler(statusUpdate, (a) => this.postStatus(a), { validator: validator('status') });
    setHandler(resolveUpdate, (a) => this.resolve(a), { validator: validator('resolve') });
    // The Temporal UI's signals: a refused one must not fail the run; it becomes a warning.
    setHandler(acknowledgeSignal, (a) => this.fromUi('acknowledge', a, () => this.acknowledge(a)));
    setHandler(statusSignal, (a) => this.fromUi('status', a, () => this.postStatus(a)));
    setHandler(resolveSignal, (a) => this.fromUi('resolve', a, () => this.resolve(a)));
    setHandler(actionSignal, (a) => this.action(a));
  }

  /** Why a message is refused, or undefined. Without the run (not yet declared) only its shape is checked. */
  private refusal(kind: Kind, a: unknown): string | undefined {
    const parsed = SCHEMAS[kind].safeParse(a);
    if (!parsed.success) return describeIssues(parsed.error);
    const r = this.run;
    if (this.closed) return 'this incident takes no messages (a dry run, or it has ended)';
    if (!r) return undefined;
    const by = (a as { by: string }).by;
    if (!r.target.people.includes(by)) return `by: "${by}" is not a configured person; known: ${r.target.people.join(', ')}`;
    const s = r.state;
    if (s.status === 'resolved' && kind !== 'acknowledge')
      return `the incident was resolved by ${s.resolvedBy} at ${s.resolvedAt}; it takes no more ${kind === 'status' ? 'status updates' : 'resolutions'}`;
    return undefined;
  }

  /** Waits until the incident is declared, then checks the message again with everything known. */
  private async ready(kind: Kind, a: unknown): Promise<IRun> {
    await condition(() => this.closed || (this.run?.state.declared ?? false));
    const why = this.refusal(kind, a);
    if (why) throw refused(why);
    return this.run!;
  }

  private async fromUi(kind: Kind, a: unknown, apply: () => Promise<void>): Promise<void> {
    try {
      await apply();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.run?.warnings.push(`a ${kind} message from the Temporal UI was refused: ${why}`);
      const by = typeof (a as { by?: unknown })?.by === 'string' ? (a as { by: string }).by : '?';
      await this.run?.audit('incident-message-refused', `refused:${kind}:${this.run.warnings.length}`, { kind, by, reason: why }).catch(() => undefined);
    }
  }

  /** Adds an event to the timeline (at workflow time) and wakes the respond loop. */
  record(r: IRun, e: Omit<TimelineEvent, 'at'>): string {
    const at = new Date().toISOString();
    r.state.timeline.push({ at, ...e });
    this.changed++;
    return at;
  }

  async acknowledge(a: AcknowledgeArgs): Promise<void> {
    const r = await this.ready('acknowledge', a);
    const s = r.state;
    if (s.acknowledgedBy || s.status === 'resolved') return; // acknowledging twice changes nothing
    s.acknowledgedBy = a.by;
    s.acknowledgedAt = this.record(r, {
      kind: 'acknowledged',
      by: a.by,
      text: `acknowledged by ${a.by}${a.note ? `: ${a.note}` : ''}; escalation stops`,
    });
    r.status('monitoring', statusLine(r));
    await r.audit('incident-acknowledged', 'acknowledged', { by: a.by, ...(a.note ? { note: a.note } : {}) }, a.by);
    await r.tell(
      'acknowledged',
      severityOf(r.input),
      r.target.severity.audience,
      `Acknowledged: ${r.input.title}`,
      `${r.input.severity} incident acknowledged by ${a.by} at ${utc(s.acknowledgedAt)}, ${elapsed(s.declaredAt, s.acknowledgedAt)} after declaration` +
        `${a.note ? `: ${a.note}` : ''}. The escalation ladder stops.`,
      {
        subject: incidentSubject(r.input),
        ...(s.escalatedTo.length ? { people: notifiedPeople(r) } : {}),
        ...(r.target.severity.page ? { page: page(r, 'acknowledge') } : {}),
      },
    );
  }

  async postStatus(a: StatusUpdateArgs): Promise<void> {
    const r = await this.ready('status', a);
    const s = r.state;
    s.current = {
      status: a.status,
      text: a.text.trim(),
      by: a.by,
      ...(a.nextSteps?.trim() ? { nextSteps: a.nextSteps.trim() } : {}),
      ...(a.eta?.trim() ? { eta: a.eta.trim() } : {}),
    };
    s.status = a.status;
    const n = ++s.updates;
    // The next scheduled update comes a full interval after this one.
    s.nextUpdateAt = Date.now() + toMs(r.target.updateEvery);
    this.record(r, { kind: 'status', by: a.by, text: `${a.status.toUpperCase()}: ${a.text}` });
    r.status('monitoring', statusLine(r));
    await r.audit('incident-status', `update-${n}`, { ...s.current }, a.by);
    await r.tell(`update-${n}`, severityOf(r.input), r.target.severity.audience, `Update (${a.status}): ${r.input.title}`, fillTemplate(r.input, r.target, s), {
      subject: incidentSubject(r.input),
    });
  }

  async resolve(a: ResolveArgs): Promise<void> {
    const r = await this.ready('resolve', a);
    const s = r.state;
    s.status = 'resolved';
    s.resolvedBy = a.by;
    s.rootCause = a.rootCause.trim();
    if (a.resolution?.trim()) s.resolution = a.resolution.trim();
    s.resolvedAt = this.record(r, {
      kind: 'resolved',
      by: a.by,
      text: `resolved by ${a.by}; root cause: ${s.rootCause}${s.resolution ? `; resolution: ${s.resolution}` : ''}`,
    });
    await r.audit('incident-resolved', 'resolved', { by: a.by, rootCause: s.rootCause, ...(s.resolution ? { resolution: s.resolution } : {}) }, a.by);
    await r.tell(
      'resolved',
      'info',
      r.target.severity.audience,
      `Resolved: ${r.input.title}`,
      fillTemplate(r.input, r.target, s, { rootCause: s.rootCause, ...(s.resolution ? { resolution: s.resolution } : {}) }),
      {
        subject: incidentSubject(r.input),
        ...(s.escalatedTo.length ? { people: notifiedPeople(r) } : {}),
        ...(r.target.severity.page ? { page: page(r, 'resolve') } : {}),
      },
    );
  }

  /** Another run did something about this incident (its input names it). Signals cannot be refused: bad ones are dropped. */
  async action(a: IncidentActionArgs): Promise<void> {
    const str = (v: unknown, max: number): string => (typeof v === 'string' ? v.slice(0, max) : '');
    const act: IncidentActionArgs = { runbook: str(a?.runbook, 100), workflowId: str(a?.workflowId, 400), text: str(a?.text, 2000) };
    if (!act.runbook || !act.workflowId || !act.text) return;
    await condition(() => this.closed || (this.run?.state.declared ?? false));
    const r = this.run;
    if (!r || this.closed) return;
    const at = this.record(r, { kind: 'action', by: act.runbook, text: `${act.workflowId}: ${act.text}` });
    r.state.actions.push({ ...act, at });
    await r.audit('incident-action', `action-${r.state.actions.length}`, { ...act });
  }
}

function page(r: IRun, action: 'trigger' | 'acknowledge' | 'resolve') {
  return { action, dedupKey: r.workflowId, severity: PAGE_SEVERITY[r.input.severity] };
}

/** Everyone an escalation level reached: they hear that it was acknowledged or resolved. */
function notifiedPeople(r: IRun): string[] {
  return [...new Set(r.target.escalation.filter((l) => r.state.escalatedTo.includes(l.level)).flatMap((l) => l.people))];
}

function statusLine(r: IRun): string {
  const s = r.state;
  const ack = s.acknowledgedBy
    ? `acknowledged by ${s.acknowledgedBy}`
    : `unacknowledged${s.escalatedTo.length ? `, escalated to ${s.escalatedTo.at(-1)}` : ''}`;
  return `${r.input.severity} ${s.status}: ${ack}; next update ${utc(new Date(s.nextUpdateAt).toISOString())}`;
}

/** The next escalation level still to notify and when, while nobody has acknowledged. */
function nextLevel(r: IRun): { level: IncidentSettings['escalation'][number]; index: number; dueMs: number } | undefined {
  const s = r.state;
  if (s.acknowledgedBy || s.status === 'resolved') return undefined;
  const index = r.target.escalation.findIndex((l) => !s.escalatedTo.includes(l.level));
  const level = r.target.escalation[index];
  if (!level) return undefined;
  return { level, index, dueMs: Date.parse(s.declaredAt) + (afterMs(level.after) ?? 0) };
}

async function declare(desk: Desk, r: IRun, input: IncidentParams, t: IncidentSettings): Promise<string> {
  desk.run = r;
  const s = r.state;
  // The declaration's time is the incident's start: the ladder's `after` and the report count from it.
  s.declaredAt = desk.record(r, {
    kind: 'declared',
    by: input.requestedBy,
    text: `${input.severity} declared by ${input.requestedBy}: ${input.title}${input.source ? ` (opened by ${input.source.runbook} ${input.source.workflowId})` : ''}`,
  });
  await r.audit(
    'incident-declared',
    'declared',
    { severity: input.severity, title: input.title, ...(input.service ? { service: input.service } : {}) },
    input.requestedBy,
  );
  await r.tell('declared', severityOf(input), t.severity.audience, `Incident ${input.severity}: ${input.title}`, fillTemplate(input, t, s), {
    subject: incidentSubject(input),
    ...(t.severity.page ? { page: page(r, 'trigger') } : {}),
    fields: { incident: r.workflowId, severity: input.severity },
  });
  desk.record(r, {
    kind: 'notified',
    text: `declaration sent to ${t.severity.audience}${t.severity.page ? ' and paged (PagerDuty trigger)' : ''}`,
  });
  s.declared = true;
  return `sent to ${t.severity.audience}${t.severity.page ? ', paged' : ''}`;
}

function steps(desk: Desk): (input: IncidentParams, t: IncidentSettings) => IStep[] {
  return (input, t) => [
    {
      id: 'declare',
      kind: 'notify',
      title:
        `declare ${input.severity} "${input.title}": the incident template to ${t.severity.audience}` +
        `${t.severity.page ? ', paged through PagerDuty' : ''} (respond within ${t.severity.respondWithin})`,
      run: (r) =>
        declare(desk, r, input, t).catch((err: unknown) => {
          // Cancelled before declaring: messages waiting for the declaration are refused, not left hanging.
          desk.closed = true;
          throw err;
        }),
    },
    {
      id: 'respond',
      kind: 'monitor',
      title:
        `until resolved: status updates every ${t.updateEvery}` +
        (t.escalation.length
          ? `; while unacknowledged, escalate: ${t.escalation.map((l) => `${l.level} (${l.people.join(', ')}) at ${l.after}`).join(' -> ')}`
          : '; no escalation ladder configured'),
      resumable: true,
      run: async (r) => {
        desk.run = r;
        const s = r.state;
        const every = toMs(t.updateEvery);
        let shown = '';
        // A function, not a narrowed comparison: message handlers change the status while this loop waits.
        const resolved = (): boolean => s.status === 'resolved';
        while (!resolved()) {
          // Each level due, in order, while nobody has acknowledged.
          for (let next = nextLevel(r); next && Date.now() >= next.dueMs; next = nextLevel(r)) {
            const { level, index } = next;
            s.escalatedTo.push(level.level);
            desk.record(r, {
              kind: 'escalated',
              text: `${level.level} (${level.people.join(', ')}) notified: unacknowledged ${elapsed(s.declaredAt, new Date().toISOString())} after declaration`,
            });
            await r.audit('incident-escalated', `escalate-${level.level}`, { level: level.level, people: level.people, after: level.after });
            await r.tell(
              `escalate-${level.level}`,
              severityOf(input),
              'escalation',
              `${index === 0 ? 'Incident' : 'Escalated'} ${input.severity} (${level.level}): ${input.title}`,
              `Nobody has acknowledged this ${input.severity} incident since ${utc(s.declaredAt)}; ${level.level} (${level.people.join(', ')}) please respond. ` +
                `Acknowledge: npm run runbook -- ack ${r.workflowId} --as <you>\n\n${fillTemplate(input, t, s)}`,
              { people: level.people, subject: incidentSubject(input) },
            );
          }
          if (!resolved() && Date.now() >= s.nextUpdateAt) {
            const n = ++s.updates;
            s.nextUpdateAt = Date.now() + every;
            desk.record(r, { kind: 'repeated', text: `scheduled update #${n}: ${s.current.status.toUpperCase()}: ${s.current.text}` });
            await r.audit('incident-update', `update-${n}`, { status: s.current.status, scheduled: true });
            await r.tell(`update-${n}`, severityOf(input), t.severity.audience, `Update (${s.current.status}): ${input.title}`, fillTemplate(input, t, s), {
              subject: incidentSubject(input),
            });
          }
          const line = statusLine(r);
          if (line !== shown) r.status('monitoring', (shown = line));
          if (resolved()) break;
          await r.checkpoint();
          const seen = desk.changed;
          const wakeAt = Math.min(s.nextUpdateAt, nextLevel(r)?.dueMs ?? Infinity);
          await condition(() => resolved() || desk.changed !== seen, Math.max(1, wakeAt - Date.now()));
        }
        // The resolve message and any acknowledgement or action in flight finish before the report.
        await condition(allHandlersFinished);
        return `resolved by ${s.resolvedBy} after ${elapsed(s.declaredAt, s.resolvedAt!)}; ${s.updates} status update(s), escalated to ${s.escalatedTo.join(', ') || 'nobody'}`;
      },
    },
    {
      id: 'post-incident-report',
      kind: 'report',
      title: 'write the post-incident report from the timeline (declared, acknowledged, updates, escalations, actions, resolved)',
      run: async (r) => {
        r.state.report = postIncidentReport(input, t, r.state);
        await r.audit('incident-report', 'post-incident-report', { report: r.state.report });
        return `${r.state.timeline.length} timeline event(s), ${r.state.actions.length} action(s) by other runbooks`;
      },
    },
  ];
}

function definition(desk: Desk): RunbookDefinition<IncidentParams, IncidentSettings, State, IncidentResult> {
  return {
    type: TYPE,
    schema: incidentInputSchema,
    subject: (i) => `incident ${i.severity} "${i.title}"`,
    target: (i) => i.service ?? 'incident',
    resolve: (i) =>
      incidentLookups.resolveIncident({
        severity: i.severity,
        ...(i.service ? { service: i.service } : {}),
        ...(i.updateEvery ? { updateEvery: i.updateEvery } : {}),
        ...(i.escalation ? { escalation: i.escalation } : {}),
      }),
    initialState: (i, t) => {
      const now = new Date();
      return {
        status: 'investigating',
        declaredAt: now.toISOString(),
        declared: false,
        current: { status: 'investigating', text: i.summary ?? `Investigating: ${i.title}.` },
        escalatedTo: [],
        updates: 0,
        nextUpdateAt: now.getTime() + toMs(t.updateEvery),
        actions: [],
        timeline: [],
      };
    },
    steps: steps(desk),
    completed: (r) =>
      `${r.input.severity} incident "${r.input.title}" resolved by ${r.state.resolvedBy} after ${elapsed(r.state.declaredAt, r.state.resolvedAt ?? r.state.declaredAt)}; ` +
      `root cause: ${oneLine(r.state.rootCause ?? '')}`,
    progressNote: (r) =>
      `Incident ${r.state.status}; ${r.state.acknowledgedBy ? `acknowledged by ${r.state.acknowledgedBy}` : 'never acknowledged'}; ` +
      `escalated to ${r.state.escalatedTo.join(', ') || 'nobody'}; ${r.state.updates} status update(s) sent.`,
    result: (base, r) => {
      const s = r.state;
      return {
        ...base,
        severity: r.input.severity,
        incidentStatus: s?.status ?? 'investigating',
        ...(s?.acknowledgedBy ? { acknowledgedBy: s.acknowledgedBy } : {}),
        ...(s?.rootCause ? { rootCause: s.rootCause } : {}),
        timeline: s?.timeline ?? [],
        // A dry run shows the declaration as it would go out.
        report:
          s?.report ?? (s && r.target ? (base.outcome === 'dry-run' ? fillTemplate(r.input, r.target, s) : postIncidentReport(r.input, r.target, s)) : ''),
      };
    },
  };
}

export async function incident(input: IncidentInput, resume?: Resume<IncidentSettings, State>): Promise<IncidentResult> {
  const desk = new Desk();
  try {
    return await runRunbook(definition(desk), input, resume);
  } finally {
    desk.closed = true;
  }
}
