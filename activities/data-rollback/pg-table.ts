// What a Postgres rollback step needs to know about its table, read from pg_catalog: that it exists, its
// primary key (rows are saved and changed by it), the columns an undo may insert, and that the step's
// columns exist. Steps that could not be undone exactly are refused here, before anything changes.
import { escapeIdentifier } from 'pg';
import type { PostgresRollbackStep } from '../../config/data-rollback';
import { InvalidTargetError, UnsafeOperationError } from '../errors';
import { qualifiedName } from '../postgres/sql';
import type { Queryable } from './pg-tx';

export interface TableInfo {
  /** "schema"."table", quoted. */
  name: string;
  /** Primary key columns in key order. */
  pk: string[];
  /** Columns an undo re-inserts (not dropped, not generated). */
  insertable: string[];
}

interface ColumnRow {
  relkind: string;
  name: string | null;
  generated: boolean | null;
  pk_pos: number | null;
}

export async function tableInfo(q: Queryable, step: PostgresRollbackStep): Promise<TableInfo> {
  const name = qualifiedName(step.table);
  const where = `${step.table} (postgres target "${step.target}", step "${step.id}")`;
  const { rows } = await q.query<ColumnRow>(
    `SELECT c.relkind::text AS relkind, a.attname::text AS name, a.attgenerated <> '' AS generated,
            array_position(i.indkey::int2[], a.attnum) AS pk_pos
       FROM pg_class c
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
      WHERE c.oid = to_regclass($1)
      ORDER BY a.attnum`,
    [name],
  );
  if (!rows.length) throw new InvalidTargetError(`table ${where} does not exist`);
  if (!['r', 'p'].includes(rows[0]!.relkind)) throw new InvalidTargetError(`${where} is not a table (relkind ${rows[0]!.relkind})`);
  const columns = rows.filter((r): r is ColumnRow & { name: string } => r.name !== null);
  const known = new Set(columns.map((c) => c.name));
  const named = [...Object.keys(step.where), ...Object.keys(step.set ?? {})];
  const missing = named.filter((c) => !known.has(c));
  if (missing.length) {
    throw new InvalidTargetError(`column(s) ${missing.join(', ')} of ${where} do not exist; its columns: ${[...known].join(', ')}`);
  }
  const pk = columns
    .filter((c) => c.pk_pos !== null)
    .sort((a, b) => a.pk_pos! - b.pk_pos!)
    .map((c) => c.name);
  if (!pk.length) {
    throw new UnsafeOperationError(`${where} has no primary key: its rows could not be saved and restored one by one; add a primary key first`);
  }
  const setPk = Object.keys(step.set ?? {}).filter((c) => pk.includes(c));
  if (setPk.length) throw new UnsafeOperationError(`step sets primary key column(s) ${setPk.join(', ')} of ${where}: an undo could not find those rows again`);
  const setGenerated = Object.keys(step.set ?? {}).filter((c) => columns.some((col) => col.name === c && col.generated));
  if (setGenerated.length) throw new InvalidTargetError(`step sets generated column(s) ${setGenerated.join(', ')} of ${where}, which cannot be set`);
  if (step.delete) await refuseCascades(q, name, where);
  return { name, pk, insertable: columns.filter((c) => !c.generated).map((c) => c.name) };
}

/** A delete that cascades (or sets null/default) changes rows of other tables that the step does not save. */
async function refuseCascades(q: Queryable, name: string, where: string): Promise<void> {
  const { rows } = await q.query<{ conname: string; child: string; action: string }>(
    `SELECT conname::text AS conname, conrelid::regclass::text AS child,
            CASE confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END AS action
       FROM pg_constraint WHERE contype = 'f' AND confrelid = to_regclass($1) AND confdeltype IN ('c', 'n', 'd')
      ORDER BY conname`,
    [name],
  );
  if (rows.length) {
    throw new UnsafeOperationError(
      `deleting from ${where} would also change rows the step does not save: ` +
        `${rows.map((r) => `${r.child} (${r.conname} ON DELETE ${r.action})`).join(', ')}; add a step for those rows first`,
    );
  }
}

/**
 * SQL condition on alias `t` for the rows the step would still change: its `where`, and for a set step at
 * least one column not yet at its value (so a retry after a commit matches nothing). Values go to `params`.
 */
export function pendingSql(step: PostgresRollbackStep, params: unknown[]): string {
  const param = (v: unknown): string => `$${params.push(v)}`;
  const conds = Object.entries(step.where).map(([col, values]) => {
    const c = `t.${escapeIdentifier(col)}`;
    const nonNull = values.filter((v) => v !== null);
    const parts = [...(nonNull.length ? [`${c} = ANY(${param(nonNull)})`] : []), ...(nonNull.length < values.length ? [`${c} IS NULL`] : [])];
    return parts.length > 1 ? `(${parts.join(' OR ')})` : parts[0]!;
  });
  const set = Object.entries(step.set ?? {});
  if (!step.delete && set.length) conds.push(`(${set.map(([col, v]) => `t.${escapeIdentifier(col)} IS DISTINCT FROM ${param(v)}`).join(' OR ')})`);
  return conds.join(' AND ');
}

/** `t."a" = r."a" AND t."b" = r."b"` over the primary key. */
export function pkJoin(pk: string[], left: string, right: string): string {
  return pk.map((k) => `${left}.${escapeIdentifier(k)} = ${right}.${escapeIdentifier(k)}`).join(' AND ');
}
