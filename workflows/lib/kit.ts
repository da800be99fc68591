// The runbook kit: one lifecycle every runbook plugs into.
//
//   validate -> resolve targets -> plan -> dry run? -> steps (gates, exclusive use of the target, changes
//   with their undo registered before they run, verification) -> report
//
// A runbook declares its steps once (id, kind, title, when, run, undo); the kit builds the `plan` query,
// the dry-run result and the execution from that one list. Every ending (completed, completed with
// warnings, rejected, timed out, deadline passed, aborted, failed, cancelled) goes through one path that
// undoes what is left to undo, notifies, writes the audit record, releases the target, waits for handlers,
// and sets the search attributes and metrics. A long step may continue as new (Run.checkpoint) and picks
// up where it was with the run's typed state.
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  ContinueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { z } from 'zod';
import type { Audience, Notification, Severity } from '../../activities';
import { lockWorkflowId, type LockNotice } from '../../common/locks';
import { actionSignal } from '../incident/contract';
import { ApprovalGate, type GateHooks } from './approval';
import type { ApprovalPolicy, ApprovalState } from './approval-rules';
import { ErrorType, failureMessage, failureType } from './errors';
import { RunProgress } from './progress';
import { audit as auditLog, locks, lookups, notifier } from './proxies';
import type { PlanStep, RunbookResult, RunEnding, RunOutcome, RunStatus, StepKind } from './result';
import { Compensations, type CompensationResult } from './saga';
import { StopRun } from './stop';
import { toMs } from './schema';
import { lockGranted, lockQueued, lockRefused, lockRelease } from './target-lock';
import { INVALID_INPUT, parseInput } from './validate';

/** Fields every runbook input has (see baseInputShape in schema.ts). */
export { StopRun };

export interface RunbookInputBase {
  requestedBy: string;
  reason?: string;
  dryRun: boolean;
  onConflict: 'wait' | 'refuse';
  historyLimit: number;
  /** The incident (workflow id) this run is part of: told when the run begins changing things and how it ended. */
  incident?: string;
}

export type { Audience, Severity };

/** What a notification may carry besides its text: named people, a PagerDuty event, an email subject, fields. */
export type TellExtra = Partial<Pick<Notification, 'people' | 'page' | 'subject' | 'fields'>>;

/** A hard stop: no step that changes anything starts after `atMs`. */
export interface Deadline {
  atMs: number;
  /** Says what passed, e.g. "the maintenance window ended at 2026-11-24T22:00:00Z". */
  passed: string;
  /** Why an approval gate's deadline came early, when this deadline bounds it. */
  gateReason: string;
  outcome: 'window-ended' | 'deadline-passed';
}

/** What a step sees: the run's input, resolved target and typed state, and the kit's services. */
export interface Run<P extends RunbookInputBase, C, S> {
  readonly input: P;
  readonly target: C;
  readonly state: S;
  readonly workflowId: string;
  /** The first run's id: stable across continue-as-new, so it keys idempotent work and audit records. */
  readonly runKey: string;
  readonly warnings: string[];
  readonly deadline?: Deadline;
  /** The plan as it stands (titles and statuses). */
  readonly plan: PlanStep[];
  /** A unique key for an audit record or notification of this run. */
  key(k: string): string;
  audit(kind: string, key: string, data: Record<string, unknown>, actor?: string): Promise<void>;
  /** Notifies; a channel being down becomes a warning of the run, never its failure. */
  tell(event: string, severity: Severity, audience: Audience, title: string, text: string, extra?: TellExtra): Promise<void>;
  status(status: RunStatus, message: string): void;
  stop(outcome: StopRun['outcome'], reason: string): never;
  /** Opens the run's approval gate and waits; anything but approval stops the run (rejected, timed-out). */
  approve(opts: { detail?: string; deniedNote: string }): Promise<ApprovalState>;
  /** In a long loop of a resumable step: continues as new when history grows large, carrying the state. */
  checkpoint(): Promise<void>;
}

export interface Step<P extends RunbookInputBase, C, S> {
  id: string;
  kind: StepKind;
  title: string;
  /** Decided at plan time: false leaves the step out of the plan. */
  when?: boolean;
  /** A change to the target: runs only with exclusive use of it, and only before the deadline. */
  changes?: boolean;
  /** Decided at run time: a reason to skip the step. */
  skipIf?(run: Run<P, C, S>): string | undefined;
  /** Registered before `run` starts, so a change whose reply was lost or that was cancelled midway is undone. */
  undo?: { name: string; run(run: Run<P, C, S>): Promise<unknown> };
  /** Undos made unnecessary once this step is done (it reversed the change in the normal flow). */
  settles?: string[];
  /** Calls Run.checkpoint: after continue-as-new it runs again from the start with the carried state. */
  resumable?: boolean;
  /** Does the work; returns a one-line detail for the plan. */
  run(run: Run<P, C, S>): Promise<string | void | undefined>;
}

export interface RunbookDefinition<P extends RunbookInputBase, C, S, R extends RunbookResult> {
  /** The workflow type name. */
  type: string;
  schema: z.ZodType<P>;
  /** What the run is about, for notifications: "maintenance of reports". */
  subject(input: P): string;
  /** The target's name (the RunbookTarget search attribute). */
  target(input: P): string;
  /** Checks that need the run's start time (a window already past); throw with `invalidInput`. */
  validate?(input: P, startedAtMs: number): void;
  /** Read-only lookups; an InvalidTargetError fails the run as invalid input. */
  resolve(input: P, startedAtMs: number): Promise<C>;
  /**
   * Who must approve. Called with the input alone when the run starts, and with the resolved target too:
   * a policy that depends on the target (its environment) is returned only when `target` is given.
   */
  approval?(input: P, target?: C): ApprovalPolicy | undefined;
  deadline?(input: P, startedAtMs: number): Deadline | undefined;
  /** Runs that change the same key never overlap (undefined: this input changes nothing that needs it). */
  exclusive?(input: P): { key: string; waitAtMost: string } | undefined;
  initialState(input: P, target: C): S;
  steps(input: P, target: C): Array<Step<P, C, S> | false | undefined>;
  /** The reason of a completed run (warnings are added by the kit). */
  completed(run: Run<P, C, S>): string;
  /** What was and was not done, for the reason of a run that stopped after it began to change things. */
  progressNote(run: Run<P, C, S>): string;
  result(base: RunbookResult, run: Run<P, C, S>): R;
}

/** What continue-as-new carries to the next run. */
export interface Resume<C, S> {
  stepId: string;
  state: S;
  target: C;
  plan: PlanStep[];
  status: RunStatus;
  message: string;
  warnings: string[];
  approval: ApprovalState;
  compensations: CompensationResult[];
  changed: boolean;
  lock?: HeldLock;
  startedAt: string;
}

interface HeldLock {
  key: string;
  requestId: string;
  granted: boolean;
}

export function invalidInput(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: INVALID_INPUT, nonRetryable: true, message: `invalid ${type} input: ${message}` });
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** Runs a runbook: the body of every runbook workflow function. */
export async function runRunbook<P extends RunbookInputBase, C, S, R extends RunbookResult>(
  def: RunbookDefinition<P, C, S, R>,
  rawInput: unknown,
  resume?: Resume<C, S>,
): Promise<R> {
  const startedAt = resume?.startedAt ?? new Date().toISOString();
  const progress = new RunProgress(def.type, resume ? { resumed: { plan: resume.plan, status: resume.status, message: resume.message } } : {});
  let input: P;
  try {
    input = parseInput(def.schema, rawInput, def.type);
    def.validate?.(input, Date.parse(startedAt));
  } catch (err) {
    progress.finish('failed', failureMessage(err));
    throw err;
  }
  progress.identify({ target: def.target(input), requester: input.requestedBy });
  return new Execution(def, input, rawInput, progress, startedAt, resume).execute();
}

class Execution<P extends RunbookInputBase, C, S, R extends RunbookResult> implements Run<P, C, S> {
  readonly workflowId: string;
  readonly runKey: string;
  readonly warnings: string[];
  readonly deadline?: Deadline;
  readonly gate: ApprovalGate;
  target!: C;
  state!: S;
  private readonly comp = new Compensations();
  private readonly compensations: CompensationResult[];
  private steps: Array<Step<P, C, S>> = [];
  private lock?: HeldLock;
  private lockNotice?: { kind: 'granted' | 'refused' | 'queued'; notice: LockNotice };
  private currentStep?: string;

  constructor(
    private readonly def: RunbookDefinition<P, C, S, R>,
    readonly input: P,
    private readonly rawInput: unknown,
    private readonly progress: RunProgress,
    private readonly startedAt: string,
    private readonly resume?: Resume<C, S>,
  ) {
    const info = workflowInfo();
    this.workflowId = info.workflowId;
    this.runKey = info.firstExecutionRunId;
    this.warnings = resume?.warnings ?? [];
    this.compensations = resume?.compensations ?? [];
    this.comp.changed = resume?.changed ?? false;
    const deadline = def.deadline?.(input, Date.parse(startedAt));
    if (deadline) this.deadline = deadline;
    if (resume?.lock) this.lock = resume.lock;
    this.gate = new ApprovalGate(def.approval?.(input), input.requestedBy, this.gateHooks(), resume?.approval);
    // The Web UI's current details show who may decide, the deadline and the votes as they arrive.
    this.progress.showApproval(() => this.gate.state);
    const onNotice = (kind: 'granted' | 'refused' | 'queued') => (n: LockNotice) => {
      if (this.lock?.requestId !== n.requestId) return;
      if (kind === 'granted') this.lock.granted = true;
      this.lockNotice = { kind, notice: n };
    };
    setHandler(lockGranted, onNotice('granted'));
    setHandler(lockRefused, onNotice('refused'));
    setHandler(lockQueued, onNotice('queued'));
  }

  /** What the approvers' notification says about this run, set by the step that opens the gate. */
  private gateDetail = '';

  private gateHooks(): GateHooks {
    const subject = this.def.subject(this.input);
    const { requestedBy, reason } = this.input;
    const approveHow =
      `approve: npm run runbook -- approve ${this.workflowId} --as <you>  ` +
      `(or in the Temporal UI, signal "approveFromUi" with {"approver":"<you>","decision":"approve"})`;
    return {
      onVote: (v) => this.audit('vote', `vote:${v.approver}`, { ...v }, v.approver),
      onRefused: (r) => this.audit('vote-refused', `vote-refused:${this.gate.state.refused.length}`, { ...r }, r.approver),
      onOpen: (s) => {
        const others = Object.keys(s.eligible).filter((p) => p !== s.requestedBy);
        return this.tell(
          'approval-requested',
          'info',
          'approvers',
          `Approval needed: ${subject}`,
          `${requestedBy} asks for ${subject}${reason ? ` (${reason})` : ''}.${this.gateDetail ? ` ${this.gateDetail}` : ''} ` +
            `Needs ${s.policy.quorum} approval(s) from: ${others.join(', ')}. Decide by ${s.deadline}. ${approveHow}`,
        );
      },
      onEscalate: (s) =>
        this.tell(
          'approval-escalated',
          'warning',
          'escalation',
          `Approval overdue: ${subject}`,
          `No decision yet (${s.votes.filter((v) => v.decision === 'approve').length} of ${s.policy.quorum}); ` +
            `the request times out at ${s.deadline}. ${approveHow}`,
        ),
    };
  }

  // ---- Run: what steps see ----

  get plan(): PlanStep[] {
    return this.progress.planSteps;
  }

  key(k: string): string {
    return `${this.workflowId}:${this.runKey}:${k}`;
  }

  audit(kind: string, key: string, data: Record<string, unknown>, actor?: string): Promise<void> {
    return auditLog.recordAudit({
      key: this.key(key),
      workflowId: this.workflowId,
      runId: this.runKey,
      runbook: this.def.type,
      kind,
      data,
      ...(actor ? { actor } : {}),
    });
  }

  async tell(event: string, severity: Severity, audience: Audience, title: string, text: string, extra: TellExtra = {}): Promise<void> {
    try {
      const { failed } = await notifier.notify({
        key: this.key(event),
        workflowId: this.workflowId,
        runbook: this.def.type,
        severity,
        audience,
        title,
        text,
        ...extra,
        fields: { target: this.def.target(this.input), ...extra.fields },
      });
      for (const f of failed ?? []) this.warnings.push(`notification "${event}" was not delivered by ${f.channel}: ${f.error}`);
    } catch (err) {
      // A notification channel being down must not leave a target half-changed: note it and go on.
      this.warnings.push(`notification "${event}" was not delivered: ${failureMessage(err)}`);
    }
  }

  status(status: RunStatus, message: string): void {
    this.progress.setStatus(status, message);
  }

  stop(outcome: StopRun['outcome'], reason: string): never {
    throw new StopRun(outcome, reason);
  }

  async approve(opts: { detail?: string; deniedNote: string }): Promise<ApprovalState> {
    const policy = this.def.approval?.(this.input, this.target);
    if (!policy) throw new Error(`runbook ${this.def.type} has no approval policy`);
    this.gateDetail = opts.detail ?? '';
    const now = Date.now();
    const timeoutAt = now + toMs(policy.timeout);
    const deadlineMs = Math.min(timeoutAt, this.deadline?.atMs ?? Infinity);
    // Default escalation: 3/4 of the way to the real deadline (a run's deadline may come before the timeout).
    const escalateAtMs = policy.escalateAfter ? now + toMs(policy.escalateAfter) : now + Math.floor((deadlineMs - now) * 0.75);
    this.status('awaiting-approval', `waiting for ${policy.quorum} approval(s) until ${new Date(deadlineMs).toISOString()}`);
    const decision = await this.gate.request({
      deadlineMs,
      escalateAtMs,
      deadlineReason: timeoutAt <= deadlineMs || !this.deadline ? `approval timeout ${policy.timeout}` : this.deadline.gateReason,
    });
    // Votes are written to the audit store by their handlers; let those finish first, so the record of the
    // decision comes after the votes that made it.
    await condition(allHandlersFinished);
    await this.audit('approval-decided', 'approval-decided', {
      status: decision.status,
      reason: decision.reason,
      votes: decision.votes,
      unrecorded: decision.unrecorded,
    });
    if (decision.status !== 'approved') {
      const rejected = decision.status === 'rejected';
      this.stop(rejected ? 'rejected' : 'timed-out', `${rejected ? 'rejected' : 'approval timed out'}: ${decision.reason ?? ''}; ${opts.deniedNote}`);
    }
    this.status('running', `approved: ${decision.reason ?? ''}`);
    return decision;
  }

  async checkpoint(): Promise<void> {
    const info = workflowInfo();
    if (!info.continueAsNewSuggested && info.historyLength < this.input.historyLimit) return;
    // An undo is code, not data: it cannot be carried to the next run, so a step with pending undos goes on.
    if (this.comp.pending.length || !this.currentStep) return;
    await condition(allHandlersFinished);
    const resume: Resume<C, S> = {
      stepId: this.currentStep,
      state: this.state,
      target: this.target,
      plan: this.progress.planSteps,
      status: this.progress.status,
      message: this.progress.message,
      warnings: this.warnings,
      approval: this.gate.state,
      compensations: this.compensations,
      changed: this.comp.changed,
      startedAt: this.startedAt,
      ...(this.lock ? { lock: this.lock } : {}),
    };
    await continueAsNew<(input: unknown, resume?: Resume<C, S>) => Promise<R>>(this.rawInput, resume);
  }

  // ---- the lifecycle ----

  async execute(): Promise<R> {
    if (this.resume) {
      this.target = this.resume.target;
      this.state = this.resume.state;
      this.steps = this.planned();
      if (this.def.approval && this.gate.state.status === 'pending')
        this.gate.prepare(await lookups.approverDirectory(), this.def.approval(this.input, this.target));
    } else {
      try {
        this.target = await this.def.resolve(this.input, Date.parse(this.startedAt));
        if (this.def.approval) this.gate.prepare(await lookups.approverDirectory(), this.def.approval(this.input, this.target));
      } catch (err) {
        this.progress.finish('failed', failureMessage(err));
        if (failureType(err) === ErrorType.InvalidTarget) throw invalidInput(this.def.type, failureMessage(err));
        throw err;
      }
      this.state = this.def.initialState(this.input, this.target);
      this.steps = this.planned();
      this.progress.setPlan(this.steps);
      if (this.input.dryRun) {
        const reason = 'dry run: input valid, targets resolved, nothing executed';
        this.progress.skipRemaining('dry run: nothing executed');
        this.progress.finish('dry-run', reason);
        return this.def.result(this.base('dry-run', reason), this);
      }
      await this.audit('run-started', 'run-started', { input: { ...this.input }, plan: this.steps.map((s) => s.title) }, this.input.requestedBy);
    }

    try {
      const from = this.resume ? this.steps.findIndex((s) => s.id === this.resume!.stepId) : 0;
      for (const step of this.steps.slice(Math.max(0, from))) {
        if (step.id === 'report') break;
        await this.runStep(step);
      }
      const outcome = this.warnings.length ? 'completed-with-warnings' : 'completed';
      const reason = this.def.completed(this) + (this.warnings.length ? `; warnings: ${this.warnings.join('; ')}` : '');
      return await this.end(outcome, reason);
    } catch (err) {
      if (err instanceof ContinueAsNew) throw err;
      if (err instanceof StopRun) return this.end(err.outcome, err.message);
      const at = this.progress.interruptedAt ?? 'the start';
      if (isCancellation(err)) return this.end('cancelled', `cancelled at ${at}`, err);
      return this.end('failed', `failed at ${at}: ${failureMessage(err)}`, err);
    }
  }

  /** The plan: the runbook's steps, exclusive use of the target before the first change, and the report. */
  private planned(): Array<Step<P, C, S>> {
    const steps = this.def.steps(this.input, this.target).filter((s): s is Step<P, C, S> => !!s && s.when !== false);
    const exclusive = this.def.exclusive?.(this.input);
    if (exclusive) {
      const first = steps.findIndex((s) => s.changes);
      steps.splice(first < 0 ? steps.length : first, 0, this.lockStep(exclusive.key, exclusive.waitAtMost));
    }
    steps.push({ id: 'report', kind: 'report', title: 'report the outcome to stakeholders and the audit store', run: async () => undefined });
    return steps;
  }

  private async runStep(step: Step<P, C, S>): Promise<void> {
    const skip = step.skipIf?.(this);
    if (skip) {
      this.progress.skip(step.id, skip);
      return;
    }
    if (step.changes && this.deadline && Date.now() >= this.deadline.atMs) {
      this.stop(this.deadline.outcome, `${this.deadline.passed} before "${step.id}"`);
    }
    // From here on the target may differ from how the run found it: endings say what was done and undone.
    if (step.changes && !this.comp.changed) await this.tellIncident(`began changing ${this.def.target(this.input)}: ${step.title}`);
    if (step.changes) this.comp.changed = true;
    if (step.undo) {
      const undo = step.undo;
      this.comp.add(undo.name, () => undo.run(this));
    }
    this.currentStep = step.id;
    await this.progress.step(
      step.id,
      () => step.run(this),
      (d) => d || undefined,
    );
    for (const name of step.settles ?? []) this.comp.settle(name);
  }

  private lockStep(key: string, waitAtMost: string): Step<P, C, S> {
    const mode = this.input.onConflict;
    return {
      id: 'lock',
      kind: 'lock',
      title: `take exclusive use of ${key} (${mode === 'wait' ? `wait up to ${waitAtMost} for a run holding it` : 'refuse if another run holds it'})`,
      run: async () => {
        if (this.lock?.granted) return 'held';
        // Not keyed by workflow id: replay may run a history under another id, and must decide the same.
        const requestId = `${this.runKey}:lock`;
        this.lock = { key, requestId, granted: false };
        const started = Date.now();
        await locks.requestLock({ key, holder: this.workflowId, runbook: this.def.type, requestId, mode });
        const until = Math.min(started + toMs(waitAtMost), this.deadline?.atMs ?? Infinity);
        while (!this.lock.granted && this.lockNotice?.kind !== 'refused' && Date.now() < until) {
          const n = this.lockNotice?.kind === 'queued' ? this.lockNotice.notice : undefined;
          if (n) this.progress.setStatus('waiting-for-target', `waiting for ${key}: held by ${n.holder} (${n.holderRunbook}) since ${n.since}`, n.holder);
          const seen = this.lockNotice;
          await condition(() => this.lock!.granted || this.lockNotice !== seen, until - Date.now());
        }
        if (this.lock.granted) {
          this.progress.setStatus('running', `exclusive use of ${key}`);
          await this.audit('target-locked', 'lock', { key, waitedMs: Date.now() - started });
          return Date.now() - started > 1000 ? `granted after ${Math.round((Date.now() - started) / 1000)}s` : 'granted';
        }
        const h = this.lockNotice?.notice;
        const who = h ? `${h.holder} (${h.holderRunbook}) since ${h.since}` : 'another run';
        if (this.lockNotice?.kind === 'refused') this.stop('aborted', `${key} is in use by ${who}; onConflict is "refuse", so nothing was changed`);
        if (this.deadline && Date.now() >= this.deadline.atMs)
          this.stop(this.deadline.outcome, `${this.deadline.passed} while waiting for ${key}, held by ${who}`);
        this.stop('aborted', `${key} was still in use by ${who} after ${waitAtMost}; nothing was changed`);
      },
    };
  }

  private base(outcome: RunOutcome, reason: string): RunbookResult {
    return {
      runbook: this.def.type,
      outcome,
      reason,
      target: this.def.target(this.input),
      plan: this.progress.planSteps,
      approval: this.gate.state,
      compensations: this.compensations,
      warnings: this.warnings,
      startedAt: this.startedAt,
      finishedAt: new Date().toISOString(),
    };
  }

  /** The one ending path: undo, report, release, record. Returns the result, or throws for failed/cancelled. */
  private end(ending: RunEnding, why: string, error?: unknown): Promise<R> {
    return CancellationScope.nonCancellable(async () => {
      if (this.comp.pending.length) {
        this.progress.setStatus('compensating', `undoing: ${this.comp.pending.join(', ')}`);
        this.compensations.push(...(await this.comp.run()));
      }
      const reason = this.endingReason(ending, why);
      await this.progress.step('report', () => this.report(ending, reason));
      await this.tellIncident(`${this.def.subject(this.input)} ${ENDING_VERB[ending]} (${ending}): ${reason}`);
      this.progress.skipRemaining(ending === 'failed' ? 'stopped after a failure' : ending);
      await this.releaseTarget();
      await condition(allHandlersFinished);
      this.progress.finish(ending, reason);
      if (ending === 'cancelled') throw error;
      if (ending === 'failed') {
        const cause = error instanceof Error ? error : undefined;
        throw ApplicationFailure.create({ type: ErrorType.RunbookFailed, nonRetryable: true, message: reason, cause });
      }
      return this.def.result(this.base(ending, reason), this);
    });
  }

  /** Why the run ended; once it began to change things, also what was done, not done and undone. */
  private endingReason(ending: RunEnding, why: string): string {
    if (ending === 'completed' || ending === 'completed-with-warnings') return why;
    let reason = why;
    if (this.comp.changed || ending === 'failed' || ending === 'cancelled') reason += `. ${this.def.progressNote(this)}`;
    if (this.comp.changed) {
      const undone = this.compensations.map((c) => `${c.name} ${c.ok ? 'ok' : `FAILED (${c.error})`}`);
      reason += ` Undone: ${undone.length ? undone.join(', ') : 'nothing to undo'}.`;
    }
    return reason;
  }

  /** Tells the stakeholders and writes the audit record of the ending; neither may fail the ending. */
  private async report(ending: RunEnding, reason: string): Promise<void> {
    const badUndo = this.compensations.some((c) => !c.ok);
    const severity: Severity = ending === 'failed' || badUndo ? 'critical' : ending === 'completed' ? 'info' : 'warning';
    const title = `${capitalize(this.def.subject(this.input))} ${ENDING_VERB[ending]}`;
    await this.tell('finished', severity, 'stakeholders', title, reason + (badUndo ? ' A person must finish the undo by hand.' : ''));
    try {
      await this.audit('run-finished', 'run-finished', { outcome: ending, reason, warnings: this.warnings });
    } catch (err) {
      this.warnings.push(`the audit record of this ending could not be written: ${failureMessage(err)}`);
    }
  }

  /** Records an action in the incident the input names; an incident that is not running is a warning. */
  private async tellIncident(text: string): Promise<void> {
    const id = this.input.incident;
    if (!id || id === this.workflowId) return;
    try {
      await getExternalWorkflowHandle(id).signal(actionSignal, {
        runbook: this.def.type,
        workflowId: this.workflowId,
        text: text.slice(0, 2000),
        at: new Date().toISOString(),
      });
    } catch (err) {
      this.warnings.push(`incident ${id} was not told of this run (${failureMessage(err)})`);
    }
  }

  private async releaseTarget(): Promise<void> {
    if (!this.lock) return;
    try {
      const lock = getExternalWorkflowHandle(lockWorkflowId(workflowInfo().taskQueue, this.lock.key));
      await lock.signal(lockRelease, { holder: this.workflowId, requestId: this.lock.requestId });
    } catch {
      // The lock is gone (it ended, or was terminated): nothing holds the target for us any more.
    }
  }
}

const ENDING_VERB: Record<RunEnding, string> = {
  completed: 'completed',
  'completed-with-warnings': 'completed with warnings',
  rejected: 'will not run',
  'timed-out': 'will not run',
  aborted: 'aborted',
  'window-ended': 'stopped',
  'deadline-passed': 'stopped',
  cancelled: 'stopped',
  failed: 'stopped',
  'dry-run': 'dry run',
};
