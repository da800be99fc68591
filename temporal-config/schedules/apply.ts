// Schedules as code: validate the declarations, diff them against the server, and reconcile. Only
// schedules this project created for the same task queue are ever updated or deleted (their memo says
// so); a schedule of the same id made by someone else is reported as a conflict and left alone.
//
// What a schedule was declared as is kept in its action's memo, so `apply` can tell which declared
// fields changed; the action, input and policies are also compared with what the server has, so an edit
// made in the Web UI is put back. (A spec edited in the UI is not detected: the server stores cron
// expressions as calendars, which do not compare to the text; `schedules list` shows the next times.)
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';
import { durationMs } from '../../common/duration';
import { RUNBOOKS, type RunbookEntry } from '../../client/registry';
import { DEFAULT_TASK_QUEUE } from '../connection';
import { scheduleDeclarationSchema, type OverlapPolicyName, type ScheduleDeclaration } from './schema';

export const MANAGED_BY = 'temporal-runbooks';

export const OVERLAP: Record<OverlapPolicyName, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

export class ScheduleDeclarationError extends Error {
  override name = 'ScheduleDeclarationError';
  constructor(readonly problems: string[]) {
    super(`schedule declarations refused, nothing was sent to the server:\n  ${problems.join('\n  ')}`);
  }
}

/** A declaration whose runbook exists, with its input checked by that runbook's schema. */
export interface WiredSchedule {
  scheduleId: string;
  decl: ScheduleDeclaration;
  entry: RunbookEntry;
}

export interface ValidatedSchedules {
  taskQueue: string;
  wired: WiredSchedule[];
  /** Routines whose runbook has not landed yet: listed, never created. */
  waiting: ScheduleDeclaration[];
}

/** Schedule ids are the declaration ids on the default task queue, `<task queue>-<id>` on any other. */
export function scheduleIdOf(declId: string, taskQueue: string): string {
  return taskQueue === DEFAULT_TASK_QUEUE ? declId : `${taskQueue}-${declId}`;
}

/**
 * Checks every declaration (fields, cron, durations, the runbook, the input against the runbook's own
 * schema) and throws one ScheduleDeclarationError naming each schedule and field that is wrong.
 */
export function validateSchedules(declarations: readonly unknown[], taskQueue: string, registry: readonly RunbookEntry[] = RUNBOOKS): ValidatedSchedules {
  const problems: string[] = [];
  const out: ValidatedSchedules = { taskQueue, wired: [], waiting: [] };
  const seen = new Set<string>();
  declarations.forEach((raw, i) => {
    const name = typeof (raw as { id?: unknown })?.id === 'string' ? `schedule "${(raw as { id: string }).id}"` : `schedule #${i + 1}`;
    const r = scheduleDeclarationSchema.safeParse(raw);
    if (!r.success) {
      for (const issue of r.error.issues) problems.push(`${name}: ${issue.path.join('.') || '(declaration)'}: ${issue.message}`);
      return;
    }
    const decl = r.data;
    if (seen.has(decl.id)) problems.push(`${name}: id: declared twice`);
    seen.add(decl.id);
    const entry = registry.find((e) => e.name === decl.runbook);
    if (decl.waitingFor) {
      if (entry) problems.push(`${name}: waitingFor: runbook "${decl.runbook}" has landed; remove waitingFor and check the input`);
      else out.waiting.push(decl);
      return;
    }
    if (!entry) {
      problems.push(`${name}: runbook: unknown runbook "${decl.runbook}"; known runbooks: ${registry.map((e) => e.name).join(', ')}`);
      return;
    }
    const parsed = entry.parse(decl.input);
    if (!parsed.ok) problems.push(`${name}: input: ${parsed.error}`);
    else out.wired.push({ scheduleId: scheduleIdOf(decl.id, taskQueue), decl, entry });
  });
  if (problems.length) throw new ScheduleDeclarationError(problems);
  return out;
}

/** What a schedule was declared as; kept in the action's memo and compared field by field. */
export type Declared = Record<string, unknown>;

export function declaredOf(w: WiredSchedule): Declared {
  const d = w.decl;
  return {
    title: d.title,
    seed: d.seed,
    runbook: d.runbook,
    workflowType: w.entry.workflowType,
    input: d.input,
    when: d.when,
    overlap: d.overlap,
    catchupWindow: d.catchupWindow,
    jitter: d.jitter ?? null,
    paused: d.paused,
    pauseOnFailure: d.pauseOnFailure,
  };
}

export function scheduleOptions(w: WiredSchedule, taskQueue: string): ScheduleOptions {
  const d = w.decl;
  const spec: ScheduleOptions['spec'] =
    'cron' in d.when
      ? { cronExpressions: [d.when.cron] }
      : { intervals: [{ every: durationMs(d.when.every), ...(d.when.offset ? { offset: durationMs(d.when.offset) } : {}) }] };
  if (d.jitter) spec.jitter = durationMs(d.jitter);
  return {
    scheduleId: w.scheduleId,
    spec,
    action: {
      type: 'startWorkflow',
      workflowType: w.entry.workflowType,
      taskQueue,
      // Runs are `<schedule id>-<scheduled time>`: the Web UI's list says which schedule started them.
      workflowId: w.scheduleId,
      args: [d.input],
      memo: { runbookSchedule: { id: d.id, declared: declaredOf(w) } },
      staticSummary: `scheduled: ${d.title} (${w.scheduleId})`,
      staticDetails: `Started by schedule **${w.scheduleId}** (\`npm run schedules -- list\`).\n\nSeed: ${d.seed}`,
    },
    policies: { overlap: OVERLAP[d.overlap], catchupWindow: durationMs(d.catchupWindow), pauseOnFailure: d.pauseOnFailure },
    memo: { managedBy: MANAGED_BY, taskQueue },
    state: { paused: d.paused, note: d.paused ? 'paused as declared' : 'declared' },
  };
}

export type ChangeKind = 'create' | 'update' | 'delete' | 'unchanged' | 'waiting' | 'conflict';

export interface ScheduleChange {
  kind: ChangeKind;
  scheduleId: string;
  /** For update: each field that differs, with old and new values (JSON). */
  fields?: Array<{ field: string; from: string; to: string }>;
  detail?: string;
}

export interface SchedulePlan {
  taskQueue: string;
  changes: ScheduleChange[];
  wired: Map<string, WiredSchedule>;
}

function isOwned(memo: Record<string, unknown> | undefined, taskQueue: string): boolean {
  return memo?.managedBy === MANAGED_BY && memo?.taskQueue === taskQueue;
}

const json = (v: unknown): string => JSON.stringify(v ?? null);

async function describeOrUndefined(client: Client, scheduleId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

function storedDeclared(d: ScheduleDescription): Declared | undefined {
  if (d.action.type !== 'startWorkflow') return undefined;
  const m = d.action.memo?.runbookSchedule as { declared?: Declared } | undefined;
  return m?.declared;
}

/** Field-level differences between the declaration and the schedule on the server. */
export function differences(w: WiredSchedule, d: ScheduleDescription, taskQueue: string): NonNullable<ScheduleChange['fields']> {
  const out: NonNullable<ScheduleChange['fields']> = [];
  const want = declaredOf(w);
  const had = storedDeclared(d) ?? {};
  for (const [field, v] of Object.entries(want)) if (json(had[field]) !== json(v)) out.push({ field, from: json(had[field]), to: json(v) });
  // What the server really has: an edit made in the Web UI is a difference too.
  const a = d.action;
  const live: Array<[string, unknown, unknown]> = [
    ['action.workflowType', a.type === 'startWorkflow' ? a.workflowType : a.type, w.entry.workflowType],
    ['action.taskQueue', a.type === 'startWorkflow' ? a.taskQueue : undefined, taskQueue],
    ['action.input', a.type === 'startWorkflow' ? a.args?.[0] : undefined, w.decl.input],
    ['policies.overlap', d.policies.overlap, OVERLAP[w.decl.overlap]],
    ['policies.catchupWindow', d.policies.catchupWindow, durationMs(w.decl.catchupWindow)],
    ['policies.pauseOnFailure', d.policies.pauseOnFailure, w.decl.pauseOnFailure],
  ];
  for (const [field, from, to] of live) if (json(from) !== json(to)) out.push({ field: `${field} (on the server)`, from: json(from), to: json(to) });
  return out;
}

/** The diff between the declarations and the server, without changing anything. */
export async function planSchedules(client: Client, v: ValidatedSchedules): Promise<SchedulePlan> {
  const changes: ScheduleChange[] = [];
  const wired = new Map(v.wired.map((w) => [w.scheduleId, w]));
  const described = await Promise.all(v.wired.map((w) => describeOrUndefined(client, w.scheduleId)));
  v.wired.forEach((w, i) => {
    const d = described[i];
    if (!d) changes.push({ kind: 'create', scheduleId: w.scheduleId, detail: describeWhen(w.decl) });
    else if (!isOwned(d.memo, v.taskQueue))
      changes.push({
        kind: 'conflict',
        scheduleId: w.scheduleId,
        detail: 'a schedule with this id exists and was not made by `schedules apply` for this task queue; left alone',
      });
    else {
      const fields = differences(w, d, v.taskQueue);
      changes.push(fields.length ? { kind: 'update', scheduleId: w.scheduleId, fields } : { kind: 'unchanged', scheduleId: w.scheduleId });
    }
  });
  for (const decl of v.waiting)
    changes.push({ kind: 'waiting', scheduleId: scheduleIdOf(decl.id, v.taskQueue), detail: `runbook ${decl.runbook}: ${decl.waitingFor}` });
  // Owned schedules no longer declared. The list comes from visibility, which may lag: confirm each.
  for await (const s of client.schedule.list()) {
    if (wired.has(s.scheduleId) || !isOwned(s.memo, v.taskQueue)) continue;
    const d = await describeOrUndefined(client, s.scheduleId);
    if (d && isOwned(d.memo, v.taskQueue)) changes.push({ kind: 'delete', scheduleId: s.scheduleId, detail: 'no longer declared' });
  }
  return { taskQueue: v.taskQueue, changes, wired };
}

export interface ApplyReport {
  applied: ScheduleChange[];
  conflicts: ScheduleChange[];
}

/** Carries out a plan: create, update (keeping an operator's pause unless `paused` itself changed), delete. */
export async function applyPlan(client: Client, plan: SchedulePlan): Promise<ApplyReport> {
  const applied: ScheduleChange[] = [];
  for (const c of plan.changes) {
    const w = plan.wired.get(c.scheduleId);
    if (c.kind === 'create' && w) {
      await client.schedule.create(scheduleOptions(w, plan.taskQueue));
    } else if (c.kind === 'update' && w) {
      const { spec, action, policies, state } = scheduleOptions(w, plan.taskQueue);
      const pausedChanged = c.fields?.some((f) => f.field === 'paused') ?? false;
      await client.schedule.getHandle(c.scheduleId).update((prev) => ({
        spec,
        action,
        policies,
        // An operator's pause (with its note) survives an apply; a change of the declared `paused` wins.
        state: pausedChanged ? { paused: state?.paused ?? false, note: state?.note ?? '' } : { paused: prev.state.paused, note: prev.state.note ?? '' },
      }));
    } else if (c.kind === 'delete') {
      await client.schedule.getHandle(c.scheduleId).delete();
    } else continue;
    applied.push(c);
  }
  return { applied, conflicts: plan.changes.filter((c) => c.kind === 'conflict') };
}

/** Validate, plan and apply: what `npm start` and `schedules apply` run. */
export async function applySchedules(
  client: Client,
  declarations: readonly unknown[],
  taskQueue: string,
): Promise<{ plan: SchedulePlan; report: ApplyReport }> {
  const plan = await planSchedules(client, validateSchedules(declarations, taskQueue));
  return { plan, report: await applyPlan(client, plan) };
}

export function describeWhen(d: Pick<ScheduleDeclaration, 'when' | 'jitter'>): string {
  const base = 'cron' in d.when ? `cron "${d.when.cron}" UTC` : `every ${d.when.every}${d.when.offset ? ` (offset ${d.when.offset})` : ''}`;
  return d.jitter ? `${base}, jitter ${d.jitter}` : base;
}

/** The plan as lines for people: `+ create`, `~ update` with each field, `- delete`, `= unchanged`. */
export function formatPlan(plan: SchedulePlan): string[] {
  const sign: Record<ChangeKind, string> = { create: '+', update: '~', delete: '-', unchanged: '=', waiting: '…', conflict: '!' };
  const lines: string[] = [];
  for (const c of plan.changes) {
    lines.push(`${sign[c.kind]} ${c.kind.padEnd(9)} ${c.scheduleId}${c.detail ? `  (${c.detail})` : ''}`);
    for (const f of c.fields ?? []) lines.push(`      ${f.field}: ${truncate(f.from)} -> ${truncate(f.to)}`);
  }
  return lines;
}

function truncate(s: string, n = 120): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
