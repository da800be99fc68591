// What every activity that reads backup sets needs: the configured store (opened once), the Postgres tools
// and targets, the retry attempt, a checksum mismatch turned non-retryable, a source of a manifest, and a
// short-lived Postgres connection. One place, so the drill, the restore and disaster recovery agree.
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Client as PgClient } from 'pg';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { ChecksumMismatchError, type BackupManifest, type BackupSource, type BackupStore } from './contract';
import { createBackupStore } from './store';

/** The activity's attempt (1 outside an activity). */
export function attempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/** A checksum mismatch does not heal by retrying: fail the step at once, naming the object. */
export function nonRetryableChecksum(err: unknown): never {
  if (err instanceof Error && err.name === ChecksumMismatchError.name) throw ApplicationFailure.nonRetryable(err.message, err.name);
  throw err;
}

/** The manifest's source of `kind` for `target`, or an InvalidTargetError naming the set. */
export function sourceOf<S extends BackupSource['store']>(m: BackupManifest, kind: S, target: string): Extract<BackupSource, { store: S }> {
  const s = m.sources.find((x) => x.store === kind && x.target === target);
  if (!s) throw new InvalidTargetError(`backup set ${m.setId} holds no ${kind} source of target "${target}"`);
  return s as Extract<BackupSource, { store: S }>;
}

/** One connection for `fn`, always closed. */
export async function withPg<T>(url: string, fn: (c: PgClient) => Promise<T>, connectTimeoutMs = 5000): Promise<T> {
  const c = new PgClient({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** `openStore`: where the sets are read from; default the configured store (createBackupStore). */
export function backupAccess(deps: Deps, openStore?: () => BackupStore) {
  let opened: BackupStore | undefined;
  return {
    store: (): BackupStore => (opened ??= openStore ? openStore() : createBackupStore(deps.config.backups)),
    bin: (tool: string): string => (deps.config.backups.pgBinDir ? path.join(deps.config.backups.pgBinDir, tool) : tool),
    pgUrl: (target: string): string => {
      const t = deps.config.postgres[target];
      if (!t) throw new InvalidTargetError(`postgres target "${target}" is not configured; known: ${Object.keys(deps.config.postgres).join(', ') || '(none)'}`);
      return t.url;
    },
  };
}
