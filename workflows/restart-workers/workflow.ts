// Restarting a service's job processors (seed 004 "Restarting Queue"):
//   pre-check -> notify -> [exclusive use of the service] -> graceful restart -> wait until jobs are
//   processed again -> (not recovered:) approval -> force restart -> wait again -> verify -> report.
// The graceful path needs no approval; killing processors mid-job does. Recovery is proven, not assumed:
// a probe job put on the queue must complete, and the queue must not be deeper than before.
import { ApplicationFailure } from '@temporalio/workflow';
import type { QueueStats, RestartMode, ResolvedService } from '../../activities';
import { ErrorType } from '../lib/errors';
import { runRunbook, type Resume, type Run, type RunbookDefinition, type Step } from '../lib/kit';
import { health, lookups, platform, queues, waits } from '../lib/proxies';
import { toMs } from '../lib/schema';
import { restartWorkersInputSchema, type RestartAttempt, type RestartWorkersInput, type RestartWorkersParams, type RestartWorkersResult } from './contract';

const TYPE = 'restartWorkers';

interface State {
  before?: QueueStats & { replicas: number; generation?: number };
  graceful?: RestartAttempt;
  force?: RestartAttempt;
}

type RwRun = Run<RestartWorkersParams, ResolvedService, State>;
type RwStep = Step<RestartWorkersParams, ResolvedService, State>;

const recovered = (r: RwRun): boolean => Boolean(r.state.graceful?.recovery.recovered || r.state.force?.recovery.recovered);

function describe(a: RestartAttempt): string {
  const r = a.recovery;
  const rollout = r.rollout === 'not-reported' ? '' : `, rollout ${r.rollout}`;
  return `${r.recovered ? 'recovered' : 'not recovered'} after ${(r.waitedMs / 1000).toFixed(1)}s (probe ${r.probe}, queue ${r.depthBefore} -> ${r.depthAfter}${rollout})`;
}

/** Restart, then prove the processors consume again. The restart is idempotent by its request id. */
function restartSteps(service: string, mode: RestartMode, input: RestartWorkersParams): RwStep[] {
  const skipIf = mode === 'force' ? (r: RwRun) => (recovered(r) ? 'the graceful restart recovered the processors' : undefined) : undefined;
  return [
    {
      id: `${mode}-restart`,
      kind: 'restart',
      changes: true,
      title:
        mode === 'graceful'
          ? `graceful restart of the processors of ${service} (one at a time, each finishing its job)`
          : `force restart of the processors of ${service} (kill at once; their jobs go back to the queue)`,
      ...(skipIf ? { skipIf } : {}),
      run: async (r) => {
        const restart = await platform.restartWorkers({ service, mode, requestId: r.key(`restart-${mode}`) });
        r.state[mode] = {
          restart,
          recovery: {
            recovered: false,
            waitedMs: 0,
            probe: 'unknown',
            rollout: 'not-reported',
            depthBefore: 0,
            depthAfter: 0,
            stats: { pending: 0, processing: 0, failed: 0 },
          },
        };
        await r.audit('workers-restarted', `restart-${mode}`, { ...restart });
        return `generation ${restart.generation}${restart.killed !== undefined ? `, ${restart.killed} killed` : ''}${restart.repeated ? ' (already applied)' : ''}`;
      },
    },
    {
      id: `${mode}-recovery`,
      kind: 'wait',
      title: `wait up to ${input.recoveryTimeout} for jobs to be processed again (a probe job completes, the queue does not grow)`,
      ...(skipIf ? { skipIf } : {}),
      run: async (r) => {
        const probeId = `${r.runKey}-${mode}`;
        await queues.submitProbe({ service, probeId });
        const timeoutMs = toMs(input.recoveryTimeout);
        const recovery = await waits(timeoutMs).waitForRecovery({ service, probeId, timeoutMs, generation: r.state[mode]!.restart.generation });
        r.state[mode] = { restart: r.state[mode]!.restart, recovery };
        return describe(r.state[mode]);
      },
    },
  ];
}

function steps(input: RestartWorkersParams): RwStep[] {
  const service = input.service;
  const a = input.approval;
  return [
    {
      id: 'precheck',
      kind: 'check',
      title: `read the queue depth and processors of ${service}`,
      run: async (r) => {
        r.status('pre-checks', 'reading the queue and the processors');
        const [stats, state] = await Promise.all([queues.queueStats({ service }), platform.platformState({ service })]);
        r.state.before = { ...stats, replicas: state.replicas, ...(state.generation !== undefined ? { generation: state.generation } : {}) };
        if (state.replicas === 0) {
          r.stop('aborted', `${service} runs 0 processors: there is nothing to restart (scale it up instead); nothing was changed`);
        }
        return `${stats.pending} pending, ${stats.processing} processing, ${stats.failed} failed; ${state.replicas} processor(s)${state.generation !== undefined ? `, generation ${state.generation}` : ''}`;
      },
    },
    {
      id: 'notify-start',
      kind: 'notify',
      title: 'notify stakeholders of the restart',
      run: (r) =>
        r.tell(
          'planned',
          'info',
          'stakeholders',
          `Restarting the job processors of ${service}`,
          `Requested by ${input.requestedBy}${input.reason ? ` (${input.reason})` : ''}. Queue before: ${r.state.before?.pending ?? '?'} pending, ` +
            `${r.state.before?.processing ?? '?'} processing. Graceful restart first${input.force ? '; a force restart only after approval' : ''}.`,
        ),
    },
    ...restartSteps(service, 'graceful', input),
    {
      id: 'approval-force',
      kind: 'gate',
      title: `if not recovered: approval of a force restart by ${a.quorum} of role ${a.approverRoles.join('/')} (timeout ${a.timeout})`,
      skipIf: (r) => (recovered(r) ? 'the graceful restart recovered the processors' : undefined),
      run: async (r) => {
        const g = r.state.graceful ? describe(r.state.graceful) : 'did not run';
        if (!input.force)
          r.stop('aborted', `the graceful restart did not recover the processors of ${service} (${g}) and the input does not allow a force restart`);
        const s = await r.approve({
          detail: `The graceful restart did not recover them: ${g}. A force restart kills the processors at once; their jobs go back to the queue.`,
          deniedNote: `the processors were not force-restarted and are still not processing jobs`,
        });
        return `${s.status}: ${s.reason ?? ''}`;
      },
    },
    ...restartSteps(service, 'force', input),
    {
      id: 'verify',
      kind: 'verify',
      title: `verify ${service} processes jobs and is healthy`,
      run: async (r) => {
        const h = await health.checkHealth({ service });
        if (!recovered(r) || !h.healthy) {
          const last = r.state.force ?? r.state.graceful;
          throw ApplicationFailure.create({
            type: ErrorType.VerificationFailed,
            nonRetryable: true,
            message:
              `verification failed: ${recovered(r) ? 'the processors consume again' : `the processors still do not consume (${last ? describe(last) : 'no restart ran'})`}` +
              `; health ${h.healthy ? 'ok' : `failed (${h.status ?? h.detail})`}`,
          });
        }
        return `consuming again; healthy, HTTP ${h.status}`;
      },
    },
  ];
}

export const restartWorkersRunbook: RunbookDefinition<RestartWorkersParams, ResolvedService, State, RestartWorkersResult> = {
  type: TYPE,
  schema: restartWorkersInputSchema,
  subject: (i) => `restart of the job processors of ${i.service}`,
  target: (i) => i.service,
  async resolve(input) {
    const t = await lookups.resolveService({ service: input.service });
    if (!t.queue)
      throw ApplicationFailure.create({
        type: ErrorType.InvalidTarget,
        nonRetryable: true,
        message: `service: "${input.service}" has no job queue configured`,
      });
    if (!t.queue.probe) {
      throw ApplicationFailure.create({
        type: ErrorType.InvalidTarget,
        nonRetryable: true,
        message: `service: "${input.service}" has no queue.probeUrl configured, so recovery cannot be proven`,
      });
    }
    return t;
  },
  approval: (i) => i.approval,
  exclusive: (i) => ({ key: `service:${i.service}`, waitAtMost: i.lockTimeout }),
  initialState: () => ({}),
  steps,
  completed: (r) => {
    const by = r.state.graceful?.recovery.recovered ? 'graceful' : 'force';
    return `the processors of ${r.input.service} consume again after the ${by} restart: ${describe((by === 'graceful' ? r.state.graceful : r.state.force)!)}`;
  },
  progressNote: (r) =>
    `Graceful restart: ${r.state.graceful ? describe(r.state.graceful) : 'not run'}. Force restart: ${r.state.force ? describe(r.state.force) : 'not run'}.`,
  result: (base, r) => ({
    ...base,
    service: r.input.service,
    recoveredBy: r.state.graceful?.recovery.recovered ? 'graceful' : r.state.force?.recovery.recovered ? 'force' : 'none',
    ...(r.state.graceful ? { graceful: r.state.graceful } : {}),
    ...(r.state.force ? { force: r.state.force } : {}),
  }),
};

export async function restartWorkers(input: RestartWorkersInput, resume?: Resume<ResolvedService, State>): Promise<RestartWorkersResult> {
  return runRunbook(restartWorkersRunbook, input, resume);
}
