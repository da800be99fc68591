// Index bloat of a table: pgstattuple's pgstatindex when the extension is installed, else the usual
// estimate from the catalog: the pages a freshly built B-tree would need for the table's rows (tuple
// header, line pointer and the average key width from pg_stats, at the default 90% leaf fill) against the
// pages the index has now. Only B-tree indexes are measured; the table's ratio is the waste over all of
// them (1 - expected pages / actual pages), so one tiny index cannot trigger a rebuild on its own.
import type { Pool } from 'pg';
import { qualifiedName } from '../postgres/sql';

export interface IndexBloat {
  index: string;
  pages: number;
  expectedPages: number;
  ratio: number;
}

export interface BloatEstimate {
  method: 'pgstattuple' | 'estimate';
  ratio: number;
  pages: number;
  expectedPages: number;
  indexes: IndexBloat[];
}

const ESTIMATE_SQL = `
WITH t AS (
  SELECT c.oid, c.relnamespace, c.relname,
         CASE WHEN c.reltuples >= 0 THEN c.reltuples ELSE coalesce(s.n_live_tup, 0) END AS tuples
  FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
  WHERE c.oid = to_regclass($1)
), i AS (
  SELECT ic.oid, ic.relname AS index, t.tuples,
         pg_relation_size(ic.oid) / current_setting('block_size')::int AS pages,
         (SELECT coalesce(sum(coalesce(st.avg_width, CASE WHEN a.attlen > 0 THEN a.attlen ELSE 32 END)), 8)
            FROM unnest(x.indkey) k(attnum)
            JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
            LEFT JOIN pg_stats st ON st.schemaname = n.nspname AND st.tablename = t.relname AND st.attname = a.attname) AS key_width
  FROM t
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_index x ON x.indrelid = t.oid
  JOIN pg_class ic ON ic.oid = x.indexrelid
  JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
)
SELECT oid::int8::text AS oid, index, pages::int,
       (1 + ceil(tuples * (4 + 8 + 8 * ceil(key_width / 8.0)) / ((current_setting('block_size')::int - 40) * 0.9)))::int AS expected_pages
FROM i ORDER BY index`;

export async function estimateIndexBloat(pool: Pool, table: string): Promise<BloatEstimate> {
  const hasExt = (await pool.query("SELECT 1 FROM pg_extension WHERE extname = 'pgstattuple'")).rowCount;
  const { rows } = await pool.query<{ oid: string; index: string; pages: number; expected_pages: number }>(ESTIMATE_SQL, [qualifiedName(table)]);
  const oids = new Map(rows.map((r) => [r.index, r.oid]));
  let indexes: IndexBloat[] = rows.map((r) => ({
    index: r.index,
    pages: r.pages,
    expectedPages: Math.min(r.expected_pages, r.pages),
    ratio: r.pages > 0 ? Math.max(0, 1 - r.expected_pages / r.pages) : 0,
  }));
  let method: BloatEstimate['method'] = 'estimate';
  if (hasExt) {
    try {
      const measured: IndexBloat[] = [];
      for (const ix of indexes) {
        const s = await pool.query<{ density: number }>('SELECT avg_leaf_density::float8 AS density FROM pgstatindex($1::oid::regclass)', [oids.get(ix.index)]);
        const density = s.rows[0]?.density;
        const ratio = density === undefined || Number.isNaN(density) ? 0 : Math.max(0, 1 - density / 90);
        measured.push({ ...ix, ratio, expectedPages: Math.round(ix.pages * (1 - ratio)) });
      }
      indexes = measured;
      method = 'pgstattuple';
    } catch {
      // pgstatindex needs privileges the worker may not have: the catalog estimate stands.
    }
  }
  const pages = indexes.reduce((n, i) => n + i.pages, 0);
  const expectedPages = indexes.reduce((n, i) => n + i.expectedPages, 0);
  return { method, pages, expectedPages, ratio: pages > 0 ? Math.max(0, 1 - expectedPages / pages) : 0, indexes };
}

export function describeBloat(b: BloatEstimate): string {
  const pct = (r: number): string => `${Math.round(r * 100)}%`;
  if (b.indexes.length === 0) return 'no B-tree indexes';
  return `index bloat ${pct(b.ratio)} (${b.method}: ${b.pages} pages, ~${b.expectedPages} needed; ${b.indexes.map((i) => `${i.index} ${pct(i.ratio)}`).join(', ')})`;
}
