// The guard of the tasks that delete data (archive-rows, mongo-retention): they run only when a verified
// backup of what they touch, newer than `backups.requireVerifiedWithin`, exists. Either this run's own
// pre-change pg_dump (the maintenance window's `backup` step, recorded in the audit store; Postgres only)
// or a verified set of the `backup` runbook that holds the task's database.
import { stat } from 'node:fs/promises';
import { durationMs } from '../../common/duration';
import type { BackupInfo } from '../backup-store/pg-dump';
import { latestVerifiedSet } from '../backups/sets';
import { createBackupStore } from '../backups/store';
import type { Deps } from '../deps';
import { InvalidTargetError, UnsafeOperationError } from '../errors';
import type { ResolvedTask } from './types';

export interface GuardInput {
  workflowId: string;
  runId: string;
  task: ResolvedTask;
}

const age = (ms: number): string =>
  ms < 120_000 ? `${Math.round(ms / 1000)}s` : ms < 7200_000 ? `${Math.round(ms / 60_000)}m` : `${Math.round(ms / 3600_000)}h`;

/** The run's own verified pg_dump of the task's database, if it has one newer than `maxAgeMs`. */
async function runBackup(deps: Deps, g: GuardInput, maxAgeMs: number): Promise<string | undefined> {
  if (g.task.task.kind !== 'archive-rows') return undefined;
  const row = await deps.audit.find(`${g.workflowId}:${g.runId}:backup`);
  if (!row || row.kind !== 'backup-verified') return undefined;
  const b = row.data as unknown as BackupInfo;
  const ms = Date.now() - row.at.getTime();
  if (b.database !== g.task.database || ms > maxAgeMs) return undefined;
  const size = await stat(b.file).then(
    (s) => s.size,
    () => undefined,
  );
  if (size !== b.bytes) return undefined;
  return `this run's verified pg_dump ${b.file} (${age(ms)} old, sha256 ${b.sha256.slice(0, 12)})`;
}

/** The newest verified backup set of the service, if it holds what the task touches and is newer than `maxAgeMs`. */
async function backupSet(deps: Deps, task: ResolvedTask, maxAgeMs: number): Promise<{ ok?: string; why: string }> {
  const service = task.service;
  if (!service) return { why: 'no service' };
  const store = createBackupStore(deps.config.backups);
  const m = await latestVerifiedSet(store, service);
  if (!m) return { why: `no verified backup set of ${service} in ${store.location}` };
  const ms = Date.now() - Date.parse(m.finishedAt);
  if (ms > maxAgeMs) return { why: `the newest verified set of ${service}, ${m.setId}, finished ${age(ms)} ago` };
  const t = task.task;
  const src = m.sources.find((s) => s.store === (t.kind === 'mongo-retention' ? 'mongo' : 'postgres') && s.target === task.database);
  if (!src) return { why: `the newest verified set of ${service}, ${m.setId}, does not hold ${task.database}` };
  if (t.kind === 'mongo-retention' && src.store === 'mongo' && !src.collections.some((c) => c.name === t.collection)) {
    return { why: `the newest verified set of ${service}, ${m.setId}, does not hold ${t.collection} of ${task.database}` };
  }
  return { ok: `verified backup set ${m.setId} of ${service} (${age(ms)} old)`, why: '' };
}

function refusal(task: ResolvedTask, within: string, ownNote: string, setWhy: string, when: string): string {
  return (
    `tasks[${task.index}] (${task.task.kind}): refused: no verified backup of ${task.database} newer than ${within} ` +
    `(${ownNote}; ${setWhy}); ${when}. Run the backup runbook for ${task.service ?? 'the service'}` +
    (task.task.kind === 'archive-rows' ? ' or keep the window\'s "backup": true' : '') +
    ', then start again'
  );
}

/**
 * At plan time, so a run that would be refused is refused before anyone is asked to approve it: the
 * window's own pg_dump will cover an archive of the database it dumps; anything else needs a verified set
 * now. Returns what the task will rely on (the run-time guard checks again before the first batch).
 */
export async function planBackupGuard(deps: Deps, task: ResolvedTask, windowBackupOf: string | undefined): Promise<string> {
  const within = deps.config.backups.requireVerifiedWithin;
  if (task.task.kind === 'archive-rows' && windowBackupOf === task.database) return `relies on this run's pre-change pg_dump of ${task.database}`;
  const set = await backupSet(deps, task, durationMs(within));
  if (set.ok) return `relies on ${set.ok}`;
  const ownNote =
    task.task.kind === 'archive-rows'
      ? windowBackupOf
        ? `this run dumps ${windowBackupOf}, not ${task.database}`
        : 'this run takes no pg_dump ("backup": false)'
      : 'a pg_dump does not cover Mongo';
  throw new InvalidTargetError(refusal(task, within, ownNote, set.why, 'nothing would be changed'));
}

/** Says which backup the task relies on, or refuses (UnsafeOperationError) before the task changes anything. */
export async function requireVerifiedBackup(deps: Deps, g: GuardInput): Promise<string> {
  const within = deps.config.backups.requireVerifiedWithin;
  const maxAgeMs = durationMs(within);
  const own = await runBackup(deps, g, maxAgeMs);
  if (own) return own;
  const set = await backupSet(deps, g.task, maxAgeMs);
  if (set.ok) return set.ok;
  const ownNote = g.task.task.kind === 'archive-rows' ? `this run made no verified pg_dump of ${g.task.database}` : 'a pg_dump does not cover Mongo';
  throw new UnsafeOperationError(refusal(g.task, within, ownNote, set.why, 'nothing was changed'));
}
