// The shape every runbook shares: a plan of steps (the `plan` query, and the dry-run result), progress
// (the `progress` query, and the RunbookStatus search attribute the Web UI can filter on), and metrics
// emitted through a sink so replays never count twice.
import { defineQuery, proxySinks, setHandler, upsertSearchAttributes, type Sinks } from '@temporalio/workflow';
import { failureMessage } from './errors';
import { RunbookRequester, RunbookStatus, RunbookTarget, RunbookType } from '../../temporal-config/search-attributes';

export type StepKind = 'check' | 'notify' | 'gate' | 'wait' | 'backup' | 'drain' | 'scale' | 'task' | 'verify' | 'monitor' | 'report';
export type StepStatus = 'pending' | 'running' | 'done' | 'skipped' | 'failed';

export interface PlanStep {
  id: string;
  kind: StepKind;
  title: string;
  status: StepStatus;
  startedAt?: string;
  finishedAt?: string;
  detail?: string;
}

/** How a run ended when it ended with a result (a failed run ends as a workflow failure instead). */
export type RunOutcome = 'completed' | 'completed-with-warnings' | 'rejected' | 'timed-out' | 'window-ended' | 'aborted' | 'dry-run';

/** Where a run is; also the RunbookStatus search attribute. */
export type RunStatus =
  | 'validating'
  | 'pre-checks'
  | 'awaiting-approval'
  | 'waiting-for-window'
  | 'running'
  | 'monitoring'
  | 'compensating'
  | 'failed'
  | RunOutcome;

export interface RunbookProgress {
  runbook: string;
  status: RunStatus;
  currentStep?: string;
  stepsDone: number;
  stepsTotal: number;
  percent: number;
  message: string;
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

export class Runbook {
  private steps: PlanStep[] = [];
  private state: RunbookProgress;

  constructor(
    readonly type: string,
    ids: { target?: string; requester?: string },
  ) {
    this.state = { runbook: type, status: 'validating', stepsDone: 0, stepsTotal: 0, percent: 0, message: 'validating input', updatedAt: now() };
    setHandler(plan, () => this.steps);
    setHandler(progress, () => this.state);
    upsertSearchAttributes([
      { key: RunbookType, value: type },
      { key: RunbookStatus, value: 'validating' },
      ...(ids.target ? [{ key: RunbookTarget, value: ids.target }] : []),
      ...(ids.requester ? [{ key: RunbookRequester, value: ids.requester }] : []),
    ]);
    metrics.runStarted(type);
  }

  setPlan(steps: Array<Pick<PlanStep, 'id' | 'kind' | 'title'>>): PlanStep[] {
    this.steps = steps.map((s) => ({ ...s, status: 'pending' as const }));
    this.refresh();
    return this.steps;
  }

  get planSteps(): PlanStep[] {
    return this.steps;
  }

  setStatus(status: RunStatus, message: string): void {
    if (status !== this.state.status) upsertSearchAttributes([{ key: RunbookStatus, value: status }]);
    this.state.status = status;
    this.state.message = message;
    this.refresh();
  }

  /** Runs one plan step, recording its status, timing and a one-line detail of its result. */
  async step<T>(id: string, fn: () => Promise<T>, detail?: (result: T) => string | undefined): Promise<T> {
    const s = this.find(id);
    s.status = 'running';
    s.startedAt = now();
    this.state.currentStep = id;
    this.refresh();
    const started = Date.now();
    try {
      const result = await fn();
      s.status = 'done';
      const d = detail?.(result);
      if (d) s.detail = d;
      return result;
    } catch (err) {
      s.status = 'failed';
      s.detail = failureMessage(err);
      throw err;
    } finally {
      s.finishedAt = now();
      metrics.stepFinished(this.type, s.kind, s.status, Date.now() - started);
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
  }
}

function now(): string {
  return new Date().toISOString();
}
