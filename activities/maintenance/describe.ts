import type { MaintenanceTask } from './types';

export function describeTask(task: MaintenanceTask, database: string): string {
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
  }
}
