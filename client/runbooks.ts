// How people and programs start and steer runbooks; the CLI (and later the HTTP API) are thin layers
// over these functions. Input is validated here, at the edge, with the workflow's own schema.
import { randomBytes } from 'node:crypto';
import {
  ApplicationFailure,
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Workflow,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { connectionOptions, temporalProfile, type TemporalProfile } from '../temporal-config/connection';
import { approve, pendingApprovals, VOTE_REFUSED } from '../workflows/lib/approval';
import type { ApprovalState, Decision } from '../workflows/lib/approval-rules';
import { runChanges, startDetails, startSummary, SUCCESS_OUTCOMES, type RunChange, type RunView } from '../workflows/lib/details';
import { plan, progress, type RunbookProgress } from '../workflows/lib/progress';
import type { PlanStep } from '../workflows/lib/result';
import type { RunbookResult } from '../workflows/lib/result';
import type { InputOf, RunbookEntry, RunbookWorkflow, TypedRunbookEntry } from './registry';

export class InputError extends Error {
  override name = 'InputError';
}

export async function connectClient(profile: TemporalProfile = temporalProfile()): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect(connectionOptions(profile));
  } catch (err) {
    // The SDK says only "Failed to connect before the deadline": say where, and what to check.
    throw new Error(
      `cannot reach Temporal at ${profile.address} (namespace ${profile.namespace}): ${(err as Error).message}. ` +
        'Is it up (npm run status), and are TEMPORAL_ADDRESS / TLS settings right?',
      { cause: err },
    );
  }
  return new Client({ connection, namespace: profile.namespace });
}

/** `<prefix>-<target>-<yyyymmdd-hhmm>-<random>`: readable in the Web UI's list, unique per start. */
export function runbookWorkflowId(entry: RunbookEntry, target: string, now = new Date()): string {
  const stamp = now.toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
  return `${entry.idPrefix}-${target}-${stamp}-${randomBytes(2).toString('hex')}`;
}

type RunbookHandle = WorkflowHandleWithFirstExecutionRunId<(input: unknown) => Promise<RunbookResult>>;

export interface StartedRun {
  handle: RunbookHandle;
  workflowId: string;
  /** The first run's id (stable across continue-as-new). */
  runId: string;
  /** false: an earlier start of the same thing within its dedupe window is this run. */
  created: boolean;
}

/** Validates `input` with the runbook's schema (a clear InputError, nothing started) and starts a run. */
export async function startRunbook(
  client: Client,
  entry: RunbookEntry,
  input: unknown,
  opts: { taskQueue: string; workflowId?: string },
): Promise<RunbookHandle> {
  return (await startRunbookRun(client, entry, input, opts)).handle;
}

/**
 * Starts a run, or joins the one already started for the same dedupe key within the runbook's dedupe
 * window. Dedupe ids are `<prefix>-<key>-<task queue>-w<window number>` (a task queue is one deployment of
 * workers and configuration, so two share nothing): two starts at once get the same id (Temporal refuses
 * the second: it joins), and a start just after a window boundary finds the previous window's run.
 *
 * A running run is always joined. A completed one only when `currentRevision` (reads the target's
 * deployment revision now, when the caller can) is still the revision that run left: after a new deploy
 * the same request is a new rollback. Without it a completed run is not joined; the runbook itself then
 * refuses to roll back a rollback, so no second rollback happens either way. The revision and both
 * windows' runs are read at once: a start costs one round trip more than a plain start, not three.
 */
export async function startRunbookRun(
  client: Client,
  entry: RunbookEntry,
  input: unknown,
  opts: { taskQueue: string; workflowId?: string; now?: Date; currentRevision?: () => Promise<number | undefined> },
): Promise<StartedRun> {
  const parsed = entry.parse(input);
  if (!parsed.ok) throw new InputError(parsed.error);
  // What the Web UI shows in its list and at the top of the run's page.
  const facts = { name: entry.name, workflowType: entry.workflowType, summary: entry.summary, ...parsed };
  const start = async (workflowId: string): Promise<StartedRun> => {
    const handle = await client.workflow.start<(input: unknown) => Promise<RunbookResult>>(entry.workflowType, {
      taskQueue: opts.taskQueue,
      workflowId,
      args: [input],
      staticSummary: startSummary(facts),
      staticDetails: startDetails(facts),
    });
    return { handle, workflowId, runId: handle.firstExecutionRunId, created: true };
  };
  const dedupe = entry.dedupe;
  if (!dedupe || opts.workflowId || parsed.dryRun) return start(opts.workflowId ?? runbookWorkflowId(entry, parsed.target));

  const now = (opts.now ?? new Date()).getTime();
  const window = Math.floor(now / dedupe.windowMs);
  const idOf = (w: number) => `${entry.idPrefix}-${dedupe.key(input)}-${opts.taskQueue}-w${w}`;
  const revision = opts.currentRevision ? opts.currentRevision().catch(() => undefined) : Promise.resolve(undefined);
  const describe = (workflowId: string) =>
    client.workflow
      .getHandle(workflowId)
      .describe()
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      });
  const join = async (workflowId: string, d: Awaited<ReturnType<typeof describe>>): Promise<StartedRun | undefined> => {
    if (!d) return undefined;
    const runId = d.raw.workflowExecutionInfo?.firstRunId ?? d.runId;
    const handle = client.workflow.getHandle(workflowId, undefined, { firstExecutionRunId: runId }) as RunbookHandle;
    const status = d.status.name;
    if (status === 'RUNNING') return { handle, workflowId, runId, created: false };
    if (status === 'COMPLETED' && now - d.startTime.getTime() < dedupe.windowMs) {
      const current = await revision;
      if (current !== undefined && dedupe.revisionAfter(await handle.result()) === current) return { handle, workflowId, runId, created: false };
    }
    return undefined;
  };
  const ids = [idOf(window), idOf(window - 1)];
  const found = await Promise.all(ids.map(describe));
  const earlier = (await join(ids[0]!, found[0])) ?? (await join(ids[1]!, found[1]));
  if (earlier) return earlier;
  try {
    return await start(idOf(window));
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const running = await join(idOf(window), await describe(idOf(window)));
    if (!running) throw err;
    return running;
  }
}

/** A typed start for programs: the compiler checks `input` against the runbook's workflow function. */
export async function startTypedRunbook<W extends RunbookWorkflow & Workflow>(
  client: Client,
  entry: TypedRunbookEntry<W>,
  input: InputOf<W>,
  opts: { taskQueue: string; workflowId?: string },
): Promise<WorkflowHandle<W>> {
  const started = await startRunbook(client, entry, input, opts);
  // The same run, typed as W; following continue-as-new like the handle start() returns.
  return client.workflow.getHandle<W>(started.workflowId, undefined, { firstExecutionRunId: started.firstExecutionRunId });
}

export class VoteRefusedError extends Error {
  override name = 'VoteRefusedError';
}

/** Casts a vote through the validated Update; a refused vote throws VoteRefusedError with the reason. */
export async function castVote(client: Client, workflowId: string, vote: { approver: string; decision: Decision; comment?: string }): Promise<ApprovalState> {
  try {
    return await client.workflow.getHandle(workflowId).executeUpdate(approve, { args: [vote] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause;
      if (cause instanceof ApplicationFailure && cause.type === VOTE_REFUSED) throw new VoteRefusedError(cause.message);
      throw new Error(`the vote could not be completed: ${cause?.message ?? err.message}`);
    }
    throw err;
  }
}

export interface RunDescription {
  workflowId: string;
  status: string;
  type: string;
  progress?: RunbookProgress;
  plan?: PlanStep[];
  approvals?: ApprovalState;
}

export async function describeRun(client: Client, workflowId: string): Promise<RunDescription> {
  const handle = client.workflow.getHandle(workflowId);
  const d = await handle.describe();
  const out: RunDescription = { workflowId, status: d.status.name, type: d.type };
  try {
    [out.progress, out.plan, out.approvals] = await Promise.all([handle.query(progress), handle.query(plan), handle.query(pendingApprovals)]);
  } catch {
    // A run that failed on input never registered its queries; the status above still tells.
  }
  return out;
}

/** How a watched run ended. */
export interface WatchEnd {
  workflowId: string;
  /** The last run of the chain's execution status, e.g. COMPLETED, FAILED. */
  executionStatus: string;
  outcome: string;
  reason: string;
  /** Completed with a success outcome (completed, completed-with-warnings, dry-run). */
  ok: boolean;
  result?: RunbookResult;
}

const CLOSED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']);

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Follows a run until it ends, by workflow id (so across continue-as-new): reads its queries every
 * `intervalMs`, tells `onChange` what changed (see runChanges), and ends with an `outcome` change. A run that
 * failed on its input registered no approval query; what it did register is still read, and a query that
 * cannot be answered (no worker) is told once as `unreadable`.
 */
export async function watchRun(
  client: Client,
  workflowId: string,
  opts: { onChange(change: RunChange): void; intervalMs?: number; queryTimeoutMs?: number; signal?: AbortSignal },
): Promise<WatchEnd> {
  const handle = client.workflow.getHandle<(input: unknown) => Promise<RunbookResult>>(workflowId);
  const interval = opts.intervalMs ?? 1000;
  const queryTimeout = opts.queryTimeoutMs ?? Math.max(5000, 3 * interval);
  let seen: RunView | undefined;
  let unreadable: string | undefined;
  for (;;) {
    const d = await handle.describe();
    const closed = CLOSED.has(d.status.name);
    const run = client.workflow.getHandle(workflowId, d.runId);
    const [p, pl, a] = await client.withDeadline(Date.now() + queryTimeout, () =>
      Promise.allSettled([run.query(progress), run.query(plan), run.query(pendingApprovals)]),
    );
    const view: RunView = {
      runId: d.runId,
      ...(p.status === 'fulfilled' ? { progress: p.value } : {}),
      ...(pl.status === 'fulfilled' ? { plan: pl.value } : {}),
      ...(a.status === 'fulfilled' ? { approvals: a.value } : {}),
    };
    let end: WatchEnd | undefined;
    if (closed) {
      end = await ending(handle, workflowId, d.status.name);
      // The result is the final word on the plan and the gate, whatever the queries could read.
      if (end.result) Object.assign(view, { plan: end.result.plan, approvals: end.result.approval });
    }
    if (p.status === 'rejected') {
      const error = p.reason instanceof Error ? p.reason.message : String(p.reason);
      if (error !== unreadable) opts.onChange({ kind: 'unreadable', error });
      unreadable = error;
    } else unreadable = undefined;
    for (const c of runChanges(seen, view)) opts.onChange(c);
    // A look whose query failed keeps what the last look saw, so nothing is told twice.
    seen = { ...seen, ...view };
    if (end) {
      opts.onChange({ kind: 'outcome', outcome: end.outcome, reason: end.reason, ok: end.ok });
      return end;
    }
    if (opts.signal?.aborted) throw new Error(`stopped watching ${workflowId}`);
    await sleep(interval, opts.signal);
  }
}

async function ending(handle: WorkflowHandle<(input: unknown) => Promise<RunbookResult>>, workflowId: string, executionStatus: string): Promise<WatchEnd> {
  try {
    const result = await handle.result();
    return { workflowId, executionStatus, outcome: result.outcome, reason: result.reason, ok: SUCCESS_OUTCOMES.includes(result.outcome), result };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const outcome =
      { FAILED: 'failed', CANCELLED: 'cancelled', TERMINATED: 'terminated', TIMED_OUT: 'timed-out' }[executionStatus] ?? executionStatus.toLowerCase();
    return { workflowId, executionStatus, outcome, reason: err.cause?.message ?? err.message, ok: false };
  }
}
