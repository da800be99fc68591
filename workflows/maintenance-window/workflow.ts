// Planned maintenance window (seeds 002 "Weekly Maintenance", 003 "Scheduled Maintenance", 004 "Planned
// Maintenance" and "Database Maintenance"):
//   pre-checks -> notify -> approval -> wait for the window -> [exclusive use of the service] -> backup ->
//   maintenance mode + drain the job queue -> scale workers to 0 -> tasks -> verify -> scale back up ->
//   maintenance mode off -> monitor -> report.
// The window's end is the run's deadline: no step that changes anything starts after it; the run stops
// there, undoes what it changed (scale back up, maintenance mode off) and reports what was and wasn't done.
import { invalidInput, runRunbook, type Resume, type Run, type RunbookDefinition } from '../lib/kit';
import { lookups } from '../lib/proxies';
import {
  maintenanceWindowInputSchema,
  resolveWindow,
  type MaintenanceWindowInput,
  type MaintenanceWindowParams,
  type MaintenanceWindowResult,
} from './contract';
import { maintenanceSteps, type State, type Target } from './steps';

const TYPE = 'maintenanceWindow';

type MwRun = Run<MaintenanceWindowParams, Target, State>;

const iso = (ms: number): string => new Date(ms).toISOString();

function tasksNote(r: MwRun): string {
  const done = r.state.tasks.filter((x) => x.status === 'done').map((x) => x.description);
  const notDone = r.state.tasks.filter((x) => x.status !== 'done').map((x) => x.description);
  return `Done: ${done.length ? done.join('; ') : 'no task'}. Not done: ${notDone.length ? notDone.join('; ') : 'none'}.`;
}

export const maintenanceWindowRunbook: RunbookDefinition<MaintenanceWindowParams, Target, State, MaintenanceWindowResult> = {
  type: TYPE,
  schema: maintenanceWindowInputSchema,
  subject: (i) => `maintenance of ${i.service}`,
  target: (i) => i.service,
  validate(input, startedAtMs) {
    const { end } = resolveWindow(input.window, startedAtMs);
    if (end <= startedAtMs) throw invalidInput(TYPE, `window.end: ${iso(end)} is already past`);
  },
  async resolve(input, startedAtMs) {
    const service = await lookups.resolveService({ service: input.service });
    const tasks = await lookups.resolveMaintenanceTasks({ service: input.service, tasks: input.tasks, backup: input.backup });
    return { service, tasks, window: resolveWindow(input.window, startedAtMs) };
  },
  approval: (i) => i.approval,
  deadline(input, startedAtMs) {
    const { end } = resolveWindow(input.window, startedAtMs);
    return { atMs: end, passed: `the maintenance window ended at ${iso(end)}`, gateReason: 'the maintenance window ends', outcome: 'window-ended' };
  },
  exclusive: (i) => ({ key: `service:${i.service}`, waitAtMost: '7d' }),
  // A task's preview (what it would do, measured at plan time) is its detail until it runs: the dry run shows it.
  initialState: (_i, t) => ({
    tasks: t.tasks.map((x) => ({ index: x.index, description: x.description, status: 'not-run' as const, ...(x.preview ? { detail: x.preview } : {}) })),
  }),
  steps: maintenanceSteps,
  completed: (r) =>
    `${r.target.tasks.length} task(s) done on ${r.input.service}; ${r.state.monitor?.checks ?? 0} health check(s) after, ${r.state.monitor?.failures ?? 0} failed`,
  progressNote: tasksNote,
  result(base, r) {
    // Once the run began to change things, a task it did not run was skipped, not merely not reached.
    const began = base.plan.some((s) => (s.kind === 'task' || s.id === 'maintenance-on') && (s.status === 'done' || s.status === 'failed'));
    const tasks = r.state.tasks.map((x) => (began && x.status === 'not-run' ? { ...x, status: 'skipped' as const } : x));
    return { ...base, service: r.input.service, tasks, ...(r.state.backup ? { backup: r.state.backup } : {}) };
  },
};

export async function maintenanceWindow(input: MaintenanceWindowInput, resume?: Resume<Target, State>): Promise<MaintenanceWindowResult> {
  return runRunbook(maintenanceWindowRunbook, input, resume);
}
