// Foreign-key sanity check of a table a rollback step changed: for every foreign key from or to it, no
// row whose key points at a row that does not exist. Postgres enforces valid constraints, so this finds
// what slipped past them: NOT VALID constraints, disabled triggers, session_replication_role = replica.
import { escapeIdentifier, type Pool } from 'pg';
import { qualifiedName } from '../postgres/sql';
import type { DataIntegrityCheck } from './types';

interface ForeignKey {
  conname: string;
  child_schema: string;
  child_table: string;
  child_cols: string[];
  parent_schema: string;
  parent_table: string;
  parent_cols: string[];
}

const FOREIGN_KEYS = `
SELECT c.conname::text AS conname,
       cn.nspname::text AS child_schema, cc.relname::text AS child_table,
       pn.nspname::text AS parent_schema, pc.relname::text AS parent_table,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS child_cols,
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.ord) AS parent_cols
  FROM pg_constraint c
  JOIN pg_class cc ON cc.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
  JOIN pg_class pc ON pc.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
 WHERE c.contype = 'f' AND (c.conrelid = to_regclass($1) OR c.confrelid = to_regclass($1))
 ORDER BY c.conname`;

/** Rows of the referencing table with all key columns set (MATCH SIMPLE) and no referenced row. */
function orphanSql(fk: ForeignKey): string {
  const child = `${escapeIdentifier(fk.child_schema)}.${escapeIdentifier(fk.child_table)}`;
  const parent = `${escapeIdentifier(fk.parent_schema)}.${escapeIdentifier(fk.parent_table)}`;
  const set = fk.child_cols.map((c) => `c.${escapeIdentifier(c)} IS NOT NULL`);
  const joined = fk.child_cols.map((c, i) => `p.${escapeIdentifier(fk.parent_cols[i]!)} = c.${escapeIdentifier(c)}`);
  return `SELECT count(*) AS n FROM ${child} AS c WHERE ${set.join(' AND ')} AND NOT EXISTS (SELECT 1 FROM ${parent} AS p WHERE ${joined.join(' AND ')})`;
}

export async function foreignKeyChecks(pool: Pool, target: string, table: string): Promise<DataIntegrityCheck[]> {
  const exists = await pool.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [qualifiedName(table)]);
  if (!exists.rows[0]!.ok) return [{ name: `foreign keys of ${table} (${target})`, ok: false, detail: `table ${table} does not exist` }];
  const { rows } = await pool.query<ForeignKey>(FOREIGN_KEYS, [qualifiedName(table)]);
  if (!rows.length) return [{ name: `foreign keys of ${table} (${target})`, ok: true, detail: 'none from or to this table' }];
  const checks: DataIntegrityCheck[] = [];
  for (const fk of rows) {
    const { rows: counted } = await pool.query<{ n: string }>(orphanSql(fk));
    const orphans = Number(counted[0]!.n);
    const child = `${fk.child_schema}.${fk.child_table}`;
    const ref = `${child}(${fk.child_cols.join(', ')}) -> ${fk.parent_schema}.${fk.parent_table}(${fk.parent_cols.join(', ')})`;
    checks.push({
      name: `foreign key ${fk.conname} (${target})`,
      ok: orphans === 0,
      detail: orphans === 0 ? `no orphaned rows: ${ref}` : `${orphans} row(s) of ${child} reference no row: ${ref}`,
    });
  }
  return checks;
}
