// One transaction on a dedicated connection, cancelled on the server when the activity is (so a cancelled
// rollback step leaves nothing half-done), and Postgres errors that retrying cannot fix turned into
// non-retryable ones that name the step.
import type { Pool, QueryResult, QueryResultRow } from 'pg';
import type { PostgresRollbackStep } from '../../config/data-rollback';
import { InvalidTargetError, UnsafeOperationError } from '../errors';

export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
}

export async function inTransaction<T>(pool: Pool, signal: AbortSignal | undefined, fn: (c: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  const pid = (client as unknown as { processID: number }).processID;
  const onAbort = (): void => {
    pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    // A row held by the service for long surfaces as a (retried) error instead of a silent wait.
    await client.query("SET LOCAL lock_timeout = '30s'");
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    client.release(broken);
  }
}

/** Data and definition errors (class 22, 42) and FK violations recur on every retry: name the step instead. */
export function explainPgError(err: unknown, step: PostgresRollbackStep): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return err;
  const where = `dataRollback step "${step.id}" on ${step.table} (postgres target "${step.target}")`;
  const pgMessage = `${(err as Error).message}${(err as { detail?: string }).detail ? ` (${(err as { detail?: string }).detail})` : ''}`;
  if (code === '23503') return new UnsafeOperationError(`${where} would break a foreign key: ${pgMessage}; roll back the referencing rows first`);
  if (code.startsWith('22') || code.startsWith('42'))
    return new InvalidTargetError(`${where} does not fit the table: ${pgMessage}; fix the step's configuration`);
  return err;
}
