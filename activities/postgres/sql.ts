import { escapeIdentifier, type Pool } from 'pg';
import type { MaintenanceTask } from '../maintenance/types';

/** "public.reports" -> "public"."reports", each part quoted by the driver's helper. */
export function qualifiedName(name: string): string {
  return name
    .split('.')
    .map((part) => escapeIdentifier(part))
    .join('.');
}

type PgTask = Extract<MaintenanceTask, { kind: 'vacuum-analyze' | 'analyze' | 'reindex-table' | 'refresh-materialized-view' }>;

export function maintenanceSql(task: PgTask): string {
  switch (task.kind) {
    case 'vacuum-analyze':
      return `VACUUM (ANALYZE) ${qualifiedName(task.table)}`;
    case 'analyze':
      return `ANALYZE ${qualifiedName(task.table)}`;
    case 'reindex-table':
      return `REINDEX TABLE CONCURRENTLY ${qualifiedName(task.table)}`;
    case 'refresh-materialized-view':
      return `REFRESH MATERIALIZED VIEW CONCURRENTLY ${qualifiedName(task.view)}`;
  }
}

/**
 * Runs one statement on a dedicated connection; if `signal` aborts (activity cancelled, worker shutting
 * down), asks the server to cancel it so nothing keeps running unattended.
 */
export async function runCancellable(pool: Pool, sql: string, signal?: AbortSignal): Promise<void> {
  const client = await pool.connect();
  const pid = (client as unknown as { processID: number }).processID;
  const onAbort = (): void => {
    pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.query(sql);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    client.release();
  }
}

/** relkind of a relation, or undefined when it does not exist. */
export async function relationKind(pool: Pool, name: string): Promise<string | undefined> {
  const res = await pool.query<{ relkind: string }>('SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass($1)', [qualifiedName(name)]);
  return res.rows[0]?.relkind;
}

export async function hasUniqueIndex(pool: Pool, name: string): Promise<boolean> {
  const res = await pool.query('SELECT 1 FROM pg_index WHERE indrelid = to_regclass($1) AND indisunique AND indpred IS NULL LIMIT 1', [qualifiedName(name)]);
  return (res.rowCount ?? 0) > 0;
}
