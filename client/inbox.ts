// What waits for a person: the runs whose approval gate they may decide now. Finds the runs at a gate by
// their RunbookStatus search attribute, then asks each run itself (its queries are the truth; the search
// attribute may lag a moment behind a decision). The CLI's `inbox` prints this; scripts take it as JSON.
import type { Client } from '@temporalio/client';
import { RunbookTarget } from '../common/search-attributes';
import { pendingApprovals } from '../workflows/lib/approval';
import type { ApprovalState, Vote } from '../workflows/lib/approval-rules';
import { plan, progress, type RunbookProgress } from '../workflows/lib/progress';
import type { PlanStep } from '../workflows/lib/result';
import { runbookByType } from './registry';

/** The RunbookStatus of a run waiting at its approval gate. */
export const AWAITING_APPROVAL = 'awaiting-approval';

export interface InboxItem {
  workflowId: string;
  /** The workflow type, e.g. maintenanceWindow. */
  runbook: string;
  /** Its CLI name, e.g. maintenance-window (absent for a type this client does not know). */
  name?: string;
  target?: string;
  requestedBy: string;
  /** The roles that make this person eligible. */
  yourRoles: string[];
  approvals: number;
  quorum: number;
  votes: Vote[];
  openedAt?: string;
  deadline?: string;
  /** Milliseconds until the deadline (negative: passed, the run is about to time out). */
  msLeft?: number;
  /** What the run will do once approved: the titles of its pending steps, in order. */
  next: string[];
  /** The run's own status line, e.g. "waiting for 1 approval(s) until …". */
  message?: string;
  approve: string;
  reject: string;
  url: string;
}

export interface Inbox {
  person: string;
  /** Most urgent (nearest deadline) first. */
  items: InboxItem[];
  /** Runs at a gate that could not be asked (no worker answering, say): this person may be needed there. */
  unreadable: Array<{ workflowId: string; error: string }>;
}

/** May `person` decide this gate now: it is open, they are eligible, did not request the run, did not vote. */
export function mayDecide(person: string, gate: ApprovalState): boolean {
  return gate.status === 'pending' && Object.hasOwn(gate.eligible, person) && person !== gate.requestedBy && !gate.votes.some((v) => v.approver === person);
}

/** One run as the inbox shows it to `person`, or undefined when it does not wait for them. */
export function inboxItem(
  person: string,
  run: { workflowId: string; runbook: string; target?: string },
  gate: ApprovalState,
  steps: readonly PlanStep[],
  opts: { now: Date; runUrl: (workflowId: string) => string; progress?: Pick<RunbookProgress, 'message'> },
): InboxItem | undefined {
  if (!mayDecide(person, gate)) return undefined;
  const name = runbookByType(run.runbook)?.name;
  const deadlineMs = gate.deadline ? Date.parse(gate.deadline) : NaN;
  return {
    workflowId: run.workflowId,
    runbook: run.runbook,
    ...(name ? { name } : {}),
    ...(run.target ? { target: run.target } : {}),
    requestedBy: gate.requestedBy,
    yourRoles: gate.eligible[person] ?? [],
    approvals: gate.votes.filter((v) => v.decision === 'approve').length,
    quorum: gate.policy.quorum,
    votes: gate.votes,
    ...(gate.openedAt ? { openedAt: gate.openedAt } : {}),
    ...(gate.deadline ? { deadline: gate.deadline } : {}),
    ...(Number.isFinite(deadlineMs) ? { msLeft: deadlineMs - opts.now.getTime() } : {}),
    next: steps.filter((s) => s.status === 'pending').map((s) => s.title),
    ...(opts.progress?.message ? { message: opts.progress.message } : {}),
    approve: `npm run runbook -- approve ${run.workflowId} --as ${person}`,
    reject: `npm run runbook -- reject ${run.workflowId} --as ${person} --comment "<why>"`,
    url: opts.runUrl(run.workflowId),
  };
}

/** "2h 05m", "59m", "40s"; "passed" when the deadline is behind. */
export function timeLeft(ms: number): string {
  if (ms <= 0) return 'passed';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${String(h).padStart(2, '0')}h`;
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m`;
  return `${s}s`;
}

/**
 * The runs `person` may decide now. `taskQueue` narrows the search to one deployment's runs (tests);
 * `limit` bounds how many waiting runs are asked.
 */
export async function inbox(
  client: Client,
  person: string,
  opts: { runUrl: (workflowId: string) => string; now?: () => Date; taskQueue?: string; limit?: number; queryTimeoutMs?: number },
): Promise<Inbox> {
  const limit = opts.limit ?? 200;
  const query = [
    `RunbookStatus = "${AWAITING_APPROVAL}"`,
    'ExecutionStatus = "Running"',
    ...(opts.taskQueue ? [`TaskQueue = "${opts.taskQueue.replace(/["\\]/g, '')}"`] : []),
  ].join(' AND ');
  const runs: Array<{ workflowId: string; runbook: string; target?: string }> = [];
  for await (const w of client.workflow.list({ query })) {
    const target = w.typedSearchAttributes.get(RunbookTarget);
    runs.push({ workflowId: w.workflowId, runbook: w.type, ...(target ? { target } : {}) });
    if (runs.length >= limit) break;
  }
  const out: Inbox = { person, items: [], unreadable: [] };
  const deadline = Date.now() + (opts.queryTimeoutMs ?? 10_000);
  await Promise.all(
    runs.map(async (run) => {
      const h = client.workflow.getHandle(run.workflowId);
      try {
        const [gate, steps, prog] = await client.withDeadline(deadline, () => Promise.all([h.query(pendingApprovals), h.query(plan), h.query(progress)]));
        const item = inboxItem(person, run, gate, steps, { now: opts.now?.() ?? new Date(), runUrl: opts.runUrl, progress: prog });
        if (item) out.items.push(item);
      } catch (err) {
        out.unreadable.push({ workflowId: run.workflowId, error: (err as Error).message });
      }
    }),
  );
  const due = (i: InboxItem) => i.msLeft ?? Infinity;
  out.items.sort((a, b) => due(a) - due(b) || a.workflowId.localeCompare(b.workflowId));
  out.unreadable.sort((a, b) => a.workflowId.localeCompare(b.workflowId));
  return out;
}
