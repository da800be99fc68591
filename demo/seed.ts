// Schema and data of the demo "reports" service: enough rows that VACUUM, REINDEX and a materialized view
// refresh do real work, and Mongo collections with secondary indexes to rebuild; then what release v2 added
// (seed-v2.ts), and old data for the retention tasks to archive and delete (seed-retention.ts). Idempotent.
import type { Db } from 'mongodb';
import type { Pool } from 'pg';
import { seedPostgresAnalytics } from './seed-analytics';
import { seedMongoRetention, seedPostgresRetention } from './seed-retention';
import { seedMongoV2, seedPostgresV2 } from './seed-v2';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS reports (
  id         bigserial PRIMARY KEY,
  title      text NOT NULL,
  owner      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS report_runs (
  id          bigserial PRIMARY KEY,
  report_id   bigint NOT NULL REFERENCES reports(id),
  status      text NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  rows_out    integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS report_runs_report_id ON report_runs (report_id);
CREATE INDEX IF NOT EXISTS report_runs_started_at ON report_runs (started_at);
CREATE MATERIALIZED VIEW IF NOT EXISTS report_daily_stats AS
  SELECT date_trunc('day', started_at)::date AS day, status, count(*) AS runs, sum(rows_out) AS rows_out
  FROM report_runs GROUP BY 1, 2;
CREATE UNIQUE INDEX IF NOT EXISTS report_daily_stats_day_status ON report_daily_stats (day, status);
`;

export async function seedPostgres(pool: Pool, runs = 5000): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query("SELECT pg_advisory_xact_lock(hashtext('demo-seed'))");
    await c.query(SCHEMA);
    const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM reports');
    if (Number(rows[0]!.n) === 0) {
      await c.query(`INSERT INTO reports (title, owner, created_at)
        SELECT 'report ' || g, (ARRAY['finance','ops','sales','audit'])[1 + g % 4], now() - (g || ' hours')::interval
        FROM generate_series(1, 200) g`);
      await c.query(
        `INSERT INTO report_runs (report_id, status, started_at, finished_at, rows_out)
         SELECT 1 + g % 200, (ARRAY['done','done','done','failed'])[1 + g % 4],
                now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval + interval '20 seconds', g % 997
         FROM generate_series(1, $1::int) g`,
        [runs],
      );
      await c.query('REFRESH MATERIALIZED VIEW report_daily_stats');
    }
    await seedPostgresV2(c);
    await seedPostgresRetention(c);
    await seedPostgresAnalytics(c);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

export async function seedMongo(db: Db): Promise<void> {
  const templates = db.collection('report_templates');
  const logs = db.collection('report_audit_logs');
  await templates.createIndex({ name: 1 }, { unique: true, name: 'name_unique' });
  await logs.createIndex({ reportId: 1, createdAt: -1 }, { name: 'report_created' });
  await logs.createIndex({ actor: 1 }, { name: 'actor' });
  if ((await templates.countDocuments()) === 0) {
    await templates.insertMany(
      ['daily-sales', 'weekly-ops', 'monthly-finance', 'audit-trail'].map((name, i) => ({ name, version: 1 + i, createdAt: new Date() })),
    );
  }
  if ((await logs.countDocuments()) === 0) {
    await logs.insertMany(
      Array.from({ length: 300 }, (_, i) => ({
        reportId: 1 + (i % 200),
        actor: ['ops', 'finance', 'system'][i % 3],
        action: 'generated',
        createdAt: new Date(Date.now() - i * 60_000),
      })),
    );
  }
  await seedMongoV2(db);
  await seedMongoRetention(db);
}
