// Old data for the retention tasks to act on (seeds 002 "Monthly Maintenance: Archive Old Data" and 000
// "Data Cleanup"): three years of daily analytics, of which the oldest year is past the 2-year archive
// cutoff, with its archive table; export files of the last three weeks, completed or not; audit logs past
// the 1-year retention. Each part is created once (when it is empty, or per a marker in `demo_seed`), so
// what a retention run removed stays removed across restarts of the service.
import type { Db } from 'mongodb';
import type { PoolClient } from 'pg';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS daily_analytics (
  id        bigserial PRIMARY KEY,
  day       date NOT NULL,
  report_id bigint NOT NULL,
  runs      integer NOT NULL,
  rows_out  bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS daily_analytics_day ON daily_analytics (day);
CREATE TABLE IF NOT EXISTS daily_analytics_archive (
  id          bigint PRIMARY KEY,
  day         date NOT NULL,
  report_id   bigint NOT NULL,
  runs        integer NOT NULL,
  rows_out    bigint NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now()
);
`;

/** Days of analytics per report, and how many reports have them. */
export const RETENTION_SEED = { days: 3 * 365, reports: 4, exportFiles: 42 } as const;

/** Runs in seedPostgres's transaction, under its lock. */
export async function seedPostgresRetention(c: PoolClient): Promise<void> {
  await c.query(SCHEMA);
  const { rows } = await c.query<{ n: string }>('SELECT (SELECT count(*) FROM daily_analytics) + (SELECT count(*) FROM daily_analytics_archive) AS n');
  if (Number(rows[0]!.n) > 0) return;
  await c.query(
    `INSERT INTO daily_analytics (day, report_id, runs, rows_out)
     SELECT current_date - d, r, 1 + (d * r) % 24, ((d * 7919 + r * 104729) % 100000)
     FROM generate_series(1, $1::int) d, generate_series(1, $2::int) r ORDER BY d DESC, r`,
    [RETENTION_SEED.days, RETENTION_SEED.reports],
  );
}

export async function seedMongoRetention(db: Db): Promise<void> {
  const markers = db.collection<{ _id: string; at: Date }>('demo_seed');
  if (!(await markers.findOne({ _id: 'old-audit-logs' }))) {
    // One a week, 13 to 25 months old, beside the recent logs seed.ts writes.
    await db.collection('report_audit_logs').insertMany(
      Array.from({ length: 52 }, (_, i) => ({
        reportId: 1 + (i % 200),
        actor: 'system',
        action: 'generated',
        createdAt: new Date(Date.now() - (395 + i * 7) * 86_400_000),
      })),
    );
    await markers.insertOne({ _id: 'old-audit-logs', at: new Date() });
  }
  const files = db.collection('report_export_files');
  await files.createIndex({ createdAt: 1 }, { name: 'created' });
  if ((await files.countDocuments()) > 0) return;
  const statuses = ['completed', 'completed', 'failed', 'pending'];
  await files.insertMany(
    Array.from({ length: RETENTION_SEED.exportFiles }, (_, i) => ({
      reportId: 1 + (i % 20),
      format: ['pdf', 'csv'][i % 2],
      status: statuses[i % statuses.length],
      file: `exports/report-${1 + (i % 20)}-${i}.${['pdf', 'csv'][i % 2]}`,
      // One every half day over the last three weeks.
      createdAt: new Date(Date.now() - i * 12 * 3600_000 - 60_000),
    })),
  );
}
