// The data release v1.5.0 ("reports v2") left behind, for the database rollback steps of config/local.json
// (services.reports.dataRollback) to undo: Mongo report templates with v2 fields and v2 report types,
// advanced report schedules, and the Postgres migration 0002_reports_v2 (reports.visibility with org-wide
// rows, exports in the v2 formats, its schema_migrations record). Each part is created once, when it is
// empty: after a rollback it stays rolled back across restarts of the service.
import type { Db } from 'mongodb';
import type { PoolClient } from 'pg';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS report_exports (
  id         bigserial PRIMARY KEY,
  report_id  bigint NOT NULL REFERENCES reports(id),
  format     text NOT NULL,
  created_at timestamptz DEFAULT now()
);
`;

/** Reports made org-wide by v2, and exports in each format (the v2 formats are dashboard and predictive-pdf). */
export const V2_SEED = {
  orgWideReports: 10,
  exports: { pdf: 14, csv: 14, dashboard: 6, 'predictive-pdf': 6 },
} as const;

/**
 * Runs in seedPostgres's transaction, under its lock, once `reports` has rows. The migrations table being
 * empty means the database has never seen these migrations: a rolled-back 0002 leaves 0001 behind.
 */
export async function seedPostgresV2(c: PoolClient): Promise<void> {
  await c.query(SCHEMA);
  // Only when missing: ADD COLUMN IF NOT EXISTS would still wait for an exclusive lock on reports.
  const { rowCount } = await c.query(
    "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'reports' AND column_name = 'visibility'",
  );
  if (!rowCount) await c.query("ALTER TABLE reports ADD COLUMN IF NOT EXISTS visibility text NOT NULL DEFAULT 'private'");
  const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations');
  if (Number(rows[0]!.n) > 0) return;
  await c.query(`UPDATE reports SET visibility = 'org-wide' WHERE id IN (SELECT id FROM reports ORDER BY id LIMIT $1)`, [V2_SEED.orgWideReports]);
  const formats = Object.entries(V2_SEED.exports).flatMap(([format, n]) => Array<string>(n).fill(format));
  // Spread over the first reports, one export each, older ones first.
  await c.query(
    `INSERT INTO report_exports (report_id, format, created_at)
     SELECT r.id, f.format, now() - (f.n || ' hours')::interval
     FROM unnest($1::text[]) WITH ORDINALITY AS f(format, n)
     JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM reports) r ON r.n = f.n`,
    [formats],
  );
  await c.query(
    "INSERT INTO schema_migrations (version, applied_at) VALUES ('0001_init', now() - interval '30 days'), ('0002_reports_v2', now() - interval '1 day')",
  );
}

const V2_FIELDS = {
  advancedFilters: [{ field: 'region', op: 'in', values: ['emea', 'apac'] }],
  customChartTypes: ['waterfall', 'sankey'],
};

export async function seedMongoV2(db: Db): Promise<void> {
  const now = Date.now();
  const at = (days: number): Date => new Date(now - days * 86_400_000);
  const templates = db.collection('reporttemplates');
  if ((await templates.countDocuments()) === 0) {
    await templates.insertMany([
      { name: 'daily-sales', reportType: 'sales', version: 1, createdAt: at(90) },
      { name: 'weekly-ops', reportType: 'operations', version: 1, createdAt: at(80) },
      { name: 'monthly-finance', reportType: 'finance', version: 1, createdAt: at(70) },
      // v2 templates: the fields v2 added, removed by the rollback step templates-v2-fields.
      { name: 'quarterly-finance', reportType: 'finance', version: 2, ...V2_FIELDS, templateInheritance: { parent: 'monthly-finance' }, createdAt: at(2) },
      { name: 'ops-drilldown', reportType: 'operations', version: 2, ...V2_FIELDS, templateInheritance: { parent: 'weekly-ops' }, createdAt: at(2) },
      // v2 report types: deleted by the rollback step templates-v2-types.
      { name: 'advanced-analytics', reportType: 'advanced-analytics', version: 2, ...V2_FIELDS, createdAt: at(1) },
      { name: 'predictive-insights', reportType: 'predictive-insights', version: 2, ...V2_FIELDS, createdAt: at(1) },
    ]);
  }
  const schedules = db.collection('reportschedules');
  if ((await schedules.countDocuments()) === 0) {
    await schedules.insertMany([
      { name: 'sales-every-morning', template: 'daily-sales', frequency: 'daily', createdAt: at(60) },
      { name: 'ops-weekly', template: 'weekly-ops', frequency: 'weekly', createdAt: at(60) },
      // v2 schedules: back to weekly, without the v2 fields, by the rollback step schedules-advanced.
      { name: 'finance-quarter-close', template: 'quarterly-finance', frequency: 'custom', customSchedule: { cron: '0 6 1 */3 *' }, createdAt: at(2) },
      {
        name: 'ops-on-backlog',
        template: 'ops-drilldown',
        frequency: 'conditional',
        conditionalTriggers: [{ metric: 'queue_depth', above: 100 }],
        advancedDelivery: { channels: ['email', 'slack'], retry: 3 },
        createdAt: at(1),
      },
      { name: 'finance-monthly', template: 'monthly-finance', frequency: 'monthly', createdAt: at(60) },
    ]);
  }
}
