// What a run shows while it runs: its plan of steps (the `plan` query, and the dry-run result), where it
// is (the `progress` query, and the RunbookStatus search attribute the Web UI can filter on), the same as
// readable markdown in Temporal's current details (the Web UI's run page), and metrics emitted through a
// sink so replays never count twice. Current details add no command: old histories replay unchanged.
import { condition, ContinueAsNew, defineQuery, proxySinks, setCurrentDetails, setHandler, upsertSearchAttributes, type Sinks } from '@temporalio/workflow';
import { RunbookRequester, RunbookStatus, RunbookTarget, RunbookType } from '../../common/search-attributes';
import type { ApprovalState } from './approval-rules';
import { currentDetails } from './details';
import { failureMessage } from './errors';
import type { PlanStep, RunStatus, StepKind } from './result';
import { StopRun } from './stop';

export interface RunbookProgress {
  runbook: string;
  status: RunStatus;
  currentStep?: string;
  stepsDone: number;
  stepsTotal: number;
  percent: number;
  message: string;
  /** The run that holds this run's target while this one waits for it. */
  waitingFor?: string;
  updatedAt: string;
}

export const plan = defineQuery<PlanStep[]>('plan');
export const progress = defineQuery<RunbookProgress>('progress');

export interface RunbookSinks extends Sinks {
  metrics: {
    runStarted(runbook: string): void;
    runFinished(runbook: string, outcome: string): void;
    stepFinished(runbook: string, kind: string, status: string, durationMs: number): void;
  };
}

const { metrics } = proxySinks<RunbookSinks>();

export class RunProgress {
  private steps: PlanStep[] = [];
  private readonly state: RunbookProgress;
  private ids: { target?: string; requester?: string } = {};
  private approval?: () => ApprovalState;

  constructor(
    readonly type: string,
    opts: { resumed?: { plan: PlanStep[]; status: RunStatus; message: string } } = {},
  ) {
    this.state = { runbook: type, status: 'validating', stepsDone: 0, stepsTotal: 0, percent: 0, message: 'validating input', updatedAt: now() };
    setHandler(plan, () => this.steps);
    setHandler(progress, () => this.state);
    if (opts.resumed) {
      // Continued as new: the same run to people, so it is not counted as started again.
      this.steps = opts.resumed.plan;
      this.state.status = opts.resumed.status;
      this.state.message = opts.resumed.message;
      this.refresh();
    } else {
      metrics.runStarted(type);
    }
    upsertSearchAttributes([
      { key: RunbookType, value: type },
      { key: RunbookStatus, value: this.state.status },
    ]);
    this.showDetails();
  }

  identify(ids: { target?: string; requester?: string }): void {
    upsertSearchAttributes([
      ...(ids.target ? [{ key: RunbookTarget, value: ids.target }] : []),
      ...(ids.requester ? [{ key: RunbookRequester, value: ids.requester }] : []),
    ]);
    this.ids = { ...this.ids, ...ids };
    this.showDetails();
  }

  /**
   * Shows the run's approval gate in the current details (who may decide, deadline, votes), and keeps it
   * current as votes arrive: a condition without a timeout, so no command and nothing in history.
   */
  showApproval(state: () => ApprovalState): void {
    this.approval = state;
    this.showDetails();
    const key = (): string => {
      const s = state();
      return `${s.status} ${s.deadline ?? ''} ${s.votes.length} ${Object.keys(s.eligible).join(',')}`;
    };
    // Cancelling the run cancels this wait too: it then just ends (an unhandled rejection would fail the run).
    void (async () => {
      for (;;) {
        const seen = key();
        await condition(() => key() !== seen);
        this.showDetails();
      }
    })().catch(() => undefined);
  }

  setPlan(steps: Array<Pick<PlanStep, 'id' | 'kind' | 'title'>>): PlanStep[] {
    this.steps = steps.map((s) => ({ id: s.id, kind: s.kind, title: s.title, status: 'pending' as const }));
    this.refresh();
    return this.steps;
  }

  get planSteps(): PlanStep[] {
    return this.steps;
  }

  get status(): RunStatus {
    return this.state.status;
  }

  get message(): string {
    return this.state.message;
  }

  setStatus(status: RunStatus, message: string, waitingFor?: string): void {
    if (status !== this.state.status) upsertSearchAttributes([{ key: RunbookStatus, value: status }]);
    this.state.status = status;
    this.state.message = message;
    if (waitingFor) this.state.waitingFor = waitingFor;
    else delete this.state.waitingFor;
    this.refresh();
  }

  /** Runs one plan step, recording its status, timing and a one-line detail of its result. */
  async step<T>(id: string, fn: () => Promise<T>, detail?: (result: T) => string | undefined): Promise<T> {
    const s = this.find(id);
    s.status = 'running';
    s.startedAt ??= now();
    this.state.currentStep = id;
    this.refresh();
    const started = Date.now();
    // A step that continues as new goes on in the next run: it neither failed nor finished here.
    let continued = false;
    try {
      const result = await fn();
      s.status = 'done';
      const d = detail?.(result);
      if (d) s.detail = d;
      return result;
    } catch (err) {
      if (err instanceof ContinueAsNew) {
        continued = true;
        throw err;
      }
      s.status = err instanceof StopRun ? 'done' : 'failed';
      s.detail = failureMessage(err);
      throw err;
    } finally {
      if (!continued) {
        s.finishedAt = now();
        metrics.stepFinished(this.type, s.kind, s.status, Date.now() - started);
      }
      this.refresh();
    }
  }

  skip(id: string, why: string): void {
    const s = this.steps.find((x) => x.id === id);
    if (s && s.status === 'pending') {
      s.status = 'skipped';
      s.detail = why;
    }
    this.refresh();
  }

  skipRemaining(why: string): void {
    for (const s of this.steps) if (s.status === 'pending') this.skip(s.id, why);
  }

  /** The step that was running or failed when a run stopped. */
  get interruptedAt(): string | undefined {
    return this.steps.find((x) => x.status === 'failed' || x.status === 'running')?.id;
  }

  finish(status: RunStatus, message: string): void {
    this.setStatus(status, message);
    delete this.state.currentStep;
    metrics.runFinished(this.type, status);
  }

  private find(id: string): PlanStep {
    const s = this.steps.find((x) => x.id === id);
    if (!s) throw new Error(`runbook ${this.type}: no plan step "${id}"`);
    return s;
  }

  private refresh(): void {
    const done = this.steps.filter((s) => s.status === 'done' || s.status === 'skipped').length;
    this.state.stepsDone = done;
    this.state.stepsTotal = this.steps.length;
    this.state.percent = this.steps.length ? Math.round((done / this.steps.length) * 100) : 0;
    this.state.updatedAt = now();
    this.showDetails();
  }

  /** Temporal's current details of this run: no command, so it may change anywhere without a patch. */
  private showDetails(): void {
    const approval = this.approval?.();
    setCurrentDetails(
      currentDetails({
        runbook: this.type,
        ...(this.ids.target ? { target: this.ids.target } : {}),
        ...(this.ids.requester ? { requestedBy: this.ids.requester } : {}),
        status: this.state.status,
        message: this.state.message,
        ...(this.state.waitingFor ? { waitingFor: this.state.waitingFor } : {}),
        plan: this.steps,
        ...(approval ? { approval } : {}),
      }),
    );
  }
}

function now(): string {
  return new Date().toISOString();
}

export type { StepKind };
