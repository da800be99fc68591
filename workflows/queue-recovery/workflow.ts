// Queue recovery (seed 000 Job Queue Management, 004 Monitoring Queue Health), three modes:
//   check   (default; the queue-health schedule): every queue's depths against thresholds; warning or
//           critical tells stakeholders / escalation. Changes nothing.
//   recover counts before -> exclusive use of queues:<service> -> (approval of a clean outside local) ->
//           stuck jobs back to pending (or failed at maxAttempts) -> failed jobs back to pending, in atomic
//           chunks that record their progress -> BullMQ retry and clean through BullMQ -> counts after.
//   drain   waits until nothing is waiting or active (list layout and BullMQ), up to drainTimeout. It does
//           not pause intake: stopping producers is the maintenance window's job.
//   pause / resume  BullMQ queues stop / start handing jobs to their workers (Queue.pause/resume; jobs keep
//           arriving and wait), e.g. while the webhooks' downstream is down (seed 004 "Restarting Queue").
//           The list layout has no such switch: its consumers are scaled by the platform.
// Instead of the seeds' "DEL report_jobs_processing" (loses the jobs) and "DEL nova:email:failed": every
// job is moved, never deleted, except by an explicit `clean` whose count the plan shows first. The exclusive
// key is queues:<service>, not the service: a maintenance window holds that and may want its queues recovered.
import { ApplicationFailure } from '@temporalio/workflow';
import type { ApprovalPolicy } from '../lib/approval-rules';
import { startCommand } from '../lib/commands';
import { ErrorType } from '../lib/errors';
import { runRunbook, type Resume, type Run, type RunbookDefinition, type Step } from '../lib/kit';
import { bullmqWaits, queueChecks, queueMoves, waits } from '../lib/proxies';
import { toMs } from '../lib/schema';
import type {
  BullCleanResult,
  BullDrainResult,
  BullRetryResult,
  DrainResult,
  QueueRecoveryTargets,
  QueueReport,
  QueueStatus,
  RetryFailedResult,
  StuckResult,
} from '../../activities';
import {
  countsOf,
  DEFAULT_DRAIN_TIMEOUT,
  describeAccount,
  describeReport,
  queueRecoveryInputSchema,
  type QueueAccount,
  type QueueRecoveryInput,
  type QueueRecoveryParams,
  type QueueRecoveryResult,
} from './contract';

const TYPE = 'queueRecovery';

interface State {
  /** BullMQ jobs failed after this stay failed (the run's start). */
  startedAtMs: number;
  before?: QueueReport[];
  after?: QueueReport[];
  stuck?: StuckResult;
  retried?: RetryFailedResult;
  bullmqRetried: BullRetryResult[];
  cleaned: BullCleanResult[];
  drain: { list?: DrainResult; bullmq?: BullDrainResult };
  switched?: string[];
}

type QRun = Run<QueueRecoveryParams, QueueRecoveryTargets, State>;
type QStep = Step<QueueRecoveryParams, QueueRecoveryTargets, State>;

const RANK: Record<QueueStatus, number> = { ok: 0, warning: 1, critical: 2 };
const worst = (rs: QueueReport[] | undefined): QueueStatus => (rs ?? []).reduce<QueueStatus>((w, r) => (RANK[r.status] > RANK[w] ? r.status : w), 'ok');

const queuesOf = (t: QueueRecoveryTargets): string[] => [...(t.list ? [t.list] : []), ...t.bullmq];

/** A clean outside local deletes jobs for good: one sre-lead approves. */
function approvalOf(input: QueueRecoveryParams, t?: QueueRecoveryTargets): ApprovalPolicy | undefined {
  if (!t || input.mode !== 'recover' || !input.clean || t.environment === 'local') return undefined;
  return { quorum: 1, approverRoles: ['sre-lead'], timeout: '4h', allowUiVotes: true };
}

function cleanPlan(input: QueueRecoveryParams, t: QueueRecoveryTargets, queue: string): string {
  const c = t.clean[queue] ?? {};
  return [
    input.clean?.completedOlderThan !== undefined ? `${c.completed ?? 0} completed older than ${input.clean.completedOlderThan}` : '',
    input.clean?.failedOlderThan !== undefined ? `up to ${c.failed ?? 0} failed older than ${input.clean.failedOlderThan} (fewer if retried first)` : '',
  ]
    .filter(Boolean)
    .join(' and ');
}

function countStep(id: 'count-before' | 'count-after', input: QueueRecoveryParams, t: QueueRecoveryTargets): QStep {
  const before = id === 'count-before';
  return {
    id,
    kind: before ? 'check' : 'verify',
    title: `${before ? 'read' : 'read again'} ${queuesOf(t).join(', ')} of ${input.service}: depths${before && input.mode === 'check' ? ' against thresholds' : ''}`,
    run: async (r) => {
      const reports = await queueChecks.checkQueues({
        service: input.service,
        queues: queuesOf(t),
        ...(input.thresholds ? { thresholds: input.thresholds } : {}),
      });
      if (before) r.state.before = reports;
      else r.state.after = reports;
      if (before && input.mode === 'check') await alert(r, reports);
      return reports.map(describeReport).join('; ');
    },
  };
}

/** Check mode: a queue over its thresholds is a warning of the run and a notification (critical: escalation). */
async function alert(r: QRun, reports: QueueReport[]): Promise<void> {
  const bad = reports.filter((q) => q.status !== 'ok');
  if (!bad.length) return;
  for (const q of bad) r.warnings.push(`${q.name}: ${q.status}: ${q.reasons.join('; ')}`);
  const w = worst(reports);
  const text = `${bad.map(describeReport).join('\n')}\nRecover: ${startCommand('queue-recovery', { service: r.input.service, mode: 'recover', requestedBy: '<you>' })}`;
  if (w === 'critical') await r.tell('queues-critical', 'critical', 'escalation', `Queues of ${r.input.service}: critical`, text);
  else await r.tell('queues-warning', 'warning', 'stakeholders', `Queues of ${r.input.service}: warning`, text);
}

function recoverSteps(input: QueueRecoveryParams, t: QueueRecoveryTargets): Array<QStep | false> {
  const olderThanMs = input.stuckAfter ? toMs(input.stuckAfter) : t.stuckAfterMs;
  const maxAttempts = input.maxAttempts ?? t.maxAttempts;
  const policy = approvalOf(input, t);
  return [
    !!policy && {
      id: 'approval',
      kind: 'gate',
      title: `approval by ${policy.quorum} of role ${policy.approverRoles.join('/')} to clean BullMQ jobs (environment ${t.environment})`,
      run: async (r) => {
        const s = await r.approve({
          detail: `Clean: ${t.bullmq.map((q) => `${q}: ${cleanPlan(input, t, q)}`).join('; ')}.`,
          deniedNote: 'nothing was changed',
        });
        return `${s.status}: ${s.reason ?? ''}`;
      },
    },
    !!t.list &&
      input.recoverStuck && {
        id: 'stuck',
        kind: 'task',
        changes: true,
        title: `${t.list}: jobs claimed over ${input.stuckAfter ?? `${Math.round(olderThanMs / 1000)}s`} ago back to pending with attempts + 1 (to failed after ${maxAttempts}); one atomic move each`,
        run: async (r) => {
          const s = await queueMoves.recoverStuckJobs({ service: input.service, olderThanMs, maxAttempts });
          r.state.stuck = s;
          return `examined ${s.examined}: ${s.requeued} put back, ${s.failed} to failed, ${s.recent} recent, ${s.claimedNow} claimed now (unclaimed), ${s.skipped} changed meanwhile`;
        },
      },
    !!t.list &&
      input.retryFailed && {
        id: 'retry-failed',
        kind: 'task',
        changes: true,
        title: `${t.list}: failed jobs (those failed now; later failures stay) back to pending, ${input.chunk} per atomic chunk with its progress`,
        run: async (r) => {
          const res = await queueMoves.retryFailedJobs({
            service: input.service,
            queue: t.list!,
            runKey: r.runKey,
            chunk: input.chunk,
            ...(input.chunkPauseMs ? { pauseMs: input.chunkPauseMs } : {}),
          });
          r.state.retried = res;
          if (res.short) r.warnings.push(`${t.list}: the failed list held fewer jobs than at the start (someone else took ${res.total - res.moved})`);
          return `${res.moved} of ${res.total} moved in ${res.chunks} chunk(s), ${res.failedLeft} failed now`;
        },
      },
    ...t.bullmq.flatMap((q): QStep[] => [
      ...(input.retryFailed
        ? [
            {
              id: `retry-${q}`,
              kind: 'task',
              changes: true,
              title: `${q} (BullMQ): failed jobs back to waiting through Queue.retryJobs, ${input.chunk} per call (failures after the start stay)`,
              run: async (r: QRun) => {
                const res = await queueMoves.bullmqRetryFailed({
                  service: input.service,
                  queue: q,
                  before: r.state.startedAtMs,
                  count: Math.min(input.chunk, 1000),
                  ...(input.chunkPauseMs ? { pauseMs: input.chunkPauseMs } : {}),
                });
                r.state.bullmqRetried.push(res);
                return `${res.retried} retried in ${res.calls} call(s), ${res.failedLeft} failed now`;
              },
            } satisfies QStep,
          ]
        : []),
      ...(input.clean
        ? [
            {
              id: `clean-${q}`,
              kind: 'task',
              changes: true,
              title: `${q} (BullMQ): remove ${cleanPlan(input, t, q)} (Queue.clean)`,
              run: async (r: QRun) => {
                const done: string[] = [];
                for (const [state, older] of [
                  ['completed', input.clean!.completedOlderThan],
                  ['failed', input.clean!.failedOlderThan],
                ] as const) {
                  if (older === undefined) continue;
                  const res = await queueMoves.bullmqClean({ service: input.service, queue: q, state, olderThanMs: toMs(older), limit: 1000 });
                  r.state.cleaned.push(res);
                  done.push(`${res.removed} ${state}`);
                }
                return `removed ${done.join(', ')}`;
              },
            } satisfies QStep,
          ]
        : []),
    ]),
  ];
}

function drainSteps(input: QueueRecoveryParams, t: QueueRecoveryTargets): Array<QStep | false> {
  const timeout = input.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT;
  const timeoutMs = toMs(timeout);
  return [
    !!t.list && {
      id: 'drain-list',
      kind: 'drain',
      title: `wait up to ${timeout} until ${t.list} has nothing pending or processing`,
      run: async (r) => {
        const d = await waits(timeoutMs).waitForQueueDrain({ service: input.service, timeoutMs });
        r.state.drain.list = d;
        if (!d.drained) r.warnings.push(`${t.list} not drained after ${timeout}: ${d.pending} pending, ${d.processing} processing`);
        return `${d.drained ? 'drained' : 'NOT drained'} after ${(d.waitedMs / 1000).toFixed(1)}s`;
      },
    },
    t.bullmq.length > 0 && {
      id: 'drain-bullmq',
      kind: 'drain',
      title: `wait up to ${timeout} until ${t.bullmq.join(', ')} (BullMQ) have nothing waiting or active`,
      run: async (r) => {
        const d = await bullmqWaits(timeoutMs).waitForBullmqDrain({ service: input.service, queues: t.bullmq, timeoutMs });
        r.state.drain.bullmq = d;
        const left = Object.entries(d.left).filter(([, n]) => n > 0);
        if (!d.drained) r.warnings.push(`BullMQ not drained after ${timeout}: ${left.map(([q, n]) => `${q} ${n}`).join(', ')}`);
        return `${d.drained ? 'drained' : 'NOT drained'} after ${(d.waitedMs / 1000).toFixed(1)}s`;
      },
    },
  ];
}

function switchSteps(input: QueueRecoveryParams, t: QueueRecoveryTargets): QStep[] {
  const pause = input.mode === 'pause';
  return t.bullmq.map((q) => ({
    id: `${input.mode}-${q}`,
    kind: 'task',
    changes: true,
    title: `${q} (BullMQ): ${pause ? 'pause: workers take no new job; jobs keep arriving and wait' : 'resume: workers take jobs again'} (Queue.${input.mode})`,
    run: async (r: QRun) => {
      await (pause ? queueMoves.bullmqPause : queueMoves.bullmqResume)({ service: input.service, queue: q });
      (r.state.switched ??= []).push(q);
      return pause ? 'paused' : 'resumed';
    },
  }));
}

function steps(input: QueueRecoveryParams, t: QueueRecoveryTargets): Array<QStep | false> {
  if (input.mode === 'check') return [countStep('count-before', input, t)];
  const work = input.mode === 'recover' ? recoverSteps(input, t) : input.mode === 'drain' ? drainSteps(input, t) : switchSteps(input, t);
  return [countStep('count-before', input, t), ...work, countStep('count-after', input, t)];
}

/** Pause and resume switch BullMQ queues: a list-layout queue named for them is refused, not skipped. */
async function resolve(input: QueueRecoveryParams): Promise<QueueRecoveryTargets> {
  const t = await queueChecks.resolveQueueRecovery({
    service: input.service,
    ...(input.queues ? { queues: input.queues } : {}),
    ...(input.mode === 'recover' && input.clean
      ? {
          clean: {
            ...(input.clean.completedOlderThan ? { completedOlderThanMs: toMs(input.clean.completedOlderThan) } : {}),
            ...(input.clean.failedOlderThan ? { failedOlderThanMs: toMs(input.clean.failedOlderThan) } : {}),
          },
        }
      : {}),
  });
  if (input.mode !== 'pause' && input.mode !== 'resume') return t;
  if (t.list && input.queues?.includes(t.list))
    throw ApplicationFailure.create({
      type: ErrorType.InvalidTarget,
      nonRetryable: true,
      message: `queues: ${t.list} is a list-layout queue: ${input.mode} applies to BullMQ queues (${t.bullmq.join(', ') || 'none configured'}); stop its consumers by scaling the processors instead`,
    });
  if (!t.bullmq.length)
    throw ApplicationFailure.create({
      type: ErrorType.InvalidTarget,
      nonRetryable: true,
      message: `service "${input.service}" has no BullMQ queues to ${input.mode}`,
    });
  return { ...t, list: undefined };
}

/** Every job of every queue: before, after, and what was moved or removed. */
function accounts(r: QRun): QueueAccount[] {
  if (r.input.mode === 'check') return [];
  return (r.state.before ?? []).map((b) => {
    const after = r.state.after?.find((a) => a.name === b.name);
    const list = b.layout === 'list';
    return {
      queue: b.name,
      layout: b.layout,
      before: countsOf(b),
      ...(after ? { after: countsOf(after) } : {}),
      retried: list ? (r.state.retried?.moved ?? 0) : (r.state.bullmqRetried.find((x) => x.queue === b.name)?.retried ?? 0),
      requeued: list ? (r.state.stuck?.requeued ?? 0) : 0,
      toFailed: list ? (r.state.stuck?.failed ?? 0) : 0,
      removed: r.state.cleaned.filter((c) => c.queue === b.name).reduce((n, c) => n + c.removed, 0),
    };
  });
}

export const queueRecoveryRunbook: RunbookDefinition<QueueRecoveryParams, QueueRecoveryTargets, State, QueueRecoveryResult> = {
  type: TYPE,
  schema: queueRecoveryInputSchema,
  subject: (i) => `queue ${i.mode} of ${i.service}`,
  target: (i) => i.service,
  resolve,
  approval: approvalOf,
  // Only recover changes the queues; check and drain take no lock (the kit would otherwise take it before
  // the report), so the schedule's check never waits behind a recovery.
  exclusive: (i) => (i.mode === 'recover' || i.mode === 'pause' || i.mode === 'resume' ? { key: `queues:${i.service}`, waitAtMost: '30m' } : undefined),
  initialState: () => ({ startedAtMs: Date.now(), bullmqRetried: [], cleaned: [], drain: {} }),
  steps,
  completed: (r) => {
    if (r.input.mode === 'check') return `queues of ${r.input.service}: ${worst(r.state.before)}`;
    if (r.input.mode === 'pause' || r.input.mode === 'resume')
      return `${r.input.mode === 'pause' ? 'paused' : 'resumed'} ${(r.state.switched ?? []).join(', ') || 'nothing'} (BullMQ) of ${r.input.service}`;
    return `queues of ${r.input.service} ${r.input.mode === 'recover' ? 'recovered' : 'drained'}: ${accounts(r).map(describeAccount).join('; ')}`;
  },
  progressNote: (r) =>
    `So far: ${accounts(r).map(describeAccount).join('; ') || 'nothing done'}. Every move is atomic: each job is where it was or where it went, ` +
    'and a new run continues a list retry where this one stopped only under the same run (a new run counts the failed list afresh).',
  result: (base, r) => ({
    ...base,
    service: r.input.service,
    mode: r.input.mode,
    status: worst(r.state.before),
    before: r.state.before ?? [],
    ...(r.state.after ? { after: r.state.after } : {}),
    accounts: accounts(r),
    ...(r.state.stuck ? { stuck: r.state.stuck } : {}),
    ...(r.state.retried ? { retried: r.state.retried } : {}),
    bullmqRetried: r.state.bullmqRetried,
    cleaned: r.state.cleaned,
    ...(r.state.drain.list || r.state.drain.bullmq ? { drain: r.state.drain } : {}),
    ...(r.state.switched ? { switched: r.state.switched } : {}),
  }),
};

export async function queueRecovery(input: QueueRecoveryInput, resume?: Resume<QueueRecoveryTargets, State>): Promise<QueueRecoveryResult> {
  return runRunbook(queueRecoveryRunbook, input, resume);
}
