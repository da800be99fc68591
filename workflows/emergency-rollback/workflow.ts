// Emergency rollback of a service (seeds 000/002 "Emergency Rollback", 001 "Immediate Rollback", 004):
//   pre-check -> notify, open an incident -> [approval, only where the environment's policy asks for one]
//   -> stop new work (processors to 0, feature flags off) -> roll the deployment back -> wait for the
//   rollout -> database rollback steps (counted, saved, idempotent) -> resume work -> verify (health,
//   connectivity, smoke requests, 5xx share and p95 from Prometheus) -> data integrity -> audit record.
// Fast by default: no approval, no waiting for other runs. Every change is idempotent by a request id or
// by what it saved, so a retried step (a worker killed midway) takes effect once.
import type { Revision } from '../../activities';
import { runRunbook, type Resume, type RunbookDefinition, type Step } from '../lib/kit';
import { audit, dataRollback, platform } from '../lib/proxies';
import {
  awaitRollout,
  dataProgress,
  dataResult,
  dataRollbackSteps,
  flagsFrom,
  flagsTo,
  resolveRollback,
  rev,
  verificationProblems,
  verifyService,
  type DataState,
  type RollbackTarget,
  type RollbackVerification,
} from '../lib/rollback';
import { toMs } from '../lib/schema';
import { emergencyRollbackInputSchema, type EmergencyRollbackInput, type EmergencyRollbackParams, type EmergencyRollbackResult } from './contract';

const TYPE = 'emergencyRollback';
const RESTORE = 'restore processors and paused flags';

interface State extends DataState {
  before?: { replicas: number; flags: Record<string, boolean> };
  from?: Revision;
  to?: Revision;
  verification: RollbackVerification;
  integrity?: EmergencyRollbackResult['integrity'];
  incident?: { id: string };
}

type ErStep = Step<EmergencyRollbackParams, RollbackTarget, State>;

/** Processors back to their count before, the paused flags back to their values (the undo and the normal step). */
async function resumeWork(service: string, pauseFlags: string[], before: NonNullable<State['before']>): Promise<string> {
  await platform.scaleWorkers({ service, replicas: before.replicas });
  const restore = flagsFrom(pauseFlags, before.flags);
  if (Object.keys(restore).length) await platform.setFeatureFlags({ service, flags: restore });
  return `processors 0 -> ${before.replicas}${Object.keys(restore).length ? `; ${JSON.stringify(restore)}` : ''}`;
}

function steps(input: EmergencyRollbackParams, t: RollbackTarget): ErStep[] {
  const service = input.service;
  const { pauseFlags, releaseFlags } = t.settings;
  const flagsOff = [...pauseFlags, ...releaseFlags];
  const data = input.databaseRollback ? t.data : [];
  const verifyWindow = input.verifyWindow ?? t.settings.verifyWindow;
  const windowMs = toMs(verifyWindow);
  const target = t.to ? rev(t.to) : 'the previous revision';

  const dataSteps = dataRollbackSteps<EmergencyRollbackParams, State>(service, data);

  return [
    {
      id: 'precheck',
      kind: 'check',
      title: `read the deployment, processors and feature flags of ${service}`,
      run: async (r) => {
        r.status('pre-checks', 'reading the deployment');
        if (t.refusal || !t.to) r.stop('aborted', `nothing was changed: ${t.refusal ?? 'no revision to roll back to'}`);
        const [state, flags] = await Promise.all([platform.platformState({ service }), platform.featureFlags({ service })]);
        r.state.before = { replicas: state.replicas, flags };
        r.state.from = t.deployment.current;
        return `current ${rev(t.deployment.current)}, going back to ${target}; ${state.replicas} processor(s); flags ${JSON.stringify(flags)}`;
      },
    },
    {
      id: 'notify-start',
      kind: 'notify',
      title: 'notify stakeholders that an emergency rollback started',
      run: (r) =>
        r.tell(
          'started',
          'critical',
          'stakeholders',
          `Emergency rollback of ${service} started`,
          `${input.requestedBy}${input.trigger.source === 'alertmanager' ? ' (Alertmanager)' : ''} rolls ${service} back from ${rev(t.deployment.current)} to ${target}` +
            `${input.reason ? `: ${input.reason}` : ''}.${input.trigger.alerts.length ? ` Alerts: ${input.trigger.alerts.map((a) => a.name).join(', ')}.` : ''}`,
        ),
    },
    {
      id: 'incident',
      kind: 'notify',
      title: 'open an incident record',
      run: async (r) => {
        r.state.incident = await audit.openIncident({
          key: r.key('incident'),
          service,
          severity: 'critical',
          title: `Emergency rollback of ${service}: ${rev(t.deployment.current)} -> ${target}`,
          workflowId: r.workflowId,
          data: { requestedBy: input.requestedBy, reason: input.reason ?? null, trigger: input.trigger, environment: t.settings.environment },
        });
        return `incident #${r.state.incident.id}`;
      },
    },
    {
      id: 'approval',
      kind: 'gate',
      when: Boolean(t.settings.approval),
      title: t.settings.approval
        ? `approval by ${t.settings.approval.quorum} of role ${t.settings.approval.approverRoles.join('/')} (environment ${t.settings.environment}; timeout ${t.settings.approval.timeout})`
        : 'no approval',
      run: async (r) => {
        const s = await r.approve({
          detail: `Rollback of ${service} in ${t.settings.environment} from ${rev(t.deployment.current)} to ${target}.`,
          deniedNote: `${service} was not rolled back`,
        });
        return `${s.status}: ${s.reason ?? ''}`;
      },
    },
    {
      id: 'stop-new-work',
      kind: 'scale',
      changes: true,
      title: `stop new work: processors of ${service} to 0${flagsOff.length ? `, flags ${flagsOff.join(', ')} off` : ''}`,
      undo: {
        name: RESTORE,
        run: (r) => resumeWork(service, pauseFlags, r.state.before!),
      },
      run: async () => {
        const scaled = await platform.scaleWorkers({ service, replicas: 0 });
        if (flagsOff.length) await platform.setFeatureFlags({ service, flags: flagsTo(flagsOff, false) });
        return `processors ${scaled.previous} -> 0${flagsOff.length ? `; ${flagsOff.join(', ')} off` : ''}`;
      },
    },
    {
      id: 'rollback',
      kind: 'deploy',
      changes: true,
      title: `roll the deployment of ${service} back: ${rev(t.deployment.current)} -> ${target}`,
      run: async (r) => {
        const res = await platform.rollbackDeployment({ service, requestId: r.key('rollback'), toRevision: t.to!.revision });
        r.state.to = res.revision;
        await r.audit('deployment-rolled-back', 'rollback', { ...res });
        return `now ${rev(res.revision)}${res.repeated ? ' (already applied)' : ''}`;
      },
    },
    {
      id: 'rollout',
      kind: 'wait',
      title: `wait up to ${input.rolloutTimeout} for the rollout of ${target} to complete`,
      run: (r) => awaitRollout(service, r.state.to!, input.rolloutTimeout),
    },
    ...dataSteps,
    {
      id: 'resume-work',
      kind: 'scale',
      changes: true,
      title: `resume work: processors back to their count before${pauseFlags.length ? `, ${pauseFlags.join(', ')} back on` : ''}${releaseFlags.length ? ` (${releaseFlags.join(', ')} stay off)` : ''}`,
      settles: [RESTORE],
      run: (r) => resumeWork(service, pauseFlags, r.state.before!),
    },
    {
      id: 'verify',
      kind: 'verify',
      title:
        `verify ${service}: health, connectivity, smoke requests (${input.smokeRequests} each)` +
        `${t.settings.metrics ? `, then 5xx share and p95 from Prometheus over ${verifyWindow}` : ''}`,
      run: (r) => verifyService(r, service, r.state.verification, { smokeRequests: input.smokeRequests, windowMs, metrics: t.settings.metrics }),
    },
    {
      id: 'integrity',
      kind: 'verify',
      when: data.length > 0,
      title: 'data integrity check: nothing of the rolled-back release remains, no orphaned rows',
      run: async (r) => {
        const integrity = await dataRollback.checkDataIntegrity({ service });
        r.state.integrity = integrity;
        const bad = integrity.checks.filter((c) => !c.ok);
        if (bad.length) r.warnings.push(`data integrity: ${bad.map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
        return integrity.ok ? `${integrity.checks.length} check(s) ok` : `${bad.length} problem(s)`;
      },
    },
    {
      id: 'record',
      kind: 'notify',
      title: 'write the rollback to the audit store',
      run: async (r) => {
        await r.audit('rollback-completed', 'rollback-completed', {
          service,
          from: r.state.from ?? null,
          to: r.state.to ?? null,
          data: r.state.applied,
          incident: r.state.incident?.id ?? null,
          verification: { problems: verificationProblems(r.state.verification), metrics: r.state.verification.metrics?.detail ?? null },
        });
      },
    },
  ];
}

export const emergencyRollbackRunbook: RunbookDefinition<EmergencyRollbackParams, RollbackTarget, State, EmergencyRollbackResult> = {
  type: TYPE,
  schema: emergencyRollbackInputSchema,
  subject: (i) => `emergency rollback of ${i.service}`,
  target: (i) => i.service,
  resolve: (input) => resolveRollback(input),
  // By the service's environment, known once resolved: most environments roll back at once.
  approval: (_i, t) => t?.settings.approval,
  initialState: () => ({ applied: {}, verification: {} }),
  steps,
  completed: (r) =>
    `${r.input.service} rolled back from ${r.state.from ? rev(r.state.from) : '?'} to ${r.state.to ? rev(r.state.to) : '?'} and verified` +
    `${r.state.verification.metrics ? ` (${r.state.verification.metrics.detail})` : ''}`,
  progressNote: (r) => `Deployment: ${r.state.to ? `rolled back to ${rev(r.state.to)}` : 'not rolled back'}. ` + `Database: ${dataProgress(r.state.applied)}.`,
  result: (base, r) => ({
    ...base,
    service: r.input.service,
    ...(r.state.from ? { from: r.state.from } : {}),
    ...(r.state.to ? { to: r.state.to } : {}),
    data: dataResult(r),
    verification: r.state.verification,
    ...(r.state.integrity ? { integrity: r.state.integrity } : {}),
    ...(r.state.incident ? { incident: r.state.incident } : {}),
    ...(r.target ? { deployment: r.target.deployment } : {}),
  }),
};

export async function emergencyRollback(input: EmergencyRollbackInput, resume?: Resume<RollbackTarget, State>): Promise<EmergencyRollbackResult> {
  return runRunbook(emergencyRollbackRunbook, input, resume);
}
