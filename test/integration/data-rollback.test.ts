// The database rollback activities on the real Postgres and FerretDB of the test stack, with the reviewed
// reports v2 steps of config/local.json: the plan counts what apply then changes, apply changes exactly
// that (full before/after snapshots) and is idempotent per runKey, undo puts back the exact documents and
// rows, and the integrity check tells the two states apart. Only the activity context (heartbeats,
// cancellation) is simulated, as in activity-retries.test.ts; every assertion reads the databases.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { BSON, Double, Int32, Long, ObjectId, type Document } from 'mongodb';
import { createDeps, type DataRollbackCount, type Deps } from '../../activities';
import { createDataRollbackActivities, type DataRollbackActivities } from '../../activities/data-rollback';
import { NON_RETRYABLE_ERROR_TYPES } from '../../common/errors';
import type { DataRollback } from '../../config/data-rollback';
import { parseConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import { createTestEnv, type TestEnv } from '../helpers/env';

const reviewed = (
  JSON.parse(readFileSync(path.join(__dirname, '../../config/local.json'), 'utf8')) as {
    services: { reports: { dataRollback: DataRollback } };
  }
).services.reports.dataRollback;

let env: TestEnv;
const opened: Deps[] = [];
let acts: DataRollbackActivities;
let config: Config;

/** The test env's configuration with `dataRollback` on the reports service. */
function configWith(dataRollback: unknown): Config {
  const raw = env.rawConfig;
  return parseConfig({ ...raw, services: { ...raw.services, reports: { ...raw.services.reports, dataRollback } } }, {});
}
function activitiesFor(cfg: Config): DataRollbackActivities {
  const deps = createDeps(cfg);
  opened.push(deps);
  return createDataRollbackActivities(deps);
}

const logger = new DefaultLogger('ERROR');
/** apply/undo heartbeat, so they run in an activity context. */
const inActivity = <R>(fn: () => Promise<R>): Promise<R> => new MockActivityEnvironment({}, { logger }).run<[], R, () => Promise<R>>(fn);

// ---- fixtures: what reports v2 left behind, next to data it must not touch ----

async function pgFixtures(): Promise<void> {
  await env.pool.query(`
    ALTER TABLE reports ADD COLUMN IF NOT EXISTS visibility text NOT NULL DEFAULT 'private';
    CREATE TABLE IF NOT EXISTS report_exports (
      id bigserial PRIMARY KEY,
      report_id bigint NOT NULL REFERENCES reports(id),
      format text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    ALTER TABLE report_exports ADD COLUMN IF NOT EXISTS size_bytes numeric;
    ALTER TABLE report_exports ADD COLUMN IF NOT EXISTS meta jsonb;
    CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
    UPDATE reports SET visibility = CASE WHEN id % 10 = 0 THEN 'org-wide' WHEN id % 10 = 1 THEN 'team' ELSE 'private' END;
    DELETE FROM report_exports;
    INSERT INTO report_exports (report_id, format, size_bytes, meta, created_at)
      SELECT 1 + g % 200, (ARRAY['pdf', 'csv', 'dashboard', 'predictive-pdf', 'xlsx'])[1 + g % 5],
             ('12345678901234567890.' || g || '00000000001')::numeric, jsonb_build_object('pages', g, 'tags', jsonb_build_array('a', g)),
             '2024-05-01T10:00:00.123456Z'::timestamptz + (g || ' minutes')::interval
        FROM generate_series(1, 30) g;
    DELETE FROM schema_migrations WHERE version IN ('0001_init', '0002_reports_v2');
    INSERT INTO schema_migrations (version) VALUES ('0001_init'), ('0002_reports_v2');
  `);
}

const templates = (): Document[] => [
  { name: 'daily-sales', version: 1, reportType: 'tabular' },
  {
    name: 'v2-basic',
    version: 2,
    reportType: 'tabular',
    advancedFilters: [{ field: 'region', op: 'eq', value: 'eu' }],
    customChartTypes: ['sankey'],
    templateInheritance: { parent: 'daily-sales' },
    createdAt: new Date('2024-05-01T10:00:00.123Z'),
  },
  { name: 'v2-partial', version: new Double(2.5), reportType: 'tabular', customChartTypes: [] },
  { name: 'v2-clean', version: 3, reportType: 'tabular' },
  { _id: 'tpl-predictive', name: 'predictive', version: 2, reportType: 'predictive-insights', advancedFilters: [{ field: 'churn' }] },
  { name: 'advanced', version: 1, reportType: 'advanced-analytics', rows: Long.fromString('9007199254740993') },
  { _id: new Int32(42), name: 'dashboards', version: 1, reportType: 'custom-dashboards', ratio: new Double(2) },
  { name: 'legacy', version: 1, reportType: 'tabular', advancedFilters: [{ field: 'kept: version 1' }] },
];
const schedules = (): Document[] => [
  { _id: 'sched-custom', reportId: 1, frequency: 'custom', customSchedule: { cron: '0 6 * * 1' }, advancedDelivery: { channels: ['slack'] } },
  { reportId: 2, frequency: 'conditional', conditionalTriggers: [{ metric: 'errors', gt: 5 }] },
  { reportId: 3, frequency: 'custom' },
  { reportId: 4, frequency: 'daily', customSchedule: { cron: 'kept: not custom' } },
  { reportId: 5, frequency: 'weekly' },
];

async function mongoFixtures(): Promise<void> {
  for (const [name, docs] of [
    ['reporttemplates', templates()],
    ['reportschedules', schedules()],
  ] as const) {
    await env.mongo.collection(name).deleteMany({});
    await env.mongo.collection(name).insertMany(docs.map((d) => ({ _id: new ObjectId(), ...d })));
  }
}

// ---- snapshots: exact, comparable forms of a whole collection or table ----

/** Canonical EJSON of every document (keeps BSON types: Int32, Double, Long), ordered by _id. */
async function docs(collection: string): Promise<Document[]> {
  const all = await env.mongo.collection(collection).find({}, { promoteValues: false }).toArray();
  const canonical = BSON.EJSON.serialize(all, { relaxed: false }) as unknown as Document[];
  return canonical.sort((a, b) => JSON.stringify(a._id).localeCompare(JSON.stringify(b._id)));
}
/** Every row as jsonb text (exact: numeric digits, microseconds), ordered by primary key. */
async function rows(table: string, pk: string): Promise<string[]> {
  const r = await env.pool.query<{ row: string }>(`SELECT to_jsonb(t)::text AS row FROM ${table} AS t ORDER BY ${pk}`);
  return r.rows.map((x) => x.row);
}
const parsed = (texts: string[]): Array<Record<string, unknown>> => texts.map((t) => JSON.parse(t) as Record<string, unknown>);

interface World {
  reporttemplates: Document[];
  reportschedules: Document[];
  report_exports: string[];
  reports: string[];
  schema_migrations: string[];
}
async function world(): Promise<World> {
  return {
    reporttemplates: await docs('reporttemplates'),
    reportschedules: await docs('reportschedules'),
    report_exports: await rows('public.report_exports', 'id'),
    reports: await rows('public.reports', 'id'),
    schema_migrations: await rows('public.schema_migrations', 'version'),
  };
}

const without = (d: Document, fields: string[]): Document => Object.fromEntries(Object.entries(d).filter(([k]) => !fields.includes(k)));

async function savedDocuments(runKey: string): Promise<Document[]> {
  const saved = await env.mongo.collection('runbook_saved_documents').find({ runKey }, { promoteValues: false }).sort({ _id: 1 }).toArray();
  return BSON.EJSON.serialize(saved, { relaxed: false }) as unknown as Document[];
}
async function savedRows(runKey: string): Promise<Array<{ step_id: string; row_key: string; op: string; tbl: string; row: string; restored: boolean }>> {
  const r = await env.pool.query<{ step_id: string; row_key: string; op: string; tbl: string; row: string; restored: boolean }>(
    `SELECT step_id, row_key, op, tbl, "row"::text AS row, restored_at IS NOT NULL AS restored
       FROM runbook_saved_rows WHERE run_key = $1 ORDER BY step_id, row_key`,
    [runKey],
  );
  return r.rows;
}

const RUN = 'rollback-run-1';
const stepIds = reviewed.steps.map((s) => s.id);
const V2_FIELDS = ['advancedFilters', 'customChartTypes', 'templateInheritance'];
const SCHEDULE_FIELDS = ['customSchedule', 'conditionalTriggers', 'advancedDelivery'];

let initial: World;
let plan: DataRollbackCount[];
const applied: Record<string, { changed: number }> = {};

beforeAll(async () => {
  env = await createTestEnv();
  await pgFixtures();
  await mongoFixtures();
  config = configWith(reviewed);
  acts = activitiesFor(config);
  initial = await world();
});
afterAll(async () => {
  for (const d of opened) await d.close();
  await env?.cleanup();
});

describe('database rollback of reports v2 (seed 001) from the reviewed configuration', () => {
  test('the plan lists every step in configured order, readably, with how many documents/rows each would change', async () => {
    plan = await acts.planDataRollback({ service: 'reports' });
    expect(plan.map((p) => p.id)).toEqual(stepIds);
    expect(plan.map((p) => [p.id, p.count])).toEqual([
      ['templates-v2-fields', 3], // v2-basic, v2-partial, predictive (v2-clean has none of the fields; legacy is version 1)
      ['templates-v2-types', 3], // advanced, dashboards, predictive
      ['schedules-advanced', 3], // custom, conditional, custom without v2 fields (frequency still changes)
      ['exports-v2-formats', 12], // 6 dashboard + 6 predictive-pdf of 30
      ['reports-org-visibility', 20], // id % 10 = 0 of 200
      ['migration-0002-record', 1],
    ]);
    expect(plan[0]).toEqual({
      id: 'templates-v2-fields',
      store: 'mongo',
      target: 'reports-mongo',
      collection: 'reporttemplates',
      where: 'reporttemplates where version >= 2',
      change: 'unset advancedFilters, customChartTypes, templateInheritance',
      description: 'report templates of version >= 2: remove the fields added in v2.0',
      count: 3,
    });
    expect(plan[4]).toMatchObject({
      table: 'public.reports',
      where: "public.reports where visibility = 'org-wide'",
      change: "set visibility='private'",
      migration: '0002_reports_v2',
    });
    // Read-only.
    expect(await world()).toEqual(initial);
  });

  test('the integrity check fails before the rollback: the release data is still there, foreign keys are sound', async () => {
    const integrity = await acts.checkDataIntegrity({ service: 'reports' });
    expect(integrity.ok).toBe(false);
    const failed = integrity.checks.filter((c) => !c.ok).map((c) => c.name);
    expect(failed).toEqual(stepIds.map((id) => `step ${id}: nothing left to roll back`));
    expect(integrity.checks.find((c) => c.name.startsWith('step exports-v2-formats'))!.detail).toBe(
      `12 row(s) of public.report_exports where format in ('dashboard', 'predictive-pdf') still need "delete"`,
    );
    const fk = integrity.checks.find((c) => c.name === 'foreign key report_exports_report_id_fkey (reports-db)');
    expect(fk).toEqual({
      name: 'foreign key report_exports_report_id_fkey (reports-db)',
      ok: true,
      detail: 'no orphaned rows: public.report_exports(report_id) -> public.reports(id)',
    });
  });

  test('each step changes exactly what the plan counted, as configured, and saves a copy of each first', async () => {
    const byId = Object.fromEntries(plan.map((p) => [p.id, p.count]));

    // templates-v2-fields: the v2 fields removed from version >= 2 only.
    let before = await world();
    let res = await inActivity(() => acts.applyDataRollbackStep({ service: 'reports', stepId: 'templates-v2-fields', runKey: RUN }));
    expect(res).toEqual({ id: 'templates-v2-fields', matched: 3, changed: 3, saved: 3, alreadySaved: 0 });
    let after = await world();
    const touched = ['v2-basic', 'v2-partial', 'predictive'];
    expect(after.reporttemplates).toEqual(before.reporttemplates.map((d) => (touched.includes(d.name as string) ? without(d, V2_FIELDS) : d)));
    expect({ ...after, reporttemplates: [] }).toEqual({ ...before, reporttemplates: [] });
    applied['templates-v2-fields'] = res;

    // templates-v2-types: the documents of the v2 report types deleted, nothing else.
    before = after;
    res = await inActivity(() => acts.applyDataRollbackStep({ service: 'reports', stepId: 'templates-v2-types', runKey: RUN }));
    expect(res).toEqual({ id: 'templates-v2-types', matched: 3, changed: 3, saved: 3, alreadySaved: 0 });
    after = await world();
    expect(after.reporttemplates).toEqual(before.reporttemplates.filter((d) => !['advanced', 'dashboards', 'predictive'].includes(d.name as string)));
    expect({ ...after, reporttemplates: [] }).toEqual({ ...before, reporttemplates: [] });
    applied['templates-v2-types'] = res;

    // schedules-advanced: custom/conditional back to weekly without the v2 scheduling fields.
    before = after;
    res = await inActivity(() => acts.applyDataRollbackStep({ service: 'reports', stepId: 'schedules-advanced', runKey: RUN }));
    expect(res).toEqual({ id: 'schedules-advanced', matched: 3, changed: 3, saved: 3, alreadySaved: 0 });
    after = await world();
    expect(after.reportschedules).toEqual(
      before.reportschedules.map((d) =>
        ['custom', 'conditional'].includes(d.frequency as string) ? { ...without(d, SCHEDULE_FIELDS), frequency: 'weekly' } : d,
      ),
    );
    expect({ ...after, reportschedules: [] }).toEqual({ ...before, reportschedules: [] });
    applied['schedules-advanced'] = res;

    // exports-v2-formats: the rows of the v2 formats deleted; each saved exactly as it was.
    before = after;
    res = await inActivity(() => acts.applyDataRollbackStep({ service: 'reports', stepId: 'exports-v2-formats', runKey: RUN }));
    expect(res).toEqual({ id: 'exports-v2-formats', matched: 12, changed: 12, saved: 12, alreadySaved: 0 });
    after = await world();
    const isV2 = (row: string): boolean => ['dashboard', 'predictive-pdf'].includes((JSON.parse(row) as { format: string }).format);
    expect(after.report_exports).toEqual(before.report_exports.filter((r) => !isV2(r)));
    expect({ ...after, report_exports: [] }).toEqual({ ...before, report_exports: [] });
    const savedExports = (await savedRows(RUN)).filter((s) => s.step_id === 'exports-v2-formats');
    expect(savedExports.map((s) => s.row).sort()).toEqual(before.report_exports.filter(isV2).sort());
    expect(savedExports.every((s) => s.op === 'delete' && s.tbl === 'public.report_exports' && !s.restored)).toBe(true);
    applied['exports-v2-formats'] = res;

    // reports-org-visibility: org-wide back to private; 'team' and every other column untouched.
    before = after;
    res = await inActivity(() => acts.applyDataRollbackStep({ service: 'reports', stepId: 'reports-org-visibility', runKey: RUN }));
    expect(res).toEqual({ id: 'reports-org-visibility', matched: 20, changed: 20, saved: 20, alreadySaved: 0 });
    after = await world();
    expect(parsed(after.reports)).toEqual(parsed(before.reports).map((r) => (r.visibility === 'org-wide' ? { ...r, visibility: 'private' } : r)));
    expect({ ...after, reports: [] }).toEqual({ ...before, reports: [] });
    applied['reports-org-visibility'] = res;

    // migration-0002-record: only that version forgotten.
    before = after;
    res = await inActivity(() => acts.applyDataRollbackStep({ service: 'reports', stepId: 'migration-0002-record', runKey: RUN }));
    expect(res).toEqual({ id: 'migration-0002-record', matched: 1, changed: 1, saved: 1, alreadySaved: 0 });
    after = await world();
    expect(parsed(after.schema_migrations).map((r) => r.version)).toEqual(
      parsed(before.schema_migrations)
        .map((r) => r.version)
        .filter((v) => v !== '0002_reports_v2'),
    );
    applied['migration-0002-record'] = res;

    for (const id of stepIds) expect(applied[id]!.changed).toBe(byId[id]);
    expect((await savedDocuments(RUN)).length).toBe(9);
    expect((await savedRows(RUN)).length).toBe(33);
    expect((await acts.planDataRollback({ service: 'reports' })).map((p) => p.count)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test('applying again with the same runKey (a retry after a lost reply) changes nothing, saves nothing new and reports the copies the first attempt saved', async () => {
    const before = await world();
    const savedBefore = { docs: await savedDocuments(RUN), rows: await savedRows(RUN) };
    for (const stepId of stepIds) {
      const res = await inActivity(() => acts.applyDataRollbackStep({ service: 'reports', stepId, runKey: RUN }));
      // The rows were changed by the first attempt, so none matches; its saved copies are what it changed.
      expect(res).toEqual({ id: stepId, matched: 0, changed: 0, saved: 0, alreadySaved: applied[stepId]!.changed });
    }
    expect(await world()).toEqual(before);
    expect({ docs: await savedDocuments(RUN), rows: await savedRows(RUN) }).toEqual(savedBefore);
  });

  test('the integrity check passes after the rollback', async () => {
    const integrity = await acts.checkDataIntegrity({ service: 'reports' });
    expect(integrity.checks.filter((c) => !c.ok)).toEqual([]);
    expect(integrity.ok).toBe(true);
    expect(integrity.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        'step templates-v2-fields: nothing left to roll back',
        'foreign key report_exports_report_id_fkey (reports-db)',
        'foreign key report_runs_report_id_fkey (reports-db)',
        'foreign keys of public.schema_migrations (reports-db)',
      ]),
    );
  });

  test('undo, newest step first, puts back the exact documents and rows; a second undo restores nothing', async () => {
    const reversed = [...stepIds].reverse();
    for (const stepId of reversed) {
      const res = await inActivity(() => acts.undoDataRollbackStep({ service: 'reports', stepId, runKey: RUN }));
      expect(res).toEqual({ id: stepId, restored: applied[stepId]!.changed });
    }
    // Deep-equal, _ids and BSON types (Int32, Double, Long) included; numeric digits and microseconds too.
    expect(await world()).toEqual(initial);
    expect((await savedRows(RUN)).every((s) => s.restored)).toBe(true);
    expect((await savedDocuments(RUN)).every((s) => s.restoredAt !== undefined)).toBe(true);

    for (const stepId of reversed) {
      expect(await inActivity(() => acts.undoDataRollbackStep({ service: 'reports', stepId, runKey: RUN }))).toEqual({ id: stepId, restored: 0 });
    }
    expect(await world()).toEqual(initial);
    expect((await acts.checkDataIntegrity({ service: 'reports' })).ok).toBe(false);
  });

  test('a step undone in a run is not applied again under that runKey (its undo would be lost)', async () => {
    for (const stepId of ['templates-v2-fields', 'exports-v2-formats']) {
      await expect(inActivity(() => acts.applyDataRollbackStep({ service: 'reports', stepId, runKey: RUN }))).rejects.toMatchObject({
        name: 'UnsafeOperationError',
        message: `step "${stepId}" of run "${RUN}" was already undone; applying it again under the same runKey could not be undone. Use a new runKey`,
      });
    }
    expect(await world()).toEqual(initial);
  });

  test('a retry after an attempt that saved but did not change keeps the first saved copy', async () => {
    const runKey = 'rollback-run-2';
    const first = await env.mongo.collection('reporttemplates').findOne({ name: 'v2-basic' }, { promoteValues: false });
    const key = `${runKey}:templates-v2-fields:${BSON.EJSON.stringify(first!._id, { relaxed: false })}`;
    // What the crashed attempt left: one copy saved, nothing changed.
    await env.mongo.collection<Document>('runbook_saved_documents').insertOne({
      _id: key as unknown as ObjectId,
      runKey,
      stepId: 'templates-v2-fields',
      collection: 'reporttemplates',
      op: 'update',
      doc: first!,
      savedAt: new Date(0),
    });
    const res = await inActivity(() => acts.applyDataRollbackStep({ service: 'reports', stepId: 'templates-v2-fields', runKey }));
    expect(res).toEqual({ id: 'templates-v2-fields', matched: 3, changed: 3, saved: 2, alreadySaved: 1 });
    const kept = await env.mongo.collection<Document>('runbook_saved_documents').findOne({ _id: key as unknown as ObjectId });
    expect(kept!.savedAt).toEqual(new Date(0));
    expect(await inActivity(() => acts.undoDataRollbackStep({ service: 'reports', stepId: 'templates-v2-fields', runKey }))).toEqual({
      id: 'templates-v2-fields',
      restored: 3,
    });
    expect(await world()).toEqual(initial);
  });

  test('the integrity check reports rows orphaned behind a NOT VALID foreign key', async () => {
    await env.pool.query(`
      ALTER TABLE report_exports ADD COLUMN run_id bigint;
      INSERT INTO report_exports (id, report_id, format, run_id) VALUES (100000, 1, 'pdf', -1);
      ALTER TABLE report_exports ADD CONSTRAINT report_exports_run_fk FOREIGN KEY (run_id) REFERENCES report_runs(id) NOT VALID;
    `);
    try {
      const fk = (await acts.checkDataIntegrity({ service: 'reports' })).checks.find((c) => c.name === 'foreign key report_exports_run_fk (reports-db)');
      expect(fk).toEqual({
        name: 'foreign key report_exports_run_fk (reports-db)',
        ok: false,
        detail: '1 row(s) of public.report_exports reference no row: public.report_exports(run_id) -> public.report_runs(id)',
      });
    } finally {
      await env.pool.query(
        'ALTER TABLE report_exports DROP CONSTRAINT report_exports_run_fk; DELETE FROM report_exports WHERE id = 100000; ALTER TABLE report_exports DROP COLUMN run_id',
      );
    }
  });
});

describe('database rollback refusals: clear, non-retryable errors, nothing changed', () => {
  const refused = async (p: Promise<unknown>, name: string, message: string | RegExp): Promise<void> => {
    const err = (await p.then(
      () => undefined,
      (e: unknown) => e,
    )) as Error | undefined;
    expect(err).toBeDefined();
    expect(err!.name).toBe(name);
    expect(NON_RETRYABLE_ERROR_TYPES).toContain(err!.name);
    expect(err!.message).toMatch(message);
  };

  test('an unknown stepId names the known steps', async () => {
    await refused(
      inActivity(() => acts.applyDataRollbackStep({ service: 'reports', stepId: 'drop-everything', runKey: 'r' })),
      'InvalidTargetError',
      `stepId: "drop-everything" is not a dataRollback step of service "reports"; known steps: ${stepIds.join(', ')}`,
    );
    await refused(
      inActivity(() => acts.undoDataRollbackStep({ service: 'reports', stepId: 'nope', runKey: 'r' })),
      'InvalidTargetError',
      /"nope" is not a dataRollback step/,
    );
    await refused(
      acts.planDataRollback({ service: 'billing' }),
      'InvalidTargetError',
      'service "billing" is not configured; known services: reports, reports-down',
    );
  });

  test('a service without dataRollback plans nothing and has no steps', async () => {
    const plain = createDataRollbackActivities(env.deps);
    // reports-down: the same service's database, without database rollback steps.
    expect(await plain.planDataRollback({ service: 'reports-down' })).toEqual([]);
    expect(await plain.checkDataIntegrity({ service: 'reports-down' })).toEqual({ ok: true, checks: [] });
    await refused(
      inActivity(() => plain.applyDataRollbackStep({ service: 'reports-down', stepId: 'templates-v2-fields', runKey: 'r' })),
      'InvalidTargetError',
      'stepId: service "reports-down" has no dataRollback configured (services.reports-down.dataRollback), so it has no step "templates-v2-fields"',
    );
  });

  test("a step whose target is not one of the service's is refused by the activities too", async () => {
    // The configuration schema refuses this at load; a Config built in code bypasses it.
    const reports = config.services.reports!;
    const foreign = activitiesFor({ ...config, services: { ...config.services, reports: { ...reports, mongo: [] } } });
    const message =
      'dataRollback step "templates-v2-fields" of service "reports" names mongo target "reports-mongo", which is not one of the service\'s (none); fix services.reports.dataRollback';
    await refused(
      inActivity(() => foreign.applyDataRollbackStep({ service: 'reports', stepId: 'templates-v2-fields', runKey: 'r' })),
      'InvalidTargetError',
      message,
    );
    await refused(foreign.planDataRollback({ service: 'reports' }), 'InvalidTargetError', message);
    expect(await world()).toEqual(initial);
  });

  test('a Mongo change Mongo would refuse (the same field twice, a field and a path in it, _id) is refused at plan time', async () => {
    const step = { store: 'mongo', target: 'reports-mongo', collection: 'reporttemplates', filter: { version: { $gte: 2 } } };
    const plan = (s: Record<string, unknown>): Promise<unknown> =>
      activitiesFor(configWith({ description: 'clash', steps: [{ ...step, id: 'clash', ...s }] })).planDataRollback({ service: 'reports' });
    await refused(
      plan({ set: { a: 1 }, unset: ['a'] }),
      'InvalidTargetError',
      'dataRollback step "clash" of service "reports" names both "a" and "a" in set/unset; fix services.reports.dataRollback',
    );
    await refused(plan({ set: { 'a.b': 1 }, unset: ['a'] }), 'InvalidTargetError', /names both "a\.b" and "a" in set\/unset/);
    await refused(plan({ unset: ['_id'] }), 'InvalidTargetError', /changes _id, which Mongo never changes/);
    expect(await world()).toEqual(initial);
  });

  test('a table without a primary key, a cascading delete and a column that does not exist are refused before anything changes', async () => {
    await env.pool.query(`
      CREATE TABLE IF NOT EXISTS export_log (format text, note text);
      INSERT INTO export_log VALUES ('dashboard', 'x');
      CREATE TABLE IF NOT EXISTS export_parts (id bigserial PRIMARY KEY, export_id bigint REFERENCES report_exports(id) ON DELETE CASCADE);
    `);
    const step = { store: 'postgres', target: 'reports-db', where: { format: ['dashboard'] }, delete: true };
    const odd = activitiesFor(
      configWith({
        description: 'refusals',
        steps: [
          { ...step, id: 'no-pk', table: 'public.export_log' },
          { ...step, id: 'cascade', table: 'public.report_exports' },
          { ...step, id: 'no-column', table: 'public.report_exports', where: { colour: ['red'] } },
          { ...step, id: 'no-table', table: 'public.nothing_here' },
        ],
      }),
    );
    const apply = (stepId: string): Promise<unknown> => inActivity(() => odd.applyDataRollbackStep({ service: 'reports', stepId, runKey: 'r' }));
    await refused(apply('no-pk'), 'UnsafeOperationError', /public\.export_log \(postgres target "reports-db", step "no-pk"\) has no primary key/);
    await refused(
      apply('cascade'),
      'UnsafeOperationError',
      /deleting from public\.report_exports .* would also change rows the step does not save: export_parts \(export_parts_export_id_fkey ON DELETE CASCADE\)/,
    );
    await refused(apply('no-column'), 'InvalidTargetError', /column\(s\) colour of public\.report_exports .* do not exist; its columns: id, report_id, format/);
    await refused(apply('no-table'), 'InvalidTargetError', 'table public.nothing_here (postgres target "reports-db", step "no-table") does not exist');
    expect((await env.pool.query('SELECT count(*)::int AS n FROM export_log')).rows[0]).toEqual({ n: 1 });
    await env.pool.query('DROP TABLE export_parts; DROP TABLE export_log');
    expect(await world()).toEqual(initial);
  });
});
