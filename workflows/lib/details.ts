// How a run reads to people, as pure functions: the markdown of Temporal's "current details" (the Web UI
// shows it on the run's page; RunProgress keeps it up to date), and the changes between two looks at a run
// (`runbook watch`). Deterministic and free of Node built-ins: the first runs in the workflow sandbox.
import type { ApprovalState, GateStatus, RefusedVote, Vote } from './approval-rules';
import type { PlanStep, StepStatus } from './result';

export const STEP_MARK: Record<StepStatus, string> = { pending: '·', running: '▶', done: '✓', skipped: '–', failed: '✗' };

/** Outcomes that count as success (`runbook watch` exits 0 on them). */
export const SUCCESS_OUTCOMES: readonly string[] = ['completed', 'completed-with-warnings', 'dry-run'];

/** What a run's `progress` query says, as far as these functions need it (RunbookProgress fits). */
export interface ProgressView {
  status: string;
  message: string;
  waitingFor?: string;
}

// ---- current details (the Web UI) ----

export interface DetailsInput {
  /** The workflow type, e.g. maintenanceWindow. */
  runbook: string;
  target?: string;
  requestedBy?: string;
  status: string;
  message: string;
  /** The run holding this run's target while this one waits for it. */
  waitingFor?: string;
  plan: readonly PlanStep[];
  /** The approval gate, when the run has one. */
  approval?: ApprovalState;
}

const DETAIL_MAX = 200;
const MESSAGE_MAX = 400;

/** Markdown text shown as a run's current details: what, where it is, what it waits for, and its plan. */
export function currentDetails(d: DetailsInput): string {
  const head = [`**${md(d.runbook)}**`];
  if (d.target) head.push(`on **${md(d.target)}**`);
  if (d.requestedBy) head.push(`requested by ${md(d.requestedBy)}`);
  const out = [head.join(' '), '', `**Status:** ${md(d.status)} — ${md(clip(d.message, MESSAGE_MAX))}`];

  const waits: string[] = [];
  const gate = d.approval;
  if (gate && (gate.status === 'pending' || (gate.status === 'not-requested' && d.status === 'awaiting-approval'))) {
    const who = deciders(gate);
    const approvals = gate.votes.filter((v) => v.decision === 'approve').length;
    waits.push(
      `- **approval:** ${approvals} of ${gate.policy.quorum} approval(s); who may decide: ${who.length ? who.map(md).join(', ') : 'nobody'}` +
        ` (role ${gate.policy.approverRoles.map(md).join(' or ')}; not the requester)` +
        (gate.deadline ? `; deadline ${md(gate.deadline)}` : '') +
        (gate.votes.length ? `; votes: ${gate.votes.map((v) => `${md(v.approver)} ${v.decision}`).join(', ')}` : ''),
    );
  }
  if (d.waitingFor) waits.push(`- **the target:** held by ${md(d.waitingFor)}`);
  if (waits.length) out.push('', '**Waits for**', '', ...waits);
  if (gate && gate.status !== 'pending' && gate.status !== 'not-requested') {
    out.push('', `**Approval:** ${gate.status}${gate.reason ? ` — ${md(clip(gate.reason, DETAIL_MAX))}` : ''}`);
  }

  if (d.plan.length) {
    const done = d.plan.filter((s) => s.status === 'done' || s.status === 'skipped').length;
    out.push('', `**Plan** (${done} of ${d.plan.length} steps done or skipped)`, '');
    for (const [i, s] of d.plan.entries()) {
      out.push(`${i + 1}. ${STEP_MARK[s.status] ?? '?'} ${md(s.title)} — ${s.status}${s.detail ? `: ${md(clip(s.detail, DETAIL_MAX))}` : ''}`);
    }
  }
  return out.join('\n');
}

/** People who may still decide: eligible, not the requester, not voted yet. */
export function deciders(gate: ApprovalState): string[] {
  return Object.keys(gate.eligible).filter((p) => p !== gate.requestedBy && !gate.votes.some((v) => v.approver === p));
}

/** Escapes the characters markdown would read as formatting (titles hold table names like report_runs). */
export function md(s: string): string {
  return s.replace(/[\\`*_[\]<>|]/g, '\\$&');
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

// ---- changes between two looks at a run (`runbook watch`) ----

/** One look at a run: its execution, and what its queries said (a query that failed leaves a field out). */
export interface RunView {
  runId?: string;
  progress?: ProgressView;
  plan?: PlanStep[];
  approvals?: ApprovalState;
}

export type RunChange =
  | { kind: 'continued'; runId: string }
  | { kind: 'plan'; steps: PlanStep[] }
  | { kind: 'step'; index: number; step: PlanStep }
  | { kind: 'vote'; vote: Vote; approvals: number; quorum: number }
  | { kind: 'refused'; refused: RefusedVote }
  | { kind: 'gate'; status: GateStatus; quorum: number; deciders: string[]; deadline?: string; reason?: string }
  | { kind: 'status'; status: string; message: string; waitingFor?: string }
  | { kind: 'unreadable'; error: string }
  | { kind: 'outcome'; outcome: string; reason: string; ok: boolean };

/**
 * What changed from `prev` to `next`, in the order people read it: a new run of the chain; the plan (once,
 * when it appears or changes shape, with its marks; that look then tells no step changes); new votes and
 * refusals and the gate's decision; steps whose status changed, in plan order; the gate opening; the run's
 * status. The first look starts with the status.
 */
export function runChanges(prev: RunView | undefined, next: RunView): RunChange[] {
  const out: RunChange[] = [];
  if (prev?.runId && next.runId && prev.runId !== next.runId) out.push({ kind: 'continued', runId: next.runId });
  const p = next.progress;
  const status: RunChange | undefined =
    p && (!prev?.progress || prev.progress.status !== p.status || prev.progress.message !== p.message)
      ? { kind: 'status', status: p.status, message: p.message, ...(p.waitingFor ? { waitingFor: p.waitingFor } : {}) }
      : undefined;
  const firstLook = !prev?.progress;
  if (status && firstLook) out.push(status);

  const before = prev?.plan ?? [];
  const newPlan = !!next.plan?.length && before.map((s) => s.id).join('\n') !== next.plan.map((s) => s.id).join('\n');
  if (newPlan) out.push({ kind: 'plan', steps: next.plan! });

  const gate = next.approvals;
  const was = prev?.approvals;
  let opened: RunChange | undefined;
  if (gate) {
    for (let i = was?.votes.length ?? 0; i < gate.votes.length; i++) {
      const approvals = gate.votes.slice(0, i + 1).filter((v) => v.decision === 'approve').length;
      out.push({ kind: 'vote', vote: gate.votes[i]!, approvals, quorum: gate.policy.quorum });
    }
    for (let i = was?.refused.length ?? 0; i < gate.refused.length; i++) out.push({ kind: 'refused', refused: gate.refused[i]! });
    if (gate.status !== 'not-requested' && gate.status !== (was?.status ?? 'not-requested')) {
      const change: RunChange = {
        kind: 'gate',
        status: gate.status,
        quorum: gate.policy.quorum,
        deciders: deciders(gate),
        ...(gate.deadline ? { deadline: gate.deadline } : {}),
        ...(gate.reason ? { reason: gate.reason } : {}),
      };
      if (gate.status === 'pending') opened = change;
      else out.push(change);
    }
  }

  if (next.plan && !newPlan) {
    for (const [index, step] of next.plan.entries()) {
      const had = before.find((s) => s.id === step.id);
      if (had && had.status !== step.status) out.push({ kind: 'step', index, step });
    }
  }
  if (opened) out.push(opened);
  if (status && !firstLook) out.push(status);
  return out;
}

/** One change as the lines `runbook watch` prints. */
export function describeChange(c: RunChange): string[] {
  switch (c.kind) {
    case 'continued':
      return [`continued as new: run ${c.runId}`];
    case 'plan':
      return [`plan (${c.steps.length} steps):`, ...c.steps.map((s, i) => `  ${String(i + 1).padStart(2)}. ${stepLine(s)}`)];
    case 'step':
      return [stepLine(c.step)];
    case 'vote':
      return [
        `vote: ${c.vote.approver} ${c.vote.decision === 'approve' ? 'approves' : 'rejects'} via ${c.vote.via}` +
          `${c.vote.comment ? ` ("${c.vote.comment}")` : ''} (${c.approvals} of ${c.quorum} approvals)`,
      ];
    case 'refused':
      return [`refused vote: ${c.refused.approver} (${c.refused.decision} via ${c.refused.via}): ${c.refused.reason}`];
    case 'gate':
      return c.status === 'pending'
        ? [`approval requested: ${c.quorum} approval(s) from ${c.deciders.join(', ') || 'nobody'}${c.deadline ? `; deadline ${c.deadline}` : ''}`]
        : [`approval ${c.status}${c.reason ? `: ${c.reason}` : ''}`];
    case 'status':
      return [`status: ${c.status} — ${c.message}`];
    case 'unreadable':
      return [`cannot read the run's progress: ${c.error}`];
    case 'outcome':
      return [`outcome: ${c.outcome}`, `  ${c.reason}`];
  }
}

function stepLine(s: PlanStep): string {
  return `${STEP_MARK[s.status] ?? '?'} ${s.status.padEnd(7)} ${s.title}${s.detail ? ` — ${s.detail}` : ''}`;
}

// ---- what a start says about itself (the Web UI's summary and details of the run) ----

export interface StartFacts {
  /** CLI name, e.g. maintenance-window. */
  name: string;
  workflowType: string;
  /** What the runbook does (its registry summary). */
  summary: string;
  target: string;
  requestedBy: string;
  reason?: string;
  dryRun: boolean;
}

/** One line: "maintenance-window on reports for bob: weekly database maintenance". */
export function startSummary(f: StartFacts): string {
  return clip(`${f.name} on ${f.target} for ${f.requestedBy}${f.dryRun ? ' (dry run)' : ''}${f.reason ? `: ${f.reason}` : ''}`, 200);
}

/** Markdown: what was asked, by whom, why, and whether it changes anything. */
export function startDetails(f: StartFacts): string {
  return [
    `- **Runbook:** ${md(f.name)} (workflow type ${md(f.workflowType)}): ${md(f.summary)}`,
    `- **Target:** ${md(f.target)}`,
    `- **Requested by:** ${md(f.requestedBy)}`,
    `- **Reason:** ${f.reason ? md(f.reason) : '(none given)'}`,
    `- **Dry run:** ${f.dryRun ? 'yes: validates, resolves the target and plans; changes nothing' : `no: changes ${md(f.target)} once its checks and gates pass`}`,
  ].join('\n');
}
