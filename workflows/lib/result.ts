// The shape every runbook's result shares, so `runbook status` and `runbook result` (and every other
// front door) work for any runbook. A runbook's result extends RunbookResult with its own fields.
import type { ApprovalState } from './approval-rules';
import type { CompensationResult } from './saga';

export type StepKind =
  'check' | 'notify' | 'gate' | 'lock' | 'wait' | 'backup' | 'drain' | 'scale' | 'restart' | 'deploy' | 'data' | 'task' | 'verify' | 'monitor' | 'report';
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

/** How a run ended when it ended with a result (failed and cancelled runs end as workflow failures). */
export type RunOutcome = 'completed' | 'completed-with-warnings' | 'rejected' | 'timed-out' | 'window-ended' | 'deadline-passed' | 'aborted' | 'dry-run';

/** Every way a run can end, as recorded in the audit store and the RunbookStatus search attribute. */
export type RunEnding = RunOutcome | 'failed' | 'cancelled';

/** Where a run is; also the RunbookStatus search attribute. */
export type RunStatus =
  'validating' | 'pre-checks' | 'awaiting-approval' | 'waiting-for-target' | 'waiting-for-window' | 'running' | 'monitoring' | 'compensating' | RunEnding;

export interface RunbookResult {
  /** Workflow type, e.g. maintenanceWindow. */
  runbook: string;
  outcome: RunOutcome;
  reason: string;
  /** What the run acted on, e.g. the service name. */
  target: string;
  plan: PlanStep[];
  approval: ApprovalState;
  compensations: CompensationResult[];
  warnings: string[];
  startedAt: string;
  finishedAt: string;
}
