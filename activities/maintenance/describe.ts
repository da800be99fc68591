import type { MaintenanceTask } from './types';

/** The plan title of a task. `cutoff` (ISO) is the resolved cutoff of a retention task. */
export function describeTask(task: MaintenanceTask, database: string, cutoff?: string): string {
  const before = cutoff ? `before ${cutoff}` : `older than ${'olderThan' in task ? task.olderThan : '?'}`;
  switch (task.kind) {
    case 'vacuum-analyze':
      return `VACUUM (ANALYZE) ${task.table} on ${database}`;
    case 'analyze':
      return `ANALYZE ${task.table} on ${database}`;
    case 'reindex-table':
      return `REINDEX TABLE CONCURRENTLY ${task.table} on ${database}`;
    case 'refresh-materialized-view':
      return `REFRESH MATERIALIZED VIEW CONCURRENTLY ${task.view} on ${database}`;
    case 'mongo-rebuild-indexes':
      return `rebuild indexes of ${task.collection} on ${database}`;
    case 'reindex-if-bloated':
      return `REINDEX TABLE CONCURRENTLY ${task.table} on ${database} if its index bloat is at least ${Math.round(task.minBloatRatio * 100)}%`;
    case 'report':
      return `report deadlocks, long-running and idle-in-transaction sessions and top ${task.top} statements of ${database}`;
    case 'terminate-sessions': {
      const allow = [...task.allowUsers.map((u) => `user ${u}`), ...task.allowApplications.map((a) => `application ${a}`)];
      return (
        `terminate sessions on ${database} idle in transaction over ${task.idleInTransactionOver}` +
        (task.queryOver ? ` or running a query over ${task.queryOver}` : '') +
        (allow.length ? ` (except ${allow.join(', ')})` : '')
      );
    }
    case 'archive-rows':
      return `archive rows of ${task.table} with ${task.timeColumn} ${before} into ${task.archiveTable} on ${database}, ${task.batchSize} per batch`;
    case 'mongo-retention': {
      const f = task.filter && Object.keys(task.filter).length ? ` and ${JSON.stringify(task.filter)}` : '';
      return `delete documents of ${task.collection} with ${task.timeField} ${before}${f} on ${database}, ${task.batchSize} per batch`;
    }
  }
}
