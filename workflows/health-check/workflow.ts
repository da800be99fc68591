// The health check of a service (seed 002 "Daily Health Check" and "Weekly", 004 "Morning Checklist"):
//   resolve -> (weekly) last week's snapshot -> every check in parallel -> (weekly) this week's snapshot ->
//   a critical check opens an incident -> report.
// Read-only, so no approval and no exclusive use of the service: a health check must run while a
// maintenance or rollback holds it. Warnings notify the stakeholders (the run ends with warnings); a
// critical check opens an incident of the mapped severity, once: the incident's workflow id is fixed per
// service, so while one is open a repeated failure tells it "still failing" instead of opening another.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { getExternalWorkflowHandle, ParentClosePolicy, startChild } from '@temporalio/workflow';
import type { Baseline, HealthCheckTargets } from '../../activities/health';
import { actionSignal, healthIncidentId, type IncidentInput } from '../incident/contract';
import { startCommand } from '../lib/commands';
import { runRunbook, type Resume, type Run, type RunbookDefinition, type Step } from '../lib/kit';
import { healthChecks } from '../lib/proxies';
import {
  CHECK_TITLES,
  checksOf,
  describeCheck,
  healthCheckInputSchema,
  severityOf,
  worstOf,
  type HealthCheckInput,
  type HealthCheckParams,
  type HealthCheckResult,
  type HealthCheckResultReport,
  type HealthIncident,
  type HealthSnapshot,
} from './contract';

const TYPE = 'healthCheck';

interface State {
  baseline?: Baseline;
  /** By kind, in report order. */
  results: HealthCheckResult[];
  snapshot?: HealthSnapshot;
  incident?: HealthIncident;
}

type HRun = Run<HealthCheckParams, HealthCheckTargets, State>;
type HStep = Step<HealthCheckParams, HealthCheckTargets, State>;

const failing = (r: HRun): HealthCheckResult[] => r.state.results.filter((c) => c.status === 'critical');
const short = (c: HealthCheckResult): string => `${c.name}: ${c.detail || c.value}`;

/** The runbook that acts on a failing check, as a copy-paste command (none where a person must look first). */
function remedy(service: string, c: HealthCheckResult): string | undefined {
  const you = '<you>';
  if (c.check === 'certificates' && c.id.startsWith('certificate:'))
    return startCommand('certificate-renewal', { certificate: c.id.slice('certificate:'.length), requestedBy: you });
  if (c.check === 'queues') return startCommand('queue-recovery', { service, mode: 'recover', requestedBy: you });
  if (c.check === 'cache-hit-rate') return startCommand('cache-warm', { service, requestedBy: you });
  return undefined;
}

/** The warning of a run with failing checks, ending with what to run about them. */
function healthWarning(service: string, status: string, bad: HealthCheckResult[]): string {
  const next = [...new Set(bad.map((c) => remedy(service, c)).filter((c): c is string => !!c))];
  return `health ${status}: ${bad.map(short).join('; ')}${next.length ? `. Next: ${next.join(' ; ')}` : ''}`;
}

function steps(input: HealthCheckParams): HStep[] {
  const kinds = checksOf(input);
  const trends = kinds.includes('growth') || kinds.includes('cache-hit-rate');
  return [
    {
      id: 'baseline',
      kind: 'check',
      title: 'read the snapshot of the last weekly run (audit store)',
      when: trends,
      run: async (r) => {
        const b = await healthChecks.healthBaseline({ service: input.service, workflowId: r.workflowId });
        if (b) r.state.baseline = b;
        return b ? `from ${b.workflowId} at ${b.at}` : 'none: growth is skipped this week';
      },
    },
    {
      id: 'checks',
      kind: 'check',
      title: `run ${kinds.length} checks in parallel: ${kinds.map((k) => CHECK_TITLES[k]).join('; ')}`,
      run: async (r) => {
        r.status('running', `checking ${input.service}`);
        const done = await Promise.all(
          kinds.map((check) => healthChecks.runHealthCheck({ service: input.service, check, ...(r.state.baseline ? { baseline: r.state.baseline } : {}) })),
        );
        r.state.results = done.flatMap((d) => d.results);
        const snap = done.find((d) => d.snapshot)?.snapshot;
        if (snap) r.state.snapshot = snap;
        const status = worstOf(r.state.results);
        const bad = r.state.results.filter((c) => c.status === 'warning' || c.status === 'critical');
        // Warnings (and criticals) reach the stakeholders through the run's ending, which then has warnings.
        if (bad.length) r.warnings.push(healthWarning(input.service, status, bad));
        const n = (s: string) => r.state.results.filter((c) => c.status === s).length;
        return `${status}: ${n('ok')} ok, ${n('warning')} warning, ${n('critical')} critical, ${n('skipped')} skipped`;
      },
    },
    {
      id: 'snapshot',
      kind: 'report',
      title: "record this week's sizes and cache counters for next week's growth (audit kind health-snapshot)",
      when: kinds.includes('growth'),
      run: async (r) => {
        if (!r.state.snapshot) return 'nothing measured';
        await r.audit('health-snapshot', 'health-snapshot', { service: input.service, snapshot: { ...r.state.snapshot } });
        return `recorded at ${r.state.snapshot.at}`;
      },
    },
    {
      id: 'incident',
      kind: 'notify',
      title: `a critical check opens an incident (${healthIncidentId(input.service)}), or tells the open one it still fails`,
      when: input.openIncident,
      skipIf: (r) => (failing(r).length ? undefined : 'no critical check'),
      run: async (r) => openIncident(r),
    },
  ];
}

async function openIncident(r: HRun): Promise<string> {
  const service = r.input.service;
  const bad = failing(r);
  const severity = severityOf(bad) ?? 'P3';
  const workflowId = healthIncidentId(service);
  const summary = bad.map(short).join('\n').slice(0, 4000);
  const incident: IncidentInput = {
    severity,
    title: `health check failing: ${bad
      .map((c) => c.name)
      .join(', ')
      .slice(0, 160)}`,
    service,
    summary,
    source: { runbook: TYPE, workflowId: r.workflowId, detail: `profile ${r.input.profile}` },
    requestedBy: r.input.requestedBy,
  };
  try {
    // ABANDON: the incident outlives this run; it ends when people resolve it.
    await startChild('incident', { workflowId, parentClosePolicy: ParentClosePolicy.ABANDON, args: [incident] });
    r.state.incident = { workflowId, severity, action: 'opened' };
    return `opened ${workflowId} (${severity})`;
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    await getExternalWorkflowHandle(workflowId).signal(actionSignal, {
      runbook: TYPE,
      workflowId: r.workflowId,
      text: `still failing: ${bad.map(short).join('; ')}`.slice(0, 2000),
      at: new Date().toISOString(),
    });
    r.state.incident = { workflowId, severity, action: 'updated' };
    return `${workflowId} is already open: told it the checks still fail`;
  }
}

export const healthCheckRunbook: RunbookDefinition<HealthCheckParams, HealthCheckTargets, State, HealthCheckResultReport> = {
  type: TYPE,
  schema: healthCheckInputSchema,
  subject: (i) => `${i.profile} health check of ${i.service}`,
  target: (i) => i.service,
  resolve: (input) => healthChecks.resolveHealthCheck({ service: input.service }),
  initialState: () => ({ results: [] }),
  steps,
  completed: (r) => {
    const status = worstOf(r.state.results);
    const inc = r.state.incident;
    return (
      `${r.input.service} is ${status} (${r.state.results.length} checks)` +
      (inc ? `; incident ${inc.workflowId} ${inc.action === 'opened' ? `opened (${inc.severity})` : 'told the checks still fail'}` : '')
    );
  },
  progressNote: (r) => `${r.state.results.length} check results; nothing was changed (read-only).`,
  result: (base, r) => ({
    ...base,
    service: r.input.service,
    profile: r.input.profile,
    status: worstOf(r.state.results),
    checks: r.state.results,
    ...(r.state.incident ? { incident: r.state.incident } : {}),
    lines: r.state.results.map(describeCheck),
  }),
};

export async function healthCheck(input: HealthCheckInput, resume?: Resume<HealthCheckTargets, State>): Promise<HealthCheckResultReport> {
  return runRunbook(healthCheckRunbook, input, resume);
}
