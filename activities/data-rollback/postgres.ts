// A Postgres rollback step: count, apply and undo, each in one transaction. Apply locks the matching rows,
// saves each (keyed by run, step and primary key; the first copy wins) in runbook_saved_rows of the same
// database, and changes exactly those rows by primary key. A retry after a commit whose reply was lost
// matches nothing (the change is already there); a retry after a crash before it finds nothing half-done.
import { escapeIdentifier, type Pool } from 'pg';
import type { PostgresRollbackStep } from '../../config/data-rollback';
import { UnsafeOperationError } from '../errors';
import { qualifiedName } from '../postgres/sql';
import { pendingSql, pkJoin, tableInfo } from './pg-table';
import { explainPgError, inTransaction, type Queryable } from './pg-tx';
import type { ApplyCounts } from './types';

export const SAVED_ROWS = 'public.runbook_saved_rows';
const SAVED = qualifiedName(SAVED_ROWS);

const CREATE_SAVED = `CREATE TABLE IF NOT EXISTS ${SAVED} (
  run_key     text NOT NULL,
  step_id     text NOT NULL,
  row_key     text NOT NULL,
  op          text NOT NULL,
  tbl         text NOT NULL,
  "row"       jsonb NOT NULL,
  saved_at    timestamptz NOT NULL DEFAULT now(),
  restored_at timestamptz,
  PRIMARY KEY (run_key, step_id, row_key)
)`;

async function savedTableExists(q: Queryable): Promise<boolean> {
  const { rows } = await q.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [SAVED]);
  return rows[0]!.ok;
}

/** Two first applies at once would both try to create the table; the advisory lock lets one do it. */
async function ensureSavedTable(q: Queryable): Promise<void> {
  if (await savedTableExists(q)) return;
  await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [SAVED_ROWS]);
  await q.query(CREATE_SAVED);
}

const opOf = (step: PostgresRollbackStep): 'delete' | 'update' => (step.delete ? 'delete' : 'update');

export async function countPostgres(pool: Pool, step: PostgresRollbackStep): Promise<number> {
  try {
    const info = await tableInfo(pool, step);
    const params: unknown[] = [];
    const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${info.name} AS t WHERE ${pendingSql(step, params)}`, params);
    return Number(rows[0]!.n);
  } catch (err) {
    throw explainPgError(err, step);
  }
}

export async function applyPostgres(pool: Pool, step: PostgresRollbackStep, runKey: string, signal?: AbortSignal): Promise<ApplyCounts> {
  try {
    return await inTransaction(pool, signal, async (c) => {
      await ensureSavedTable(c);
      const undone = await c.query(`SELECT 1 FROM ${SAVED} WHERE run_key = $1 AND step_id = $2 AND restored_at IS NOT NULL LIMIT 1`, [runKey, step.id]);
      if (undone.rowCount) {
        throw new UnsafeOperationError(
          `step "${step.id}" of run "${runKey}" was already undone; applying it again under the same runKey could not be undone. Use a new runKey`,
        );
      }
      const info = await tableInfo(c, step);
      const params: unknown[] = [runKey, step.id, opOf(step), step.table];
      const rowKey = `jsonb_build_array(${info.pk.map((k) => `t.${escapeIdentifier(k)}`).join(', ')})::text`;
      const { rows } = await c.query<{ row_key: string; saved: boolean }>(
        `WITH matched AS (
           SELECT ${rowKey} AS row_key, to_jsonb(t) AS "row" FROM ${info.name} AS t WHERE ${pendingSql(step, params)} FOR UPDATE OF t
         ), saved AS (
           INSERT INTO ${SAVED} (run_key, step_id, row_key, op, tbl, "row")
           SELECT $1::text, $2::text, m.row_key, $3::text, $4::text, m."row" FROM matched AS m
           ON CONFLICT DO NOTHING RETURNING row_key
         )
         SELECT m.row_key, s.row_key IS NOT NULL AS saved FROM matched AS m LEFT JOIN saved AS s USING (row_key)`,
        params,
      );
      const saved = rows.filter((r) => r.saved).length;
      // Every copy an earlier attempt saved, including those of rows it changed already (they no longer
      // match): an attempt killed after its commit but before its reply must not make the retry report 0.
      const all = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${SAVED} WHERE run_key = $1 AND step_id = $2`, [runKey, step.id]);
      const counts = { matched: rows.length, saved, alreadySaved: Number(all.rows[0]!.n) - saved };
      if (!rows.length) return { ...counts, changed: 0 };

      // Exactly the rows locked above, found by the primary key values of their saved copies.
      const keys: unknown[] = [runKey, step.id, rows.map((r) => r.row_key)];
      const from = `${SAVED} AS s CROSS JOIN LATERAL jsonb_populate_record(NULL::${info.name}, s."row") AS r`;
      const which = `s.run_key = $1 AND s.step_id = $2 AND s.row_key = ANY($3::text[]) AND ${pkJoin(info.pk, 't', 'r')}`;
      let res;
      if (step.delete) {
        res = await c.query(`DELETE FROM ${info.name} AS t USING ${from} WHERE ${which}`, keys);
      } else {
        const set = Object.entries(step.set ?? {}).map(([col, v]) => `${escapeIdentifier(col)} = $${keys.push(v)}`);
        res = await c.query(`UPDATE ${info.name} AS t SET ${set.join(', ')} FROM ${from} WHERE ${which}`, keys);
      }
      return { ...counts, changed: res.rowCount ?? 0 };
    });
  } catch (err) {
    throw explainPgError(err, step);
  }
}

/** Puts back what this run's step saved and has not restored yet, in one transaction; returns how many rows. */
export async function undoPostgres(pool: Pool, step: PostgresRollbackStep, runKey: string, signal?: AbortSignal): Promise<number> {
  try {
    return await inTransaction(pool, signal, async (c) => {
      if (!(await savedTableExists(c))) return 0;
      const info = await tableInfo(c, step);
      const other = await c.query<{ tbl: string; op: string }>(
        `SELECT tbl, op FROM ${SAVED} WHERE run_key = $1 AND step_id = $2 AND (tbl <> $3 OR op <> $4) LIMIT 1`,
        [runKey, step.id, step.table, opOf(step)],
      );
      if (other.rows[0]) {
        throw new UnsafeOperationError(
          `run "${runKey}" saved rows of step "${step.id}" as "${other.rows[0].op}" on ${other.rows[0].tbl}, but the step is now "${opOf(step)}" on ${step.table}: ` +
            `its configuration changed since it was applied; restore from ${SAVED_ROWS} by hand`,
        );
      }
      // Marking first takes the saved rows' locks: a concurrent undo waits, then finds nothing left to restore.
      const marked = await c.query<{ row_key: string }>(
        `UPDATE ${SAVED} SET restored_at = now() WHERE run_key = $1 AND step_id = $2 AND restored_at IS NULL RETURNING row_key`,
        [runKey, step.id],
      );
      if (!marked.rowCount) return 0;
      const keys = [runKey, step.id, marked.rows.map((r) => r.row_key)];
      const from = `${SAVED} AS s CROSS JOIN LATERAL jsonb_populate_record(NULL::${info.name}, s."row") AS r`;
      const which = `s.run_key = $1 AND s.step_id = $2 AND s.row_key = ANY($3::text[])`;
      if (step.delete) {
        const cols = info.insertable.map((col) => escapeIdentifier(col));
        const res = await c.query(
          `INSERT INTO ${info.name} (${cols.join(', ')}) OVERRIDING SYSTEM VALUE
           SELECT ${cols.map((col) => `r.${col}`).join(', ')} FROM ${from} WHERE ${which} ON CONFLICT DO NOTHING`,
          keys,
        );
        return res.rowCount ?? 0;
      }
      const set = Object.keys(step.set ?? {}).map((col) => `${escapeIdentifier(col)} = r.${escapeIdentifier(col)}`);
      const res = await c.query(`UPDATE ${info.name} AS t SET ${set.join(', ')} FROM ${from} WHERE ${which} AND ${pkJoin(info.pk, 't', 'r')}`, keys);
      return res.rowCount ?? 0;
    });
  } catch (err) {
    throw explainPgError(err, step);
  }
}
