// The maintenance tasks that look at or change data and sessions rather than run one statement:
// reindex-if-bloated, report, terminate-sessions, archive-rows and mongo-retention. Each returns the
// detail recorded with the task (the report itself, what was terminated, how many rows moved).
import { withHeartbeat } from '../heartbeat';
import type { Deps } from '../deps';
import { UnsafeOperationError } from '../errors';
import { qualifiedName, runCancellable } from '../postgres/sql';
import { archiveRows } from './archive-rows';
import { requireVerifiedBackup } from './backup-guard';
import { describeBloat, estimateIndexBloat } from './bloat';
import { deleteExpired } from './mongo-retention';
import { databaseReport, listSessions, terminateSessions } from './sessions';
import type {
  ArchiveRowsTask,
  DatabaseReportTask,
  MaintenanceTask,
  MongoRetentionTask,
  ReindexIfBloatedTask,
  ResolvedTask,
  TerminateSessionsTask,
} from './types';

export type DataTask = ReindexIfBloatedTask | DatabaseReportTask | TerminateSessionsTask | ArchiveRowsTask | MongoRetentionTask;

const DATA_KINDS = new Set<string>(['reindex-if-bloated', 'report', 'terminate-sessions', 'archive-rows', 'mongo-retention']);

export function isDataTask(t: MaintenanceTask): t is DataTask {
  return DATA_KINDS.has(t.kind);
}

/** What runMaintenanceTask passes on. */
export interface DataTaskInput {
  workflowId: string;
  runId: string;
  task: ResolvedTask;
}

function cutoffOf(task: ResolvedTask): string {
  if (!task.cutoff)
    throw new UnsafeOperationError(`tasks[${task.index}] (${task.task.kind}): no cutoff was fixed when the run was planned; nothing was changed`);
  return task.cutoff;
}

export async function runDataTask(deps: Deps, input: DataTaskInput): Promise<string> {
  const { task } = input;
  const t = task.task as DataTask;
  const field = `tasks[${task.index}]`;
  switch (t.kind) {
    case 'reindex-if-bloated': {
      const pool = deps.pg(task.database);
      const before = await estimateIndexBloat(pool, t.table);
      if (before.ratio < t.minBloatRatio) return `${describeBloat(before)}: below ${Math.round(t.minBloatRatio * 100)}%, not reindexed`;
      const sql = `REINDEX TABLE CONCURRENTLY ${qualifiedName(t.table)}`;
      await withHeartbeat(
        (signal) => runCancellable(pool, sql, signal),
        () => ({ running: sql }),
      );
      const after = await estimateIndexBloat(pool, t.table);
      return `${describeBloat(before)}: reindexed; now ${describeBloat(after)}`;
    }
    case 'report':
      return databaseReport(deps.pg(task.database), t);
    case 'terminate-sessions': {
      // The window's gate is the approval; in production this checks it was given before ending anyone's session.
      if (task.environment === 'production') {
        const gate = await deps.audit.find(`${input.workflowId}:${input.runId}:approval-decided`);
        if ((gate?.data as { status?: string } | undefined)?.status !== 'approved') {
          throw new UnsafeOperationError(
            `${field} (terminate-sessions): ${task.service ?? 'the service'} runs in production and this run has no recorded approval; nothing was terminated`,
          );
        }
      }
      const r = await terminateSessions(deps.pg(task.database), t);
      return `terminated ${r.terminated.length}: ${listSessions(r.terminated)}${r.failed.length ? `; could not terminate: ${listSessions(r.failed)}` : ''}`;
    }
    case 'archive-rows': {
      const backup = await requireVerifiedBackup(deps, input);
      const r = await archiveRows(deps.pg(task.database), t, cutoffOf(task), field);
      return `moved ${r.moved} row(s) with ${t.timeColumn} before ${task.cutoff} to ${t.archiveTable} in ${r.batches} batch(es)${r.left ? `; ${r.left} left (locked by others)` : ''}; relied on ${backup}`;
    }
    case 'mongo-retention': {
      const backup = await requireVerifiedBackup(deps, input);
      const r = await deleteExpired(deps.mongo(task.database), t, cutoffOf(task));
      return `deleted ${r.deleted} document(s) with ${t.timeField} before ${task.cutoff} in ${r.batches} batch(es)${r.left ? `; ${r.left} still match` : ''}; relied on ${backup}`;
    }
  }
}
