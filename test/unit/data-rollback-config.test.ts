// The database rollback configuration (config/data-rollback.ts) admits only plain conditions and one change
// per step, and the plan shows each step readably. Nothing here touches a server.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, parseConfig } from '../../config/load';
import { dataRollbackSchema, dataRollbackStepSchema } from '../../config/data-rollback';
import { describeChange, describeWhere } from '../../activities/data-rollback/describe';

const local = JSON.parse(readFileSync(path.join(__dirname, '../../config/local.json'), 'utf8')) as {
  services: { reports: { dataRollback: { description: string; steps: Array<Record<string, unknown>> } } };
};
const reviewed = local.services.reports.dataRollback;

const mongoStep = { id: 'm', store: 'mongo', target: 'reports-mongo', collection: 'reporttemplates', filter: { version: { $gte: 2 } }, unset: ['x'] };
const pgStep = { id: 'p', store: 'postgres', target: 'reports-db', table: 'public.report_exports', where: { format: ['dashboard'] }, delete: true };

/** The messages of a failed parse, one string. */
function problems(schema: typeof dataRollbackStepSchema | typeof dataRollbackSchema, value: unknown): string {
  const r = schema.safeParse(value);
  if (r.success) throw new Error(`expected ${JSON.stringify(value)} to be refused`);
  return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
}

describe('database rollback configuration', () => {
  test('the reviewed steps of config/local.json parse', () => {
    const parsed = dataRollbackSchema.parse(reviewed);
    expect(parsed.steps.map((s) => s.id)).toEqual([
      'templates-v2-fields',
      'templates-v2-types',
      'schedules-advanced',
      'exports-v2-formats',
      'reports-org-visibility',
      'migration-0002-record',
    ]);
  });

  test('$where, $function, $regex and $expr are not representable, as a field or as a condition', () => {
    expect(problems(dataRollbackStepSchema, { ...mongoStep, filter: { $where: 'this.version >= 2' } })).toMatch(/filter/);
    expect(problems(dataRollbackStepSchema, { ...mongoStep, filter: { version: { $where: 'sleep(1000)' } } })).toMatch(/filter\.version/);
    expect(problems(dataRollbackStepSchema, { ...mongoStep, filter: { name: { $regex: '.*' } } })).toMatch(/filter\.name/);
    expect(problems(dataRollbackStepSchema, { ...mongoStep, filter: { $expr: { $gt: ['$a', 1] } } })).toMatch(/filter/);
    expect(problems(dataRollbackStepSchema, { ...mongoStep, filter: { version: { $function: { body: 'x' } } } })).toMatch(/filter\.version/);
    expect(problems(dataRollbackStepSchema, { ...mongoStep, set: { $where: 1 } })).toMatch(/set/);
    expect(problems(dataRollbackStepSchema, { ...mongoStep, unset: ['$where'] })).toMatch(/unset/);
  });

  test('an empty filter or where is refused: no unbounded changes', () => {
    expect(problems(dataRollbackStepSchema, { ...mongoStep, filter: {} })).toMatch(/filter: must name at least one condition/);
    expect(problems(dataRollbackStepSchema, { ...pgStep, where: {} })).toMatch(/where: must name at least one column/);
    expect(problems(dataRollbackStepSchema, { ...pgStep, where: { format: [] } })).toMatch(/where\.format/);
  });

  test('a step does either delete or set/unset, and does something', () => {
    expect(problems(dataRollbackStepSchema, { ...pgStep, set: { format: 'pdf' } })).toMatch(/either delete, or set\/unset fields, not both/);
    expect(problems(dataRollbackStepSchema, { ...mongoStep, delete: true })).toMatch(/either delete, or set\/unset fields, not both/);
    const { delete: _d, ...noChange } = pgStep;
    expect(problems(dataRollbackStepSchema, noChange)).toMatch(/needs a change: delete: true, set or unset/);
    expect(problems(dataRollbackStepSchema, { ...noChange, set: {} })).toMatch(/needs a change/);
    expect(problems(dataRollbackStepSchema, { ...pgStep, delete: false })).toMatch(/delete/);
  });

  test('step ids are unique', () => {
    expect(problems(dataRollbackSchema, { description: 'x', steps: [mongoStep, { ...pgStep, id: 'm' }] })).toMatch(/steps: step ids must be unique/);
  });

  test('table and column names that could carry SQL are refused', () => {
    for (const table of ['public.reports; DROP TABLE reports', 'reports', 'public."reports"', 'public.reports--', 'a.b.c', 'Public.Reports']) {
      expect(problems(dataRollbackStepSchema, { ...pgStep, table })).toMatch(/table: schema\.table/);
    }
    expect(problems(dataRollbackStepSchema, { ...pgStep, where: { 'format = format OR 1=1 --': ['x'] } })).toMatch(/where/);
    expect(problems(dataRollbackStepSchema, { ...pgStep, delete: undefined, set: { 'visibility = 1; --': 'x' } })).toMatch(/set/);
    expect(problems(dataRollbackStepSchema, { ...mongoStep, collection: 'reports; db.dropDatabase()' })).toMatch(/collection/);
  });

  test('unknown keys (e.g. raw SQL) are refused rather than ignored', () => {
    expect(problems(dataRollbackStepSchema, { ...pgStep, sql: 'DELETE FROM report_exports' })).toMatch(/sql|Unrecognized/i);
  });

  test('a step on a target the service does not own is refused when the configuration loads', () => {
    const raw = {
      services: {
        reports: {
          healthUrl: 'http://127.0.0.1:1/health',
          platform: { kind: 'local', adminUrl: 'http://127.0.0.1:1/admin', token: 't' },
          postgres: ['reports-db'],
          dataRollback: { description: 'x', steps: [pgStep, { ...mongoStep, target: 'other-mongo' }] },
        },
      },
      postgres: { 'reports-db': { url: 'postgres://u@127.0.0.1:1/reports' } },
      mongo: { 'other-mongo': { url: 'mongodb://127.0.0.1:1/', database: 'x' } },
      audit: { url: 'postgres://u@127.0.0.1:1/runbooks' },
      backups: {},
    };
    expect(() => parseConfig(raw, {})).toThrow(ConfigError);
    expect(() => parseConfig(raw, {})).toThrow(
      /services\.reports\.dataRollback\.steps\.1\.target: mongo target "other-mongo" is not one of the service's \(none\)/,
    );
  });

  test('the plan shows each reviewed step as a readable filter and change', () => {
    const steps = dataRollbackSchema.parse(reviewed).steps;
    expect(steps.map((s) => [describeWhere(s), describeChange(s)])).toEqual([
      ['reporttemplates where version >= 2', 'unset advancedFilters, customChartTypes, templateInheritance'],
      ["reporttemplates where reportType in ('advanced-analytics', 'predictive-insights', 'custom-dashboards')", 'delete'],
      ["reportschedules where frequency in ('custom', 'conditional')", "set frequency='weekly'; unset customSchedule, conditionalTriggers, advancedDelivery"],
      ["public.report_exports where format in ('dashboard', 'predictive-pdf')", 'delete'],
      ["public.reports where visibility = 'org-wide'", "set visibility='private'"],
      ["public.schema_migrations where version = '0002_reports_v2'", 'delete'],
    ]);
  });
});
