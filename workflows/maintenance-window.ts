// Planned maintenance window (seeds 002 "Weekly Maintenance", 003 "Scheduled Maintenance", 004 "Planned
// Maintenance" and "Database Maintenance"):
//   validate -> plan -> pre-checks -> notify -> approval gate -> wait for the window -> backup ->
//   maintenance mode + drain the job queue -> scale workers to 0 -> tasks -> verify -> scale back up ->
//   maintenance mode off -> monitor -> report.
// The window's end is a hard stop: checked before every step that changes something; once past, the run
// stops at that safe point, undoes what it changed (scale back up, maintenance off) and reports what was
// and wasn't done.
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { ResolvedService } from '../activities/targets';
import { long, quick, waiting } from './lib/proxies';
import { ApprovalGate } from './lib/approval';
import type { ApprovalState } from './lib/approval-rules';
import { ErrorType, failureMessage } from './lib/errors';
import { Runbook, type PlanStep } from './lib/runbook';
import { Compensations, type CompensationResult } from './lib/saga';
import { toMs } from './lib/schema';
import { INVALID_INPUT, parseInput } from './lib/validate';
import {
  maintenanceWindowInputSchema,
  resolveWindow,
  type BackupInfo,
  type MaintenanceOutcome,
  type MaintenanceWindowInput,
  type MaintenanceWindowParams,
  type MaintenanceWindowResult,
  type TaskOutcome,
} from './maintenance-window.input';

const RUNBOOK = 'maintenanceWindow';

/** Thrown inside the run to stop at a safe point with a reported (not failed) outcome. */
class StopRun extends Error {
  constructor(
    readonly outcome: Extract<MaintenanceOutcome, 'window-ended' | 'aborted'>,
    message: string,
  ) {
    super(message);
  }
}

export function buildPlan(
  input: MaintenanceWindowParams,
  target: ResolvedService,
  window: { start: string; end: string },
): Array<Pick<PlanStep, 'id' | 'kind' | 'title'>> {
  const stores = [...target.postgres, ...target.mongo, ...(target.queue ? [target.queue.redis] : [])];
  const a = input.approval;
  const steps: Array<Pick<PlanStep, 'id' | 'kind' | 'title'>> = [
    { id: 'precheck-health', kind: 'check', title: `check ${target.service} health` },
    { id: 'precheck-connectivity', kind: 'check', title: `check connectivity to ${stores.join(', ') || 'no data stores'}` },
    { id: 'notify-start', kind: 'notify', title: 'notify stakeholders of the planned maintenance' },
    {
      id: 'approval',
      kind: 'gate',
      title: `approval by ${a.quorum} of role ${a.approverRoles.join('/')}${a.approvers ? ` among ${a.approvers.join(', ')}` : ''} (timeout ${a.timeout})`,
    },
    { id: 'wait-window', kind: 'wait', title: `wait for the window ${window.start} .. ${window.end}` },
  ];
  if (input.backup && target.backupDatabase) {
    steps.push({ id: 'backup', kind: 'backup', title: `pg_dump ${target.backupDatabase} and verify it` });
  }
  steps.push({ id: 'maintenance-on', kind: 'scale', title: `put ${target.service} in maintenance mode (refuse new jobs)` });
  if (target.queue) {
    steps.push(
      { id: 'drain', kind: 'drain', title: `drain ${target.queue.pending} and ${target.queue.processing} (timeout ${input.drainTimeout})` },
      { id: 'scale-down', kind: 'scale', title: 'scale queue workers to 0' },
    );
  }
  for (const t of target.tasks) steps.push({ id: `task-${t.index + 1}`, kind: 'task', title: t.description });
  steps.push({ id: 'verify', kind: 'verify', title: `verify ${target.service} health and connectivity` });
  if (target.queue) steps.push({ id: 'scale-up', kind: 'scale', title: 'scale queue workers back to their previous count' });
  steps.push(
    { id: 'maintenance-off', kind: 'scale', title: 'leave maintenance mode' },
    { id: 'monitor', kind: 'monitor', title: `monitor health every ${input.monitorInterval} for ${input.monitoringPeriod}` },
    { id: 'report', kind: 'report', title: 'report the outcome to stakeholders and the audit store' },
  );
  return steps;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length <= 100 ? v : undefined;
}

function failureType(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

export async function maintenanceWindow(rawInput: MaintenanceWindowInput): Promise<MaintenanceWindowResult> {
  const info = workflowInfo();
  const startedAt = new Date().toISOString();
  const raw = (rawInput ?? {}) as Record<string, unknown>;
  const rb = new Runbook(RUNBOOK, { target: str(raw.service), requester: str(raw.requestedBy) });

  let input: MaintenanceWindowParams;
  let windowStart: number;
  let windowEnd: number;
  try {
    input = parseInput(maintenanceWindowInputSchema, rawInput, RUNBOOK);
    ({ start: windowStart, end: windowEnd } = resolveWindow(input.window, Date.now()));
    if (windowEnd <= Date.now()) {
      throw ApplicationFailure.create({
        type: INVALID_INPUT,
        nonRetryable: true,
        message: `invalid ${RUNBOOK} input: window.end: ${new Date(windowEnd).toISOString()} is already past`,
      });
    }
  } catch (err) {
    rb.finish('failed', failureMessage(err));
    throw err;
  }
  const win = { start: new Date(windowStart).toISOString(), end: new Date(windowEnd).toISOString() };
  const key = (k: string): string => `${info.workflowId}:${info.runId}:${k}`;
  const audit = (kind: string, k: string, data: Record<string, unknown>, actor?: string): Promise<void> =>
    quick.recordAudit({ key: key(k), workflowId: info.workflowId, runId: info.runId, runbook: RUNBOOK, kind, data, ...(actor ? { actor } : {}) });

  const warnings: string[] = [];
  const tell = async (
    event: string,
    severity: 'info' | 'warning' | 'critical',
    audience: 'stakeholders' | 'approvers' | 'escalation',
    title: string,
    text: string,
  ): Promise<void> => {
    try {
      await quick.notify({ key: key(event), workflowId: info.workflowId, runbook: RUNBOOK, severity, audience, title, text, fields: { service: input.service } });
    } catch (err) {
      // A notification channel being down must not leave a service half-maintained: note it and go on.
      warnings.push(`notification "${event}" was not delivered: ${failureMessage(err)}`);
    }
  };

  const approveHow =
    `approve: npm run runbook -- approve ${info.workflowId} --as <you>  ` +
    `(or in the Temporal UI, signal "approveFromUi" with {"approver":"<you>","decision":"approve"})`;
  const gate: ApprovalGate = new ApprovalGate(input.approval, input.requestedBy, {
    onVote: (v) => audit('vote', `vote:${v.approver}`, { ...v }, v.approver),
    onRefused: (r) => audit('vote-refused', `vote-refused:${gate.state.refused.length}`, { ...r }, r.approver),
    onOpen: (s) =>
      tell(
        'approval-requested',
        'info',
        'approvers',
        `Approval needed: maintenance of ${input.service}`,
        `${input.requestedBy} asks to run ${input.tasks.length} task(s) on ${input.service} in the window ` +
          `${win.start} .. ${win.end}${input.reason ? ` (${input.reason})` : ''}. ` +
          `Needs ${s.policy.quorum} approval(s) from: ${Object.keys(s.eligible).filter((p) => p !== s.requestedBy).join(', ')}. ` +
          `Decide by ${s.deadline}. ${approveHow}`,
      ),
    onEscalate: (s) =>
      tell(
        'approval-escalated',
        'warning',
        'escalation',
        `Approval overdue: maintenance of ${input.service}`,
        `No decision yet (${s.votes.filter((v) => v.decision === 'approve').length} of ${s.policy.quorum}); ` +
          `the request times out at ${s.deadline}. ${approveHow}`,
      ),
  });

  const taskOutcomes: TaskOutcome[] = [];
  let backup: BackupInfo | undefined;
  const compensations: CompensationResult[] = [];
  const result = (outcome: MaintenanceOutcome, reason: string): MaintenanceWindowResult => ({
    outcome,
    reason,
    service: input.service,
    plan: rb.planSteps,
    tasks: taskOutcomes,
    approval: gate.state,
    ...(backup ? { backup } : {}),
    compensations,
    warnings,
    startedAt,
    finishedAt: new Date().toISOString(),
  });
  const finish = async (status: MaintenanceOutcome, reason: string): Promise<MaintenanceWindowResult> => {
    await audit('run-finished', 'run-finished', { outcome: status, reason, warnings });
    await condition(allHandlersFinished);
    rb.finish(status, reason);
    return result(status, reason);
  };

  // ---- resolve targets and approvers (read-only); bad targets fail the run as invalid input ----
  let target: ResolvedService;
  try {
    target = await quick.resolveService({ service: input.service, tasks: input.tasks });
    gate.prepare(await quick.approverDirectory());
  } catch (err) {
    const type = failureType(err);
    rb.finish('failed', failureMessage(err));
    if (type === ErrorType.InvalidTarget) {
      throw ApplicationFailure.create({ type: INVALID_INPUT, nonRetryable: true, message: `invalid ${RUNBOOK} input: ${failureMessage(err)}` });
    }
    throw err;
  }
  for (const t of target.tasks) taskOutcomes.push({ index: t.index, description: t.description, status: 'not-run' });
  rb.setPlan(buildPlan(input, target, win));

  if (input.dryRun) {
    rb.skipRemaining('dry run: nothing executed');
    rb.finish('dry-run', 'dry run: input valid, targets resolved, nothing executed');
    return result('dry-run', 'dry run: input valid, targets resolved, nothing executed');
  }

  await audit('run-started', 'run-started', { input: { ...input }, plan: rb.planSteps.map((s) => s.title) }, input.requestedBy);

  // A failure or cancellation outside the maintenance phase (which undoes its own changes) still gets its
  // audit record, its notification and a final status.
  let reported = false;
  const runFromPreChecks = async (): Promise<MaintenanceWindowResult> => {
    // ---- pre-checks ----
    rb.setStatus('pre-checks', 'checking the service before asking for approval');
    const health = await rb.step('precheck-health', () => quick.checkHealth({ service: input.service }), (h) => `HTTP ${h.status ?? '-'} in ${h.latencyMs}ms`);
    if (!health.healthy) {
      rb.skipRemaining('pre-check failed');
      const reason = `pre-check failed: ${input.service} is unhealthy (${health.status ?? health.detail}); nothing was changed`;
      await tell('aborted', 'warning', 'stakeholders', `Maintenance of ${input.service} aborted`, reason);
      return finish('aborted', reason);
    }
    const conn = await rb.step('precheck-connectivity', () => quick.checkConnectivity({ service: input.service }), (r) =>
      r.map((c) => `${c.target} ${c.ok ? `ok ${c.latencyMs}ms` : 'FAILED'}`).join(', '),
    );
    const down = conn.filter((c) => !c.ok);
    if (down.length) {
      rb.skipRemaining('pre-check failed');
      const reason = `pre-check failed: cannot reach ${down.map((c) => `${c.target} (${c.error})`).join(', ')}; nothing was changed`;
      await tell('aborted', 'warning', 'stakeholders', `Maintenance of ${input.service} aborted`, reason);
      return finish('aborted', reason);
    }
    await rb.step('notify-start', () =>
      tell(
        'planned',
        'info',
        'stakeholders',
        `Planned maintenance of ${input.service}`,
        `Window ${win.start} .. ${win.end}, requested by ${input.requestedBy}. Plan: ` +
          rb.planSteps.map((s, i) => `${i + 1}. ${s.title}`).join('; '),
      ),
    );

    // ---- approval gate: bounded by its own timeout and by the window's end ----
    const timeoutAt = Date.now() + toMs(input.approval.timeout);
    const deadlineMs = Math.min(timeoutAt, windowEnd);
    // Default escalation: 3/4 of the way to the real deadline (the window may end before the timeout).
    const escalateAtMs = input.approval.escalateAfter
      ? Date.now() + toMs(input.approval.escalateAfter)
      : Date.now() + Math.floor((deadlineMs - Date.now()) * 0.75);
    const decision: ApprovalState = await rb.step(
      'approval',
      () => {
        rb.setStatus('awaiting-approval', `waiting for ${input.approval.quorum} approval(s) until ${new Date(deadlineMs).toISOString()}`);
        return gate.request({
          deadlineMs,
          escalateAtMs,
          deadlineReason: timeoutAt <= windowEnd ? `approval timeout ${input.approval.timeout}` : 'the maintenance window ends',
        });
      },
      (s) => `${s.status}: ${s.reason ?? ''}`,
    );
    // Votes are written to the audit store by their handlers; let those finish first, so the record of the
    // decision comes after the votes that made it.
    await condition(allHandlersFinished);
    await audit('approval-decided', 'approval-decided', { status: decision.status, reason: decision.reason, votes: decision.votes, unrecorded: decision.unrecorded });
    if (decision.status !== 'approved') {
      const outcome = decision.status === 'rejected' ? 'rejected' : 'timed-out';
      const reason = `${outcome === 'rejected' ? 'rejected' : 'approval timed out'}: ${decision.reason ?? ''}; no maintenance task was run`;
      rb.skipRemaining(outcome);
      await tell(`approval-${outcome}`, 'warning', 'stakeholders', `Maintenance of ${input.service} will not run`, reason);
      return finish(outcome, reason);
    }

    // ---- the maintenance itself, with compensations ----
    const comp = new Compensations();
    const safePoint = (next: string): void => {
      if (Date.now() >= windowEnd) throw new StopRun('window-ended', `the maintenance window ended at ${win.end} before "${next}"`);
    };
    let previousReplicas: number | undefined;
    // Put things back as they were: maintenance mode someone had switched on before this run stays on.
    let maintenanceWasOn = false;
    try {
      await rb.step('wait-window', async () => {
        if (Date.now() < windowStart) {
          rb.setStatus('waiting-for-window', `approved; waiting for the window to open at ${win.start}`);
          await sleep(windowStart - Date.now());
        }
      });
      rb.setStatus('running', 'maintenance in progress');

      if (rb.planSteps.some((s) => s.id === 'backup') && target.backupDatabase) {
        safePoint('backup');
        const db = target.backupDatabase;
        backup = await rb.step('backup', () => long.backupPostgres({ database: db, name: `${info.workflowId}-${info.runId}-pre-maintenance` }), (b) =>
          `${b.bytes} bytes, ${b.tables} tables, sha256 ${b.sha256.slice(0, 12)}${b.reused ? ' (reused)' : ''}`,
        );
        await audit('backup-verified', 'backup', { ...backup });
      }

      safePoint('maintenance-on');
      // Each change reads the state first and registers its undo before making the call: a retried call
      // (reply lost) or a cancellation while it is in flight must still be undone, back to what it was.
      await rb.step(
        'maintenance-on',
        async () => {
          maintenanceWasOn = (await quick.platformState({ service: input.service })).maintenance;
          if (!maintenanceWasOn) comp.add('maintenance-off', () => quick.setMaintenanceMode({ service: input.service, enabled: false }));
          await quick.setMaintenanceMode({ service: input.service, enabled: true });
        },
        () => (maintenanceWasOn ? 'was already on' : undefined),
      );

      if (target.queue) {
        safePoint('drain');
        const drainMs = Math.max(1000, Math.min(toMs(input.drainTimeout), windowEnd - Date.now()));
        const drained = await rb.step('drain', () => waiting(drainMs).waitForQueueDrain({ service: input.service, timeoutMs: drainMs }), (d) =>
          `${d.drained ? 'drained' : 'NOT drained'} in ${d.waitedMs}ms (pending ${d.pending}, processing ${d.processing})`,
        );
        if (!drained.drained) {
          safePoint('scale-down');
          throw new StopRun('aborted', `the queue did not drain within ${drainMs}ms (${drained.pending} pending, ${drained.processing} processing); no task was run`);
        }
        safePoint('scale-down');
        previousReplicas = await rb.step(
          'scale-down',
          async () => {
            const before = (await quick.platformState({ service: input.service })).replicas;
            if (before > 0) comp.add('scale-up', () => quick.scaleWorkers({ service: input.service, replicas: before }));
            await quick.scaleWorkers({ service: input.service, replicas: 0 });
            return before;
          },
          (n) => `${n} -> 0`,
        );
      }

      for (const t of target.tasks) {
        safePoint(`task-${t.index + 1}`);
        const outcome = taskOutcomes[t.index]!;
        const r = await rb.step(`task-${t.index + 1}`, () =>
          long.runMaintenanceTask({ workflowId: info.workflowId, runId: info.runId, runbook: RUNBOOK, task: t }), (x) => `${x.durationMs}ms`);
        outcome.status = 'done';
        outcome.durationMs = r.durationMs;
        outcome.detail = r.detail;
      }

      await rb.step('verify', async () => {
        const h = await quick.checkHealth({ service: input.service });
        const c = await quick.checkConnectivity({ service: input.service });
        const bad = c.filter((x) => !x.ok);
        if (!h.healthy || bad.length) {
          throw ApplicationFailure.create({
            type: 'VerificationFailed',
            nonRetryable: true,
            message: `verification failed: health ${h.healthy ? 'ok' : `failed (${h.status ?? h.detail})`}${bad.length ? `; unreachable: ${bad.map((b) => b.target).join(', ')}` : ''}`,
          });
        }
        return h;
      }, (h) => `healthy, HTTP ${h.status}`);

      if (target.queue) {
        await rb.step('scale-up', async () => {
          const r = await quick.scaleWorkers({ service: input.service, replicas: previousReplicas ?? 0 });
          comp.settle('scale-up');
          return r;
        }, (r) => `0 -> ${r.replicas}`);
      }
      await rb.step(
        'maintenance-off',
        async () => {
          if (maintenanceWasOn) return 'left on: it was on before this run';
          await quick.setMaintenanceMode({ service: input.service, enabled: false });
          comp.settle('maintenance-off');
          return undefined;
        },
        (d) => d,
      );
    } catch (err) {
      return CancellationScope.nonCancellable(async () => {
        const cancelled = isCancellation(err);
        const stop = err instanceof StopRun ? err : undefined;
        rb.setStatus('compensating', `undoing: ${comp.pending.join(', ') || 'nothing to undo'}`);
        compensations.push(...(await comp.run()));
        const why = stop ? stop.message : cancelled ? 'the run was cancelled' : `failed: ${failureMessage(err)}`;
        rb.skipRemaining(stop?.outcome ?? (cancelled ? 'cancelled' : 'stopped after a failure'));
        for (const t of taskOutcomes) if (t.status === 'not-run') t.status = 'skipped';
        const done = taskOutcomes.filter((t) => t.status === 'done').map((t) => t.description);
        const skipped = taskOutcomes.filter((t) => t.status === 'skipped').map((t) => t.description);
        const undone = compensations.map((c) => `${c.name} ${c.ok ? 'ok' : `FAILED (${c.error})`}`);
        const reason =
          `${why}. Done: ${done.length ? done.join('; ') : 'no task'}. Not done: ${skipped.length ? skipped.join('; ') : 'none'}. ` +
          `Undone: ${undone.length ? undone.join(', ') : 'nothing to undo'}.`;
        const badUndo = compensations.some((c) => !c.ok);
        await tell('stopped', badUndo || !stop ? 'critical' : 'warning', 'stakeholders', `Maintenance of ${input.service} stopped`, reason + (badUndo ? ' A person must finish the undo by hand.' : ''));
        if (stop) return finish(stop.outcome, reason);
        await audit('run-finished', 'run-finished', { outcome: cancelled ? 'cancelled' : 'failed', reason });
        rb.finish('failed', reason);
        reported = true;
        if (cancelled) throw err;
        throw ApplicationFailure.create({ type: 'MaintenanceFailed', nonRetryable: true, message: reason, cause: err as Error });
      });
    }

    // ---- monitor, then report ----
    const monitorResult = await rb.step('monitor', async () => {
      rb.setStatus('monitoring', `watching ${input.service} for ${input.monitoringPeriod}`);
      const until = Date.now() + toMs(input.monitoringPeriod);
      const interval = toMs(input.monitorInterval);
      const before = target.queue ? await quick.queueStats({ service: input.service }) : undefined;
      let checks = 0;
      let failures = 0;
      while (Date.now() < until) {
        await sleep(Math.max(1, Math.min(interval, until - Date.now())));
        const h = await quick.checkHealth({ service: input.service });
        checks++;
        if (!h.healthy) {
          failures++;
          if (failures <= 10) warnings.push(`monitoring: health check at ${new Date().toISOString()} failed (${h.status ?? h.detail})`);
        }
      }
      if (before) {
        const after = await quick.queueStats({ service: input.service });
        if (after.failed > before.failed) warnings.push(`monitoring: ${after.failed - before.failed} job(s) failed after maintenance`);
      }
      return { checks, failures };
    }, (m) => `${m.checks} health checks, ${m.failures} failed`);

    const outcome = warnings.length ? 'completed-with-warnings' : 'completed';
    const reason =
      `${target.tasks.length} task(s) done on ${input.service}; ${monitorResult.checks} health check(s) after, ${monitorResult.failures} failed` +
      (warnings.length ? `; warnings: ${warnings.join('; ')}` : '');
    await rb.step('report', () =>
      tell('completed', outcome === 'completed' ? 'info' : 'warning', 'stakeholders', `Maintenance of ${input.service} ${outcome}`, reason),
    );
    return finish(outcome, reason);
  };
  try {
    return await runFromPreChecks();
  } catch (err) {
    if (!reported) {
      await CancellationScope.nonCancellable(async () => {
        const cancelled = isCancellation(err);
        const step = rb.planSteps.find((x) => x.status === 'failed' || x.status === 'running')?.id ?? 'the run';
        rb.skipRemaining(cancelled ? 'cancelled' : 'stopped after a failure');
        const done = taskOutcomes.filter((t) => t.status === 'done').map((t) => t.description);
        const reason = `${cancelled ? 'cancelled' : `failed: ${failureMessage(err)}`} at ${step}. Tasks done: ${done.length ? done.join('; ') : 'none'}.`;
        await tell('stopped', cancelled ? 'warning' : 'critical', 'stakeholders', `Maintenance of ${input.service} stopped`, reason);
        await audit('run-finished', 'run-finished', { outcome: cancelled ? 'cancelled' : 'failed', reason });
        rb.finish('failed', reason);
      });
    }
    throw err;
  }
}
