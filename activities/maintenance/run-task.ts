// Runs one maintenance task exactly once per run, as far as the audit store can tell: a task whose
// completion is already recorded (the worker died after finishing it) is not run again. A task that was
// interrupted midway runs again; every task kind is safe to repeat (VACUUM, ANALYZE, REINDEX CONCURRENTLY,
// REFRESH CONCURRENTLY, index rebuild from saved specs, a bloat check, a report, terminating what is
// still over the threshold, archive and retention batches against a cutoff fixed at plan time).
import { Context } from '@temporalio/activity';
import type { Deps } from '../deps';
import { withHeartbeat } from '../heartbeat';
import { fromStored, rebuildIndexes, toStored, type IndexSpec, type StoredIndexSpec } from '../mongo/indexes';
import { maintenanceSql, runCancellable } from '../postgres/sql';
import { isDataTask, runDataTask } from './data-tasks';
import type { ResolvedTask } from './types';

export interface TaskRunInput {
  workflowId: string;
  runId: string;
  runbook: string;
  task: ResolvedTask;
}

export interface TaskRunResult {
  durationMs: number;
  detail: string;
  /** True when the audit store showed the task already done, so it was not run again. */
  alreadyDone: boolean;
}

export type MaintenanceTaskActivities = ReturnType<typeof createMaintenanceTaskActivities>;

export function createMaintenanceTaskActivities(deps: Deps) {
  return {
    async runMaintenanceTask(input: TaskRunInput): Promise<TaskRunResult> {
      const { task, workflowId, runId, runbook } = input;
      const base = `${workflowId}:${runId}:task:${task.index}`;
      const done = await deps.audit.find(`${base}:completed`);
      if (done) {
        const d = done.data as { durationMs?: number; detail?: string };
        return { durationMs: d.durationMs ?? 0, detail: `${d.detail ?? 'done'} (recorded earlier; not run again)`, alreadyDone: true };
      }
      const attempt = Context.current().info.attempt;
      const ev = { workflowId, runId, runbook, actor: 'worker' };
      await deps.audit.record({
        ...ev,
        key: `${base}:started:${attempt}`,
        kind: 'task-started',
        data: { index: task.index, description: task.description, attempt },
      });

      const started = Date.now();
      let detail: string;
      const t = task.task;
      if (t.kind === 'mongo-rebuild-indexes') {
        // Save the index specs before the first drop, so a retry after a crash recreates them all.
        const specsKey = `${base}:mongo-index-specs`;
        const saved = (await deps.audit.find(specsKey))?.data as { specs?: StoredIndexSpec[] } | undefined;
        const db = deps.mongo(task.database);
        let specs = saved?.specs?.map(fromStored);
        if (!specs) {
          specs = ((await db.collection(t.collection).listIndexes().toArray()) as IndexSpec[]).filter((i) => i.name !== '_id_');
          await deps.audit.record({ ...ev, key: specsKey, kind: 'task-checkpoint', data: { specs: specs.map(toStored) } });
        }
        const res = await withHeartbeat(() => rebuildIndexes(db, t.collection, specs));
        detail = res.rebuilt.length ? `rebuilt ${res.rebuilt.length} index(es): ${res.rebuilt.join(', ')}` : 'no secondary indexes';
      } else if (isDataTask(t)) {
        detail = await runDataTask(deps, input);
      } else {
        const sql = maintenanceSql(t);
        await withHeartbeat(
          (signal) => runCancellable(deps.pg(task.database), sql, signal),
          () => ({ running: sql }),
        );
        detail = sql;
      }
      const durationMs = Date.now() - started;
      await deps.audit.record({
        ...ev,
        key: `${base}:completed`,
        kind: 'task-completed',
        data: { index: task.index, description: task.description, durationMs, detail },
      });
      return { durationMs, detail, alreadyDone: false };
    },
  };
}
