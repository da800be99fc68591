// Checks, read-only, that every maintenance task names something that exists and is safe to run: the
// database of each task (default: the service's first), the table, view or collection, and for a
// concurrent refresh the unique index it needs. Retention tasks get their cutoff fixed here (a retry or a
// later batch uses the same one) and every newer task a preview of what it would do, measured now: the
// dry run shows it.
import { parseDuration } from '../../common/duration';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { hasUniqueIndex, relationKind } from '../postgres/sql';
import { checkArchiveShape, countOlder } from './archive-rows';
import { describeBloat, estimateIndexBloat } from './bloat';
import { describeTask } from './describe';
import { countExpired } from './mongo-retention';
import { listSessions, sessionsToTerminate } from './sessions';
import { planBackupGuard } from './backup-guard';
import { GUARDED_KINDS, MONGO_KINDS, type MaintenanceTask, type ResolvedTask } from './types';

const TABLE_KINDS = new Set(['r', 'p', 'm']);

export type MaintenanceLookupActivities = ReturnType<typeof createMaintenanceLookupActivities>;

/** The cutoff of `olderThan` (a duration back from now, or an ISO time); a cutoff in the future is refused. */
export function resolveCutoff(olderThan: string, field: string, nowMs = Date.now()): string {
  const ms = parseDuration(olderThan);
  const at = ms !== undefined ? nowMs - ms : Date.parse(olderThan);
  if (Number.isNaN(at)) throw new InvalidTargetError(`${field}: "${olderThan}" is neither a duration nor an ISO time`);
  if (at > nowMs)
    throw new InvalidTargetError(
      `${field}: the cutoff ${new Date(at).toISOString()} is in the future; every row would be older than it. Give a past time or a duration such as "2y"`,
    );
  return new Date(at).toISOString();
}

export function createMaintenanceLookupActivities(deps: Deps) {
  async function checkTable(database: string, name: string, field: string, kinds = TABLE_KINDS): Promise<string> {
    const kind = await relationKind(deps.pg(database), name);
    if (kind === undefined) throw new InvalidTargetError(`${field}: relation "${name}" does not exist in ${database}`);
    if (!kinds.has(kind)) throw new InvalidTargetError(`${field}: "${name}" in ${database} is not a table`);
    return kind;
  }

  async function checkPostgresTask(task: MaintenanceTask, field: string, database: string): Promise<void> {
    const pool = deps.pg(database);
    switch (task.kind) {
      case 'refresh-materialized-view': {
        const kind = await relationKind(pool, task.view);
        if (kind === undefined) throw new InvalidTargetError(`${field}.view: relation "${task.view}" does not exist in ${database}`);
        if (kind !== 'm') throw new InvalidTargetError(`${field}.view: "${task.view}" in ${database} is not a materialized view`);
        if (!(await hasUniqueIndex(pool, task.view))) {
          throw new InvalidTargetError(
            `${field}.view: "${task.view}" has no unique index, so it cannot be refreshed CONCURRENTLY (a plain refresh would block readers); add one first`,
          );
        }
        return;
      }
      case 'vacuum-analyze':
      case 'analyze':
      case 'reindex-table':
        await checkTable(database, task.table, `${field}.table`);
        return;
      case 'reindex-if-bloated':
        await checkTable(database, task.table, `${field}.table`, new Set(['r', 'm']));
        return;
      case 'archive-rows':
        await checkTable(database, task.table, `${field}.table`, new Set(['r', 'p']));
        await checkTable(database, task.archiveTable, `${field}.archiveTable`, new Set(['r', 'p']));
        await checkArchiveShape(pool, task, field);
        return;
      default:
        return;
    }
  }

  /** What the task would do if it ran now (read-only), for the dry run and the plan's record. */
  async function preview(task: MaintenanceTask, database: string, cutoff: string | undefined): Promise<string | undefined> {
    switch (task.kind) {
      case 'reindex-if-bloated': {
        const b = await estimateIndexBloat(deps.pg(database), task.table);
        return `${describeBloat(b)}: would ${b.ratio >= task.minBloatRatio ? '' : 'not '}reindex`;
      }
      case 'report':
        return 'read-only: the report is made when the task runs';
      case 'terminate-sessions':
        return `would terminate now: ${listSessions(await sessionsToTerminate(deps.pg(database), task))}`;
      case 'archive-rows':
        return `would move ${await countOlder(deps.pg(database), task, cutoff!)} row(s) in batches of ${task.batchSize}`;
      case 'mongo-retention':
        return `would delete ${await countExpired(deps.mongo(database), task, cutoff!)} document(s) in batches of ${task.batchSize}`;
      default:
        return undefined;
    }
  }

  return {
    /**
     * `backup`: whether the window takes its pre-change pg_dump (of the service's first Postgres target).
     * When given, a retention task that no verified backup will cover is refused here, before approval.
     */
    async resolveMaintenanceTasks(input: { service: string; tasks: MaintenanceTask[]; backup?: boolean }): Promise<ResolvedTask[]> {
      const svc = deps.service(input.service);
      const tasks: ResolvedTask[] = [];
      for (const [i, task] of input.tasks.entries()) {
        const isMongo = MONGO_KINDS.has(task.kind);
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
          const collection = 'collection' in task ? task.collection : '';
          const names = await deps.mongo(database).listCollections({ name: collection }, { nameOnly: true }).toArray();
          if (names.length === 0) {
            throw new InvalidTargetError(`${field}.collection: collection "${collection}" does not exist in ${database}`);
          }
        } else {
          await checkPostgresTask(task, field, database);
        }
        const cutoff = task.kind === 'archive-rows' || task.kind === 'mongo-retention' ? resolveCutoff(task.olderThan, `${field}.olderThan`) : undefined;
        const resolved: ResolvedTask = { index: i, task: { ...task, database }, database, description: describeTask(task, database, cutoff) };
        const p = await preview(task, database, cutoff);
        if (cutoff) resolved.cutoff = cutoff;
        if (p !== undefined) Object.assign(resolved, { preview: p, service: input.service, environment: svc.environment });
        if (GUARDED_KINDS.has(task.kind) && input.backup !== undefined) {
          resolved.preview = `${p}; ${await planBackupGuard(deps, resolved, input.backup ? svc.postgres[0] : undefined)}`;
        }
        tasks.push(resolved);
      }
      return tasks;
    },
  };
}
