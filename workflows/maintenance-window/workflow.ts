// Planned maintenance window (seeds 002 "Weekly Maintenance", 003 "Scheduled Maintenance", 004 "Planned
// Maintenance" and "Database Maintenance"):
//   pre-checks -> notify -> approval -> wait for the window -> [exclusive use of the service] -> backup ->
//   maintenance mode + drain the job queue -> scale workers to 0 -> tasks -> verify -> scale back up ->
//   maintenance mode off -> monitor -> report.
// The window's end is the run's deadline: no step that changes anything starts after it; the run stops
// there, undoes what it changed (scale back up, maintenance mode off) and reports what was and wasn't done.
import { ApplicationFailure, sleep } from '@temporalio/workflow';
import type { ResolvedService, ResolvedTask } from '../../activities';
import { ErrorType } from '../lib/errors';
import { invalidInput, runRunbook, type Resume, type Run, type RunbookDefinition, type Step } from '../lib/kit';
import { backups, health, lookups, maintenanceTasks, platform, queues, waits } from '../lib/proxies';
import { toMs } from '../lib/schema';
import {
  maintenanceWindowInputSchema,
  resolveWindow,
  type MaintenanceWindowInput,
  type MaintenanceWindowParams,
  type MaintenanceWindowResult,
  type TaskOutcome,
} from './contract';
import type { BackupInfo } from '../../activities';

const TYPE = 'maintenanceWindow';

interface Target {
  service: ResolvedService;
  tasks: ResolvedTask[];
  window: { start: number; end: number };
}

interface State {
  tasks: TaskOutcome[];
  backup?: BackupInfo;
  maintenanceWasOn?: boolean;
  replicasBefore?: number;
  monitor?: { until: number; checks: number; failures: number; failedBefore?: number };
}

type MwRun = Run<MaintenanceWindowParams, Target, State>;
type MwStep = Step<MaintenanceWindowParams, Target, State>;

const iso = (ms: number): string => new Date(ms).toISOString();

function steps(input: MaintenanceWindowParams, t: Target): Array<MwStep | false | undefined> {
  const service = input.service;
  const q = t.service.queue;
  const stores = [...t.service.postgres, ...t.service.mongo, ...(q ? [q.redis] : [])];
  const a = input.approval;
  const db = input.backup ? t.service.backupDatabase : undefined;
  const win = `${iso(t.window.start)} .. ${iso(t.window.end)}`;
  return [
    {
      id: 'precheck-health',
      kind: 'check',
      title: `check ${service} health`,
      run: async (r) => {
        r.status('pre-checks', 'checking the service before asking for approval');
        const h = await health.checkHealth({ service });
        if (!h.healthy) r.stop('aborted', `pre-check failed: ${service} is unhealthy (${h.status ?? h.detail}); nothing was changed`);
        return `HTTP ${h.status ?? '-'} in ${h.latencyMs}ms`;
      },
    },
    {
      id: 'precheck-connectivity',
      kind: 'check',
      title: `check connectivity to ${stores.join(', ') || 'no data stores'}`,
      run: async (r) => {
        const conn = await health.checkConnectivity({ service });
        const down = conn.filter((c) => !c.ok);
        if (down.length) r.stop('aborted', `pre-check failed: cannot reach ${down.map((c) => `${c.target} (${c.error})`).join(', ')}; nothing was changed`);
        return conn.map((c) => `${c.target} ok ${c.latencyMs}ms`).join(', ');
      },
    },
    {
      id: 'notify-start',
      kind: 'notify',
      title: 'notify stakeholders of the planned maintenance',
      run: (r) =>
        r.tell(
          'planned',
          'info',
          'stakeholders',
          `Planned maintenance of ${service}`,
          `Window ${win}, requested by ${input.requestedBy}. Plan: ` + r.plan.map((s, i) => `${i + 1}. ${s.title}`).join('; '),
        ),
    },
    {
      id: 'approval',
      kind: 'gate',
      title: `approval by ${a.quorum} of role ${a.approverRoles.join('/')}${a.approvers ? ` among ${a.approvers.join(', ')}` : ''} (timeout ${a.timeout})`,
      run: async (r) => {
        const s = await r.approve({ detail: `${input.tasks.length} task(s) in the window ${win}.`, deniedNote: 'no maintenance task was run' });
        return `${s.status}: ${s.reason ?? ''}`;
      },
    },
    {
      id: 'wait-window',
      kind: 'wait',
      title: `wait for the window ${win}`,
      run: async (r) => {
        if (Date.now() < t.window.start) {
          r.status('waiting-for-window', `approved; waiting for the window to open at ${iso(t.window.start)}`);
          await sleep(t.window.start - Date.now());
        }
        r.status('running', 'maintenance in progress');
      },
    },
    db !== undefined && {
      id: 'backup',
      kind: 'backup',
      changes: true,
      title: `pg_dump ${db} and verify it`,
      run: async (r) => {
        const b = await backups.backupPostgres({ database: db, name: `${r.workflowId}-${r.runKey}-pre-maintenance` });
        r.state.backup = b;
        await r.audit('backup-verified', 'backup', { ...b });
        return `${b.bytes} bytes, ${b.tables} tables, sha256 ${b.sha256.slice(0, 12)}${b.reused ? ' (reused)' : ''}`;
      },
    },
    {
      // Each change reads the state first; its undo puts back what was there, so maintenance mode that was
      // on before this run stays on.
      id: 'maintenance-on',
      kind: 'scale',
      changes: true,
      title: `put ${service} in maintenance mode (refuse new jobs)`,
      undo: {
        name: 'maintenance-off',
        run: async (r) => {
          if (r.state.maintenanceWasOn === false) await platform.setMaintenanceMode({ service, enabled: false });
        },
      },
      run: async (r) => {
        r.state.maintenanceWasOn = (await platform.platformState({ service })).maintenance;
        if (r.state.maintenanceWasOn) return 'was already on';
        await platform.setMaintenanceMode({ service, enabled: true });
        return undefined;
      },
    },
    q && {
      id: 'drain',
      kind: 'drain',
      changes: true,
      title: `drain ${q.pending} and ${q.processing} (timeout ${input.drainTimeout})`,
      run: async (r) => {
        const drainMs = Math.max(1000, Math.min(toMs(input.drainTimeout), t.window.end - Date.now()));
        const d = await waits(drainMs).waitForQueueDrain({ service, timeoutMs: drainMs });
        const detail = `${d.drained ? 'drained' : 'NOT drained'} in ${d.waitedMs}ms (pending ${d.pending}, processing ${d.processing})`;
        if (!d.drained) {
          if (r.deadline && Date.now() >= r.deadline.atMs) r.stop(r.deadline.outcome, `${r.deadline.passed} before "scale-down"`);
          r.stop('aborted', `the queue did not drain within ${drainMs}ms (${d.pending} pending, ${d.processing} processing); no task was run`);
        }
        return detail;
      },
    },
    q && {
      id: 'scale-down',
      kind: 'scale',
      changes: true,
      title: 'scale queue workers to 0',
      undo: {
        name: 'scale-up',
        run: async (r) => {
          if (r.state.replicasBefore) await platform.scaleWorkers({ service, replicas: r.state.replicasBefore });
        },
      },
      run: async (r) => {
        const before = (await platform.platformState({ service })).replicas;
        r.state.replicasBefore = before;
        await platform.scaleWorkers({ service, replicas: 0 });
        return `${before} -> 0`;
      },
    },
    ...t.tasks.map(
      (task): MwStep => ({
        id: `task-${task.index + 1}`,
        kind: 'task',
        changes: true,
        title: task.description,
        run: async (r) => {
          const x = await maintenanceTasks.runMaintenanceTask({ workflowId: r.workflowId, runId: r.runKey, runbook: TYPE, task });
          Object.assign(r.state.tasks[task.index]!, { status: 'done', durationMs: x.durationMs, detail: x.detail });
          return `${x.durationMs}ms`;
        },
      }),
    ),
    {
      id: 'verify',
      kind: 'verify',
      title: `verify ${service} health and connectivity`,
      run: async () => {
        const h = await health.checkHealth({ service });
        const bad = (await health.checkConnectivity({ service })).filter((x) => !x.ok);
        if (!h.healthy || bad.length) {
          throw ApplicationFailure.create({
            type: ErrorType.VerificationFailed,
            nonRetryable: true,
            message: `verification failed: health ${h.healthy ? 'ok' : `failed (${h.status ?? h.detail})`}${bad.length ? `; unreachable: ${bad.map((b) => b.target).join(', ')}` : ''}`,
          });
        }
        return `healthy, HTTP ${h.status}`;
      },
    },
    q && {
      id: 'scale-up',
      kind: 'scale',
      title: 'scale queue workers back to their previous count',
      settles: ['scale-up'],
      run: async (r) => `0 -> ${(await platform.scaleWorkers({ service, replicas: r.state.replicasBefore ?? 0 })).replicas}`,
    },
    {
      id: 'maintenance-off',
      kind: 'scale',
      title: 'leave maintenance mode',
      settles: ['maintenance-off'],
      run: async (r) => {
        if (r.state.maintenanceWasOn) return 'left on: it was on before this run';
        await platform.setMaintenanceMode({ service, enabled: false });
        return undefined;
      },
    },
    {
      id: 'monitor',
      kind: 'monitor',
      title: `monitor health every ${input.monitorInterval} for ${input.monitoringPeriod}`,
      resumable: true,
      run: async (r) => {
        r.status('monitoring', `watching ${service} for ${input.monitoringPeriod}`);
        if (!r.state.monitor) {
          const failedBefore = q ? (await queues.queueStats({ service })).failed : undefined;
          r.state.monitor = { until: Date.now() + toMs(input.monitoringPeriod), checks: 0, failures: 0, ...(failedBefore !== undefined ? { failedBefore } : {}) };
        }
        const m = r.state.monitor;
        const interval = toMs(input.monitorInterval);
        while (Date.now() < m.until) {
          await sleep(Math.max(1, Math.min(interval, m.until - Date.now())));
          const h = await health.checkHealth({ service });
          m.checks++;
          if (!h.healthy && ++m.failures <= 10) r.warnings.push(`monitoring: health check at ${iso(Date.now())} failed (${h.status ?? h.detail})`);
          await r.checkpoint();
        }
        if (m.failedBefore !== undefined) {
          const after = await queues.queueStats({ service });
          if (after.failed > m.failedBefore) r.warnings.push(`monitoring: ${after.failed - m.failedBefore} job(s) failed after maintenance`);
        }
        return `${m.checks} health checks, ${m.failures} failed`;
      },
    },
  ];
}

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
    const tasks = await lookups.resolveMaintenanceTasks({ service: input.service, tasks: input.tasks });
    return { service, tasks, window: resolveWindow(input.window, startedAtMs) };
  },
  approval: (i) => i.approval,
  deadline(input, startedAtMs) {
    const { end } = resolveWindow(input.window, startedAtMs);
    return { atMs: end, passed: `the maintenance window ended at ${iso(end)}`, gateReason: 'the maintenance window ends', outcome: 'window-ended' };
  },
  exclusive: (i) => ({ key: `service:${i.service}`, waitAtMost: '7d' }),
  initialState: (_i, t) => ({ tasks: t.tasks.map((x) => ({ index: x.index, description: x.description, status: 'not-run' as const })) }),
  steps,
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

export async function maintenanceWindow(
  input: MaintenanceWindowInput,
  resume?: Resume<Target, State>,
): Promise<MaintenanceWindowResult> {
  return runRunbook(maintenanceWindowRunbook, input, resume);
}
