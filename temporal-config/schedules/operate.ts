// Operating the declared schedules: what runs when (next times, the last run and how it ended), pause and
// unpause with a note, trigger now, backfill a past range. Only schedules `apply` made are touched.
import { userInfo } from 'node:os';
import { WorkflowNotFoundError, type Client, type ScheduleDescription, type ScheduleHandle } from '@temporalio/client';
import { RunbookStatus } from '../../common/search-attributes';
import { describeWhen, MANAGED_BY, OVERLAP, scheduleIdOf, type ValidatedSchedules } from './apply';
import type { OverlapPolicyName, ScheduleDeclaration } from './schema';

export class ScheduleCommandError extends Error {
  override name = 'ScheduleCommandError';
}

export interface ScheduleRow {
  scheduleId: string;
  title: string;
  runbook: string;
  when: string;
  seed: string;
  state: 'active' | 'paused' | 'waiting' | 'not-applied';
  note?: string;
  waitingFor?: string;
  overlap: OverlapPolicyName;
  nextRuns: string[];
  last?: { scheduledAt: string; workflowId: string; status: string };
  running: string[];
  skippedOverlap?: number;
}

async function lastRunStatus(client: Client, workflowId: string, runId: string): Promise<string> {
  try {
    const d = await client.workflow.getHandle(workflowId, runId).describe();
    // The runbook's own status says more than the execution's ("awaiting-approval", "aborted").
    return d.typedSearchAttributes.get(RunbookStatus) ?? d.status.name.toLowerCase();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'gone (past retention)';
    throw err;
  }
}

async function describeOwned(client: Client, scheduleId: string, taskQueue: string): Promise<ScheduleDescription | undefined> {
  try {
    const d = await client.schedule.getHandle(scheduleId).describe();
    return d.memo?.managedBy === MANAGED_BY && d.memo?.taskQueue === taskQueue ? d : undefined;
  } catch {
    return undefined;
  }
}

function row(decl: ScheduleDeclaration, scheduleId: string): ScheduleRow {
  return {
    scheduleId,
    title: decl.title,
    runbook: decl.runbook,
    when: describeWhen(decl),
    seed: decl.seed,
    state: decl.waitingFor ? 'waiting' : 'not-applied',
    ...(decl.waitingFor ? { waitingFor: decl.waitingFor } : {}),
    overlap: decl.overlap,
    nextRuns: [],
    running: [],
  };
}

/** Every declared schedule with what the server says about it (waiting ones from the declarations). */
export async function listSchedules(client: Client, v: ValidatedSchedules, nextCount = 2): Promise<ScheduleRow[]> {
  const rows = await Promise.all(
    v.wired.map(async (w) => {
      const r = row(w.decl, w.scheduleId);
      const d = await describeOwned(client, w.scheduleId, v.taskQueue);
      if (!d) return r;
      r.state = d.state.paused ? 'paused' : 'active';
      if (d.state.note) r.note = d.state.note;
      r.nextRuns = d.info.nextActionTimes.slice(0, nextCount).map((t) => t.toISOString());
      r.running = d.info.runningActions.map((a) => a.workflow.workflowId);
      r.skippedOverlap = d.info.numActionsSkippedOverlap;
      const last = d.info.recentActions.at(-1);
      if (last) {
        const wf = last.action.workflow;
        r.last = {
          scheduledAt: last.scheduledAt.toISOString(),
          workflowId: wf.workflowId,
          status: await lastRunStatus(client, wf.workflowId, wf.firstExecutionRunId),
        };
      }
      return r;
    }),
  );
  return [...rows, ...v.waiting.map((decl) => row(decl, scheduleIdOf(decl.id, v.taskQueue)))];
}

/** The handle of a schedule `apply` made; a declaration id or a schedule id is accepted. */
export async function ownedHandle(client: Client, v: ValidatedSchedules, id: string): Promise<{ handle: ScheduleHandle; decl: ScheduleDeclaration }> {
  const w = v.wired.find((x) => x.scheduleId === id || x.decl.id === id);
  if (!w) {
    const waiting = v.waiting.find((x) => x.id === id || scheduleIdOf(x.id, v.taskQueue) === id);
    if (waiting) throw new ScheduleCommandError(`schedule "${id}" waits for its runbook (${waiting.runbook}: ${waiting.waitingFor}); it is not on the server`);
    throw new ScheduleCommandError(`no declared schedule "${id}"; declared: ${v.wired.map((x) => x.decl.id).join(', ')}`);
  }
  if (!(await describeOwned(client, w.scheduleId, v.taskQueue)))
    throw new ScheduleCommandError(`schedule "${w.scheduleId}" is not on the server (run: npm run schedules -- apply)`);
  return { handle: client.schedule.getHandle(w.scheduleId), decl: w.decl };
}

export function who(as?: string): string {
  return as ?? process.env.RUNBOOK_USER ?? userInfo().username;
}

export async function pauseSchedule(client: Client, v: ValidatedSchedules, id: string, note: string, as?: string): Promise<string> {
  const { handle } = await ownedHandle(client, v, id);
  const text = `paused by ${who(as)}: ${note}`;
  await handle.pause(text);
  return text;
}

export async function unpauseSchedule(client: Client, v: ValidatedSchedules, id: string, note: string, as?: string): Promise<string> {
  const { handle } = await ownedHandle(client, v, id);
  const text = `unpaused by ${who(as)}: ${note}`;
  await handle.unpause(text);
  return text;
}

/**
 * Starts the schedule's action now, under the schedule's declared overlap policy. (The SDK's `trigger()`
 * without an argument sends ALLOW_ALL, which would start a second run beside a running one.)
 */
export async function triggerSchedule(client: Client, v: ValidatedSchedules, id: string): Promise<void> {
  const { handle, decl } = await ownedHandle(client, v, id);
  await handle.trigger(OVERLAP[decl.overlap]);
}

/** Takes the actions the schedule would have taken in [from, to): for a routine missed during an outage. */
export async function backfillSchedule(
  client: Client,
  v: ValidatedSchedules,
  id: string,
  range: { from: string; to: string; overlap?: OverlapPolicyName },
  now = new Date(),
): Promise<{ from: Date; to: Date; overlap: OverlapPolicyName }> {
  const from = new Date(range.from);
  const to = new Date(range.to);
  if (Number.isNaN(from.getTime())) throw new ScheduleCommandError(`--from: "${range.from}" is not an ISO time like 2026-11-22T00:00:00Z`);
  if (Number.isNaN(to.getTime())) throw new ScheduleCommandError(`--to: "${range.to}" is not an ISO time like 2026-11-23T00:00:00Z`);
  if (to <= from) throw new ScheduleCommandError('--to must be after --from');
  if (to > now) throw new ScheduleCommandError('--to is in the future: a backfill takes missed actions, the schedule takes future ones');
  if (range.overlap && !(range.overlap in OVERLAP)) throw new ScheduleCommandError(`--overlap: one of ${Object.keys(OVERLAP).join(', ')}`);
  const { handle, decl } = await ownedHandle(client, v, id);
  const overlap = range.overlap ?? decl.overlap;
  await handle.backfill({ start: from, end: to, overlap: OVERLAP[overlap] });
  return { from, to, overlap };
}
