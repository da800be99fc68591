// archive-rows: moves rows older than a cutoff from a table to its archive table, one batch per
// statement. Each batch deletes and inserts in the same statement (so in one transaction): a worker that
// dies mid-batch leaves that batch wholly in the source, never in both tables or in neither. A retry
// simply continues with what is still older than the (fixed) cutoff.
import { Context } from '@temporalio/activity';
import { escapeIdentifier, type Pool } from 'pg';
import { InvalidTargetError, UnsafeOperationError } from '../errors';
import { qualifiedName } from '../postgres/sql';
import type { ArchiveRowsTask } from './types';

interface Column {
  name: string;
  type: string;
  notNull: boolean;
  hasDefault: boolean;
  generated: boolean;
  identity: boolean;
}

const TIME_TYPES = new Set(['date', 'timestamp without time zone', 'timestamp with time zone']);

async function columns(pool: Pool, table: string): Promise<Column[]> {
  const { rows } = await pool.query<Column>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS "notNull",
            a.atthasdef AS "hasDefault", a.attgenerated <> '' AS generated, a.attidentity <> '' AS identity
     FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [qualifiedName(table)],
  );
  return rows;
}

/**
 * Refuses, naming the field and the column, an archive table that cannot take every source row as it
 * is, a time column that is not a date or timestamp, and a source other tables reference (deleting from
 * it would cascade or fail). Returns the columns to copy, in the source's order.
 */
export async function checkArchiveShape(pool: Pool, task: ArchiveRowsTask, field: string): Promise<string[]> {
  const src = await columns(pool, task.table);
  const dst = await columns(pool, task.archiveTable);
  const time = src.find((c) => c.name === task.timeColumn);
  if (!time)
    throw new InvalidTargetError(
      `${field}.timeColumn: "${task.timeColumn}" is not a column of ${task.table}; its columns: ${src.map((c) => c.name).join(', ')}`,
    );
  if (!TIME_TYPES.has(time.type))
    throw new InvalidTargetError(`${field}.timeColumn: "${task.timeColumn}" of ${task.table} is ${time.type}, not a date or timestamp`);
  const copy = src.filter((c) => !c.generated);
  for (const c of copy) {
    const d = dst.find((x) => x.name === c.name);
    if (!d)
      throw new InvalidTargetError(
        `${field}.archiveTable: ${task.archiveTable} has no column "${c.name}" (${c.type}) of ${task.table}; add it or recreate the archive with (LIKE ${task.table})`,
      );
    if (d.type !== c.type)
      throw new InvalidTargetError(`${field}.archiveTable: column "${c.name}" is ${d.type} in ${task.archiveTable} but ${c.type} in ${task.table}`);
    if (d.generated)
      throw new InvalidTargetError(`${field}.archiveTable: column "${c.name}" of ${task.archiveTable} is generated, so it cannot take the source's values`);
  }
  for (const d of dst) {
    if (!copy.some((c) => c.name === d.name) && d.notNull && !d.hasDefault && !d.identity && !d.generated) {
      throw new InvalidTargetError(
        `${field}.archiveTable: column "${d.name}" of ${task.archiveTable} is NOT NULL without a default and has no counterpart in ${task.table}`,
      );
    }
  }
  const refs = await pool.query<{ name: string; from: string }>(
    `SELECT conname AS name, conrelid::regclass::text AS "from" FROM pg_constraint WHERE contype = 'f' AND confrelid = to_regclass($1) AND conrelid <> confrelid`,
    [qualifiedName(task.table)],
  );
  if (refs.rows.length) {
    throw new UnsafeOperationError(
      `${field}.table: ${task.table} is referenced by ${refs.rows.map((r) => `${r.from} (${r.name})`).join(', ')}; deleting archived rows would cascade or fail, so it is not archived`,
    );
  }
  return copy.map((c) => c.name);
}

/** Rows older than the cutoff, counted read-only (the dry run's figure). */
export async function countOlder(pool: Pool, task: ArchiveRowsTask, cutoff: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualifiedName(task.table)} WHERE ${escapeIdentifier(task.timeColumn)} < $1`, [
    cutoff,
  ]);
  return Number(rows[0]!.n);
}

export function archiveBatchSql(task: ArchiveRowsTask, cols: string[]): string {
  const src = qualifiedName(task.table);
  const tc = escapeIdentifier(task.timeColumn);
  const list = cols.map((c) => escapeIdentifier(c)).join(', ');
  return (
    `WITH moved AS (DELETE FROM ${src} WHERE ctid IN ` +
    `(SELECT ctid FROM ${src} WHERE ${tc} < $1 ORDER BY ${tc} LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING ${list}) ` +
    `INSERT INTO ${qualifiedName(task.archiveTable)} (${list}) SELECT ${list} FROM moved`
  );
}

export interface ArchiveProgress {
  moved: number;
  batches: number;
}

/**
 * Moves batches until none is left older than the cutoff, heartbeating the running totals after each
 * batch; a retry starts from the last heartbeat's totals. Rows locked by someone else are skipped by a
 * batch and picked up by a later one; the loop ends when a batch finds nothing to move.
 */
export async function archiveRows(pool: Pool, task: ArchiveRowsTask, cutoff: string, field: string): Promise<ArchiveProgress & { left: number }> {
  const ctx = Context.current();
  const cols = await checkArchiveShape(pool, task, field);
  const sql = archiveBatchSql(task, cols);
  const before = ctx.info.heartbeatDetails as Partial<ArchiveProgress> | undefined;
  const p: ArchiveProgress = { moved: before?.moved ?? 0, batches: before?.batches ?? 0 };
  ctx.heartbeat(p);
  // A batch slower than the heartbeat timeout must not look like a dead worker.
  const timer = setInterval(() => ctx.heartbeat(p), 2000);
  try {
    for (;;) {
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      const res = await pool.query(sql, [cutoff, task.batchSize]);
      const n = res.rowCount ?? 0;
      if (n === 0) break;
      p.moved += n;
      p.batches++;
      ctx.heartbeat(p);
    }
  } finally {
    clearInterval(timer);
  }
  return { ...p, left: await countOlder(pool, task, cutoff) };
}
