// Resolves what a runbook will act on, read-only, before anything changes: the service, the database of
// each task (defaults from the service), and whether every table, view and collection exists. Errors name
// the input field and are non-retryable, so bad input fails fast.
import type { Deps } from './deps';
import { InvalidTargetError } from './errors';
import { hasUniqueIndex, relationKind } from './postgres/sql';
import { describeTask, type ResolvedTask } from './maintenance/describe';
import type { MaintenanceTask } from '../workflows/maintenance-window.input';

export interface ResolvedService {
  service: string;
  postgres: string[];
  mongo: string[];
  /** Postgres target the pre-maintenance backup dumps. */
  backupDatabase?: string;
  queue?: { redis: string; pending: string; processing: string; failed: string };
  platform: string;
  tasks: ResolvedTask[];
}

const TABLE_KINDS = new Set(['r', 'p', 'm']);

export function createTargetActivities(deps: Deps) {
  async function checkPostgresTask(task: MaintenanceTask, field: string, database: string): Promise<void> {
    if (task.kind === 'mongo-rebuild-indexes') return;
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
    async resolveService(input: { service: string; tasks: MaintenanceTask[] }): Promise<ResolvedService> {
      const svc = deps.config.services[input.service];
      if (!svc) {
        throw new InvalidTargetError(
          `service: "${input.service}" is not configured; known services: ${Object.keys(deps.config.services).join(', ') || '(none)'}`,
        );
      }
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
      return {
        service: input.service,
        postgres: svc.postgres,
        mongo: svc.mongo,
        ...(svc.postgres[0] ? { backupDatabase: svc.postgres[0] } : {}),
        ...(svc.queue ? { queue: svc.queue } : {}),
        platform: svc.platform.kind,
        tasks,
      };
    },

    /** Everyone in the approver directory with their roles (no contact details enter history). */
    async approverDirectory(): Promise<Record<string, string[]>> {
      return Object.fromEntries(Object.entries(deps.config.people).map(([who, p]) => [who, p.roles]));
    },
  };
}
