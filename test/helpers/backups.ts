// Backup sets for tests, written by the backup activities themselves (not the runbook), and a way to run
// an activity function as a given attempt outside a worker.
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createBackupSetActivities } from '../../activities/backups/backup';
import { setIdOf } from '../../activities/backups/contract';
import type { TestEnv } from './env';

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** Runs an activity function as attempt `attempt` of an activity (heartbeats, attempt number). */
export const act = <R>(fn: () => Promise<R>, attempt = 1): Promise<R> =>
  new MockActivityEnvironment({ attempt }, { logger: quiet }).run<[], R, () => Promise<R>>(fn);

/** A verified backup set of the env's Postgres and Mongo databases and the Redis keys under `redisPrefix`. */
export async function backupSet(env: TestEnv, redisPrefix: string): Promise<string> {
  const b = createBackupSetActivities(env.deps);
  const setId = setIdOf(new Date(), randomUUID());
  const set = { service: 'reports', setId };
  const startedAt = new Date().toISOString();
  const results = [
    await act(() => b.backupSetPostgres({ ...set, target: 'reports-db' })),
    await act(() => b.backupSetMongo({ ...set, target: 'reports-mongo' })),
    await act(() => b.backupSetRedis({ ...set, target: 'reports-redis', mode: 'keys', prefix: redisPrefix })),
  ];
  await act(() => b.writeManifest({ ...set, workflowId: 'test', startedAt, results }));
  await act(() => b.verifySet(set));
  return setId;
}
