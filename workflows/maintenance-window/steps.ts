// The maintenance window's steps, in plan order, one function per phase. Each step reads the run's typed
// state and writes what later steps (and the result) need into it.
import { ApplicationFailure, sleep } from '@temporalio/workflow';
import { ErrorType } from '../lib/errors';
import type { Step } from '../lib/kit';
import { backups, health, maintenanceTasks, platform, queues, waits } from '../lib/proxies';
import { toMs } from '../lib/schema';
import type { MaintenanceWindowParams, TaskOutcome } from './contract';
import type { BackupInfo, ResolvedService, ResolvedTask } from '../../activities';

/** What the run acts on, resolved once before the plan is made. */
export interface Target {
  service: ResolvedService;
  tasks: ResolvedTask[];
  window: { start: number; end: number };
}

/** What steps learn and later steps (and the result) need; carried by continue-as-new. */
export interface State {
  tasks: TaskOutcome[];
  backup?: BackupInfo;
  maintenanceWasOn?: boolean;
  replicasBefore?: number;
  monitor?: { until: number; checks: number; failures: number; failedBefore?: number };
}

type MwStep = Step<MaintenanceWindowParams, Target, State>;

const TYPE = 'maintenanceWindow';
const iso = (ms: number): string => new Date(ms).toISOString();
const windowOf = (t: Target): string => `${iso(t.window.start)} .. ${iso(t.window.end)}`;

export function maintenanceSteps(input: MaintenanceWindowParams, t: Target): Array<MwStep | false | undefined> {
  return [...preChecks(input, t), ...gate(input, t), ...changes(input, t), ...restore(input, t), ...monitoring(input, t)];
}

/** Read-only: is the service healthy and reachable, and who should know. */
function preChecks(input: MaintenanceWindowParams, t: Target): Array<MwStep | false | undefined> {
  const service = input.service;
  const q = t.service.queue;
  const stores = [...t.service.postgres, ...t.service.mongo, ...(q ? [q.redis] : [])];
  const win = windowOf(t);
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
  ];
}

/** Approval, then the window opening. */
function gate(input: MaintenanceWindowParams, t: Target): Array<MwStep | false | undefined> {
  const a = input.approval;
  const win = windowOf(t);
  return [
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
  ];
}

/** The changes, each with its undo registered before it runs: backup, maintenance mode, drain, scale to 0, tasks. */
function changes(input: MaintenanceWindowParams, t: Target): Array<MwStep | false | undefined> {
  const service = input.service;
  const q = t.service.queue;
  const db = input.backup ? t.service.backupDatabase : undefined;
  return [
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
    ...t.tasks.map((task): MwStep => ({
      id: `task-${task.index + 1}`,
      kind: 'task',
      changes: true,
      title: task.description,
      run: async (r) => {
        const x = await maintenanceTasks.runMaintenanceTask({ workflowId: r.workflowId, runId: r.runKey, runbook: TYPE, task });
        Object.assign(r.state.tasks[task.index]!, { status: 'done', durationMs: x.durationMs, detail: x.detail });
        return `${x.durationMs}ms`;
      },
    })),
  ];
}

/** Verify, then put the service back as it was (settling the undos registered above). */
function restore(input: MaintenanceWindowParams, t: Target): Array<MwStep | false | undefined> {
  const service = input.service;
  const q = t.service.queue;
  return [
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
  ];
}

/** Watch the service; continues as new when its history grows large. */
function monitoring(input: MaintenanceWindowParams, t: Target): Array<MwStep | false | undefined> {
  const service = input.service;
  const q = t.service.queue;
  return [
    {
      id: 'monitor',
      kind: 'monitor',
      title: `monitor health every ${input.monitorInterval} for ${input.monitoringPeriod}`,
      resumable: true,
      run: async (r) => {
        r.status('monitoring', `watching ${service} for ${input.monitoringPeriod}`);
        if (!r.state.monitor) {
          const failedBefore = q ? (await queues.queueStats({ service })).failed : undefined;
          r.state.monitor = {
            until: Date.now() + toMs(input.monitoringPeriod),
            checks: 0,
            failures: 0,
            ...(failedBefore !== undefined ? { failedBefore } : {}),
          };
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
