// Checks, read-only, that every maintenance task names something that exists and is safe to run: the
// database of each task (default: the service's first), the table, view or collection, and for a
// concurrent refresh the unique index it needs.
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { hasUniqueIndex, relationKind } from '../postgres/sql';
import { describeTask } from './describe';
import type { MaintenanceTask, ResolvedTask } from './types';

const TABLE_KINDS = new Set(['r', 'p', 'm']);

export type MaintenanceLookupActivities = ReturnType<typeof createMaintenanceLookupActivities>;

export function createMaintenanceLookupActivities(deps: Deps) {
  async function checkPostgresTask(task: Exclude<MaintenanceTask, { kind: 'mongo-rebuild-indexes' }>, field: string, database: string): Promise<void> {
    const pool = deps.pg(database);
    const name = task.kind === 'refresh-materialized-view' ? task.view : task.table;
    const kind = await relationKind(pool, name);
    if (kind === undefined) throw new InvalidTargetError(`${field}: relation "${name}" does not exist in ${database}`);
    if (task.kind === 'refresh-materialized-view') {
      if (kind !== 'm') throw new InvalidTargetError(`${field}: "${name}" in ${database} is not a materialized view`);
      if (!(await hasUniqueIndex(pool, name))) {
        throw new InvalidTargetError(
          `${field}: "${name}" has no unique index, so it cannot be refreshed CONCURRENTLY (a plain refresh would block readers); add one first`,
        );
      }
    } else if (!TABLE_KINDS.has(kind)) {
      throw new InvalidTargetError(`${field}: "${name}" in ${database} is not a table`);
    }
  }

  return {
    async resolveMaintenanceTasks(input: { service: string; tasks: MaintenanceTask[] }): Promise<ResolvedTask[]> {
      const svc = deps.service(input.service);
      const tasks: ResolvedTask[] = [];
      for (const [i, task] of input.tasks.entries()) {
        const isMongo = task.kind === 'mongo-rebuild-indexes';
        const owned = isMongo ? svc.mongo : svc.postgres;
        const database = task.database ?? owned[0];
        const field = `tasks[${i}]`;
        if (!database) {
          throw new InvalidTargetError(`${field}.database: service "${input.service}" has no ${isMongo ? 'mongo' : 'postgres'} target`);
        }
        if (!owned.includes(database)) {
          throw new InvalidTargetError(
            `${field}.database: "${database}" is not a ${isMongo ? 'mongo' : 'postgres'} target of service "${input.service}"; its targets: ${owned.join(', ') || '(none)'}`,
          );
        }
        if (isMongo) {
          const names = await deps.mongo(database).listCollections({ name: task.collection }, { nameOnly: true }).toArray();
          if (names.length === 0) {
            throw new InvalidTargetError(`${field}.collection: collection "${task.collection}" does not exist in ${database}`);
          }
        } else {
          await checkPostgresTask(task, `${field}.${task.kind === 'refresh-materialized-view' ? 'view' : 'table'}`, database);
        }
        tasks.push({ index: i, task: { ...task, database }, database, description: describeTask(task, database) });
      }
      return tasks;
    },
  };
}
