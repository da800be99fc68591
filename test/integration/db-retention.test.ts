// Database maintenance and retention tasks of the maintenance window (seeds 002 "Weekly/Monthly
// Maintenance", 000 "Data Cleanup") on the real stack: rows archived and documents deleted are checked id
// by id, a bloated index is rebuilt and a lean one is not (relfilenode), a real idle-in-transaction session
// is terminated and an allowlisted one is not, the backup guard refuses before anything changes, and the
// real worker process SIGKILLed in the middle of an archive leaves every row in exactly one table.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DefaultLogger } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Client as PgClient } from 'pg';
import type { MaintenanceTask } from '../../activities';
import { createMaintenanceLookupActivities } from '../../activities/maintenance/resolve';
import { createMaintenanceTaskActivities } from '../../activities/maintenance/run-task';
import { manifestKey, setIdOf, type BackupManifest } from '../../activities/backups/contract';
import { createBackupStore } from '../../activities/backups/store';
import { castVote } from '../../client/runbooks';
import type { MaintenanceWindowInput, MaintenanceWindowResult } from '../../workflows/maintenance-window/contract';
import { createTestEnv, eventually, maintenanceInput, pgUrl, workflowId, type TestEnv } from '../helpers/env';
import { failureOf, gateOpen, startRun, type RunHandle } from '../helpers/runs';
import { plan } from '../../workflows/lib/progress';
import { exited, startWorkerProcess } from '../helpers/worker-process';

type Handle = RunHandle<MaintenanceWindowResult>;
type Task = MaintenanceWindowInput['tasks'][number];

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
  await env.startWorker();
});
afterAll(async () => env?.cleanup());

const start = (e: TestEnv, input: MaintenanceWindowInput, prefix: string): Promise<Handle> =>
  startRun<MaintenanceWindowResult>(e, 'maintenanceWindow', input, workflowId(prefix));

/** A window with these tasks, approved by alice; its result. */
async function runApproved(e: TestEnv, tasks: Task[], extra: Partial<MaintenanceWindowInput> = {}, prefix = 'mw-ret'): Promise<MaintenanceWindowResult> {
  const h = await start(e, maintenanceInput({ tasks, ...extra }), prefix);
  await gateOpen(h);
  await castVote(e.client, h.workflowId, { approver: 'alice', decision: 'approve' });
  return h.result();
}

async function dryRun(tasks: Task[]): Promise<MaintenanceWindowResult> {
  return (await start(env, maintenanceInput({ tasks, dryRun: true }), 'mw-ret-dry')).result();
}

const ids = async (e: TestEnv, sql: string, params: unknown[] = []): Promise<string[]> =>
  (await e.pool.query<{ id: string }>(sql, params)).rows.map((r) => String(r.id)).sort();

/** The cutoff a retention task used, as its detail or title says it ("before <ISO time>"). */
function cutoffIn(text: string): string {
  const m = /before (\d{4}-\d\d-\d\dT[\d:.]+Z)/.exec(text);
  if (!m) throw new Error(`no cutoff in "${text}"`);
  return m[1]!;
}

/** Every column of a table's rows in id order, as text: equal data, equal string. */
async function rowsText(e: TestEnv, table: string, where: string, params: unknown[], cols = 'id, day, report_id, runs, rows_out'): Promise<string> {
  return (
    await e.pool.query<{ t: string }>(
      `SELECT coalesce(string_agg(r::text, '|' ORDER BY id), '') AS t FROM (SELECT ${cols} FROM ${table} WHERE ${where}) r`,
      params,
    )
  ).rows[0]!.t;
}

const archiveTask = (over: Partial<Extract<Task, { kind: 'archive-rows' }>> = {}): Task => ({
  kind: 'archive-rows',
  table: 'daily_analytics',
  archiveTable: 'daily_analytics_archive',
  timeColumn: 'day',
  olderThan: '2y',
  batchSize: 100,
  ...over,
});

async function counts(): Promise<{ source: number; archive: number; exports: number; logs: number }> {
  const q = async (sql: string): Promise<number> => Number((await env.pool.query<{ n: string }>(sql)).rows[0]!.n);
  return {
    source: await q('SELECT count(*) AS n FROM daily_analytics'),
    archive: await q('SELECT count(*) AS n FROM daily_analytics_archive'),
    exports: await env.mongo.collection('report_export_files').countDocuments(),
    logs: await env.mongo.collection('report_audit_logs').countDocuments(),
  };
}

describe('bad input is refused naming the field, with nothing changed', () => {
  test.each<[string, Task, RegExp]>([
    ['an unknown database', archiveTask({ database: 'nope-db' }), /tasks\[0\]\.database: "nope-db" is not a postgres target of service "reports"/],
    [
      'a cutoff in the future',
      archiveTask({ olderThan: '2099-01-01T00:00:00Z' }),
      /tasks\[0\]\.olderThan: the cutoff 2099-01-01T00:00:00\.000Z is in the future/,
    ],
    ['SQL metacharacters in a table name', archiveTask({ table: 'daily_analytics; DROP TABLE reports' }), /tasks\[0\]\.table: must be a plain table name/],
    ['SQL metacharacters in a column name', archiveTask({ timeColumn: 'day" < now() --' }), /tasks\[0\]\.timeColumn: must be a plain column name/],
    ['batchSize 0', archiveTask({ batchSize: 0 }), /tasks\[0\]\.batchSize: must be at least 1/],
    ['a time column that does not exist', archiveTask({ timeColumn: 'created_at' }), /tasks\[0\]\.timeColumn: "created_at" is not a column of daily_analytics/],
    [
      'a Mongo filter with an operator',
      { kind: 'mongo-retention', collection: 'report_export_files', timeField: 'createdAt', olderThan: '7d', filter: { $where: 'x' } },
      /tasks\[0\]\.filter/,
    ],
  ])('%s', async (_name, task, expected) => {
    const before = await counts();
    const f = await failureOf(await start(env, maintenanceInput({ tasks: [task] }), 'mw-ret-bad'));
    expect(f.type).toBe('InvalidInputError');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(expected);
    expect(await counts()).toEqual(before);
  });

  test('an archive table without a column of the source is refused naming the column', async () => {
    await env.pool.query('CREATE TABLE narrow_archive (id bigint PRIMARY KEY, day date NOT NULL)');
    const f = await failureOf(await start(env, maintenanceInput({ tasks: [archiveTask({ archiveTable: 'narrow_archive' })] }), 'mw-ret-bad'));
    expect(f.message).toMatch(/tasks\[0\]\.archiveTable: narrow_archive has no column "report_id" \(bigint\) of daily_analytics/);
    expect(Number((await env.pool.query('SELECT count(*) FROM narrow_archive')).rows[0].count)).toBe(0);
  });
});

/** A verified backup set of the service holding its Mongo database, as the backup runbook writes it (its manifest). */
async function writeVerifiedSet(e: TestEnv, tag: string): Promise<string> {
  const store = createBackupStore(e.config.backups);
  const now = new Date();
  const setId = setIdOf(now, tag);
  const manifest: BackupManifest = {
    version: 1,
    service: 'reports',
    setId,
    workflowId: `backup-${tag}`,
    startedAt: now.toISOString(),
    finishedAt: now.toISOString(),
    sources: [
      {
        store: 'mongo',
        target: 'reports-mongo',
        database: e.dbName,
        collections: ['report_audit_logs', 'report_export_files'].map((name) => ({
          name,
          documents: 0,
          checksum: '-',
          indexes: 0,
          bson: { key: `reports/${setId}/${name}.bson`, bytes: 0, sha256: '-' },
          metadata: { key: `reports/${setId}/${name}.metadata.json`, bytes: 0, sha256: '-' },
        })),
        ms: 1,
      },
    ],
    totalBytes: 0,
    software: {},
    verified: true,
  };
  await store.put(manifestKey('reports', setId), Buffer.from(JSON.stringify(manifest)));
  return setId;
}

const auditLogRetention: Task = { kind: 'mongo-retention', collection: 'report_audit_logs', timeField: 'createdAt', olderThan: '1y', batchSize: 10 };

describe('the backup guard', () => {
  test('no verified backup: archive-rows and mongo-retention are refused at plan time, before approval is asked', async () => {
    const before = await counts();
    for (const [task, own] of [
      [archiveTask(), 'this run takes no pg_dump \\("backup": false\\)'],
      [auditLogRetention, 'a pg_dump does not cover Mongo'],
    ] as const) {
      const h = await start(env, maintenanceInput({ tasks: [task], backup: false }), 'mw-ret-guard');
      const f = await failureOf(h);
      expect(f.type).toBe('InvalidInputError');
      expect(f.message).toMatch(
        new RegExp(
          `tasks\\[0\\] \\(${task.kind}\\): refused: no verified backup of reports-(db|mongo) newer than 24h \\(${own}; no verified backup set of reports in `,
        ),
      );
      expect((await env.deps.audit.forWorkflow(h.workflowId)).map((a) => a.kind)).toEqual([]);
    }
    expect(await counts()).toEqual(before);
  });

  test('a backup set gone by the time the task runs: refused at run time, before anything changes', async () => {
    const before = await counts();
    const setId = await writeVerifiedSet(env, 'guardgone');
    const h = await start(env, maintenanceInput({ tasks: [auditLogRetention], backup: false }), 'mw-ret-guard');
    await gateOpen(h);
    expect((await h.query(plan)).find((s) => s.id === 'task-1')).toBeDefined();
    await createBackupStore(env.config.backups).deletePrefix(`reports/${setId}/`);
    await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });
    const f = await failureOf(h);
    expect(f.message).toMatch(/tasks\[0\] \(mongo-retention\): refused: no verified backup of reports-mongo newer than 24h .*nothing was changed/);
    expect(await counts()).toEqual(before);
  });
});

describe('archive-rows (seed 002 "Archive Old Data")', () => {
  test('a dry run counts the old rows and moves none', async () => {
    const before = await counts();
    const r = await dryRun([archiveTask()]);
    expect(r.outcome).toBe('dry-run');
    const description = r.tasks[0]!.description;
    expect(description).toMatch(/^archive rows of daily_analytics with day before \S+ into daily_analytics_archive on reports-db, 100 per batch$/);
    // Counted at plan time against the cutoff fixed then (2y = 730.5 days back): about a third of 3 years of days.
    const old = Number((await env.pool.query('SELECT count(*) AS n FROM daily_analytics WHERE day < $1', [cutoffIn(description)])).rows[0].n);
    expect(old).toBeGreaterThan(1400);
    expect(r.tasks[0]!.detail).toBe(`would move ${old} row(s) in batches of 100; relies on this run's pre-change pg_dump of reports-db`);
    expect(await counts()).toEqual(before);
  });

  test("moves exactly the rows older than the cutoff, relying on the run's verified pg_dump", async () => {
    const all = await ids(env, 'SELECT id FROM daily_analytics');
    const snapshot = await rowsText(env, 'daily_analytics', 'true', []);
    const r = await runApproved(env, [archiveTask()]);
    expect(r.outcome).toBe('completed');
    const detail = r.tasks[0]!.detail!;
    expect(detail).toMatch(/relied on this run's verified pg_dump/);
    const cutoff = cutoffIn(detail);
    const moved = Number(/moved (\d+) row/.exec(detail)![1]);
    const archived = await ids(env, 'SELECT id FROM daily_analytics_archive');
    const left = await ids(env, 'SELECT id FROM daily_analytics');
    expect(archived.length).toBe(moved);
    expect(moved).toBeGreaterThan(1000);
    // Every old row is in the archive and no newer one; none in both; none lost.
    expect(Number((await env.pool.query('SELECT count(*) AS n FROM daily_analytics WHERE day < $1', [cutoff])).rows[0].n)).toBe(0);
    expect(Number((await env.pool.query('SELECT count(*) AS n FROM daily_analytics_archive WHERE day >= $1', [cutoff])).rows[0].n)).toBe(0);
    expect(archived.filter((id) => left.includes(id))).toEqual([]);
    expect([...archived, ...left].sort()).toEqual(all);
    // The rows arrived as they were.
    const after = (
      await env.pool.query<{ t: string }>(
        `SELECT string_agg(r::text, '|' ORDER BY id) AS t FROM (SELECT id, day, report_id, runs, rows_out FROM daily_analytics UNION ALL SELECT id, day, report_id, runs, rows_out FROM daily_analytics_archive) r`,
      )
    ).rows[0]!.t;
    expect(after).toBe(snapshot);

    // Again: nothing is older than the cutoff any more, so nothing moves.
    const again = await runApproved(env, [archiveTask()]);
    expect(again.tasks[0]!.detail).toMatch(/^moved 0 row/);
    expect(await ids(env, 'SELECT id FROM daily_analytics_archive')).toEqual(archived);
  });
});

describe('mongo-retention (seed 000 "Data Cleanup")', () => {
  test('deletes exactly the matching old documents, relying on a verified backup set', async () => {
    const setId = await writeVerifiedSet(env, 'retention');
    const logs = env.mongo.collection('report_audit_logs');
    const exportsColl = env.mongo.collection('report_export_files');
    const allLogs = (await logs.find({}, { projection: { _id: 1, createdAt: 1 } }).toArray()).map((d) => ({ id: String(d._id), at: d.createdAt as Date }));
    const allExports = (await exportsColl.find({}).toArray()).map((d) => ({ id: String(d._id), at: d.createdAt as Date, status: d.status as string }));
    const tasks: Task[] = [
      { kind: 'mongo-retention', collection: 'report_audit_logs', timeField: 'createdAt', olderThan: '1y', batchSize: 10 },
      { kind: 'mongo-retention', collection: 'report_export_files', timeField: 'createdAt', olderThan: '7d', filter: { status: 'completed' }, batchSize: 3 },
    ];
    const dry = await dryRun(tasks);
    expect(dry.tasks.map((t) => t.detail)).toEqual([
      expect.stringMatching(
        new RegExp(`^would delete 52 document\\(s\\) in batches of 10; relies on verified backup set ${setId} of reports \\(\\d+s old\\)$`),
      ),
      expect.stringMatching(new RegExp(`^would delete \\d+ document\\(s\\) in batches of 3; relies on verified backup set ${setId} of reports`)),
    ]);
    expect(await logs.countDocuments()).toBe(allLogs.length);

    const r = await runApproved(env, tasks, { backup: false });
    expect(r.outcome).toBe('completed');
    expect(r.tasks[0]!.detail).toMatch(new RegExp(`^deleted 52 document\\(s\\) .* relied on verified backup set ${setId} of reports`));
    const logCut = Date.parse(cutoffIn(r.tasks[0]!.detail!));
    const expCut = Date.parse(cutoffIn(r.tasks[1]!.detail!));
    const logsLeft = (await logs.find({}, { projection: { _id: 1 } }).toArray()).map((d) => String(d._id)).sort();
    const exportsLeft = (await exportsColl.find({}, { projection: { _id: 1 } }).toArray()).map((d) => String(d._id)).sort();
    expect(logsLeft).toEqual(
      allLogs
        .filter((d) => d.at.getTime() >= logCut)
        .map((d) => d.id)
        .sort(),
    );
    const expectedExports = allExports.filter((d) => !(d.status === 'completed' && d.at.getTime() < expCut));
    expect(exportsLeft).toEqual(expectedExports.map((d) => d.id).sort());
    // Old exports that were not completed are kept; some completed ones were deleted.
    expect(expectedExports.some((d) => d.at.getTime() < expCut)).toBe(true);
    expect(exportsLeft.length).toBeLessThan(allExports.length);
  });
});

describe('reindex-if-bloated (seed 002 "Reindex if Bloated")', () => {
  test('reindexes the bloated table and leaves the lean one alone, reporting the estimate either way', async () => {
    await env.pool.query(`
      CREATE TABLE bloated (id int PRIMARY KEY, v int NOT NULL) WITH (autovacuum_enabled = false);
      CREATE INDEX bloated_v ON bloated (v);
      INSERT INTO bloated SELECT g, g FROM generate_series(1, 50000) g;
      DELETE FROM bloated WHERE id % 10 <> 0;
      ANALYZE bloated;
      CREATE TABLE lean (id int PRIMARY KEY, v int NOT NULL) WITH (autovacuum_enabled = false);
      CREATE INDEX lean_v ON lean (v);
      INSERT INTO lean SELECT g, g FROM generate_series(1, 5000) g;
      ANALYZE lean;`);
    const node = async (index: string): Promise<string> =>
      String((await env.pool.query('SELECT relfilenode FROM pg_class WHERE relname = $1', [index])).rows[0].relfilenode);
    const before = { bloated: await node('bloated_v'), lean: await node('lean_v') };
    const tasks: Task[] = [
      { kind: 'reindex-if-bloated', table: 'bloated', minBloatRatio: 0.5 },
      { kind: 'reindex-if-bloated', table: 'lean', minBloatRatio: 0.5 },
    ];
    const dry = await dryRun(tasks);
    expect(dry.tasks[0]!.detail).toMatch(/^index bloat (8\d|9\d)% \(estimate: .*: would reindex$/);
    expect(dry.tasks[1]!.detail).toMatch(/^index bloat ([0-9]|[1-2]\d)% \(estimate: .*: would not reindex$/);
    expect(await node('bloated_v')).toBe(before.bloated);

    const r = await runApproved(env, tasks, { backup: false });
    expect(r.outcome).toBe('completed');
    expect(r.tasks[0]!.detail).toMatch(/: reindexed; now index bloat ([0-9]|[1-2]\d)%/);
    expect(r.tasks[1]!.detail).toMatch(/below 50%, not reindexed$/);
    expect(await node('bloated_v')).not.toBe(before.bloated);
    expect(await node('lean_v')).toBe(before.lean);
  });
});

describe('report and terminate-sessions', () => {
  test('the report shows an idle transaction; terminate-sessions ends it and spares the allowlisted one and our own', async () => {
    const open = async (app: string): Promise<PgClient> => {
      const c = new PgClient({ connectionString: pgUrl(env.dbName), application_name: app });
      c.on('error', () => undefined);
      await c.connect();
      await c.query('BEGIN');
      await c.query('SELECT count(*) FROM reports');
      return c;
    };
    const idle = await open('rbt-forgotten-tx');
    const allowed = await open('rbt-allowed-tx');
    const pid = async (c: PgClient): Promise<number> => (c as unknown as { processID: number }).processID;
    const [idlePid, allowedPid] = [await pid(idle), await pid(allowed)];
    await new Promise((r) => setTimeout(r, 1500));
    const tasks: Task[] = [
      { kind: 'report', top: 5, over: '1s' },
      { kind: 'terminate-sessions', idleInTransactionOver: '1s', allowApplications: ['rbt-allowed-tx'] },
    ];
    try {
      const dry = await dryRun(tasks);
      expect(dry.tasks[1]!.detail).toMatch(new RegExp(`^would terminate now: pid ${idlePid} postgres/rbt-forgotten-tx idle in transaction`));
      expect(dry.tasks[1]!.detail).not.toContain(String(allowedPid));
      expect(await idle.query('SELECT 1')).toBeTruthy();
      // That query restarted the session's idle clock: let it pass the 1s threshold again.
      await new Promise((r) => setTimeout(r, 1500));

      const r = await runApproved(env, tasks, { backup: false });
      expect(r.outcome).toBe('completed');
      const report = r.tasks[0]!.detail!;
      expect(report).toMatch(/^deadlocks: \d+/);
      expect(report).toMatch(new RegExp(`idle in transaction over 1s: .*pid ${idlePid} postgres/rbt-forgotten-tx`));
      const ext = (await env.pool.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")).rowCount;
      expect(report).toMatch(ext ? /pg_stat_statements top 5/ : /pg_stat_statements: not installed/);
      expect(r.tasks[1]!.detail).toMatch(new RegExp(`^terminated 1: pid ${idlePid} postgres/rbt-forgotten-tx`));

      const alive = (await env.pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE pid = ANY($1)', [[idlePid, allowedPid]])).rows.map(
        (x) => x.pid,
      );
      expect(alive).toEqual([allowedPid]);
      await expect(idle.query('SELECT 1')).rejects.toThrow();
      expect((await allowed.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    } finally {
      await allowed.query('ROLLBACK').catch(() => undefined);
      await Promise.allSettled([idle.end(), allowed.end()]);
    }
  });
});

describe('terminate-sessions in production', () => {
  test("terminates nothing without the run's recorded approval, and ends the session once it is recorded", async () => {
    const c = new PgClient({ connectionString: pgUrl(env.dbName), application_name: 'rbt-prod-tx' });
    c.on('error', () => undefined);
    await c.connect();
    await c.query('BEGIN');
    await c.query('SELECT 1');
    const pid = (c as unknown as { processID: number }).processID;
    await new Promise((r) => setTimeout(r, 1200));
    const inActivity = <R>(fn: () => Promise<R>): Promise<R> =>
      new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run<[], R, () => Promise<R>>(fn);
    const task: MaintenanceTask = { kind: 'terminate-sessions', idleInTransactionOver: '1s', allowUsers: [], allowApplications: [] };
    const [resolved] = await inActivity(() => createMaintenanceLookupActivities(env.deps).resolveMaintenanceTasks({ service: 'reports', tasks: [task] }));
    const prod = { ...resolved!, environment: 'production' };
    const id = workflowId('mw-prod');
    const run = createMaintenanceTaskActivities(env.deps);
    const call = (): Promise<unknown> => inActivity(() => run.runMaintenanceTask({ workflowId: id, runId: 'r1', runbook: 'maintenanceWindow', task: prod }));
    try {
      await expect(call()).rejects.toThrow(
        /tasks\[0\] \(terminate-sessions\): reports runs in production and this run has no recorded approval; nothing was terminated/,
      );
      expect((await env.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount).toBe(1);
      await env.deps.audit.record({ key: `${id}:r1:approval-decided`, workflowId: id, runId: 'r1', kind: 'approval-decided', data: { status: 'approved' } });
      await expect(call()).resolves.toMatchObject({ detail: expect.stringMatching(new RegExp(`^terminated 1: pid ${pid} `)) });
      await eventually(async () => (await env.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0, 5000, 'the session to end');
    } finally {
      await c.end().catch(() => undefined);
    }
  });
});

describe('durability', () => {
  let crashEnv: TestEnv | undefined;
  let dir: string | undefined;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await crashEnv?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('SIGKILL of the worker in the middle of an archive: a new worker finishes, every row in exactly one table', async () => {
    crashEnv = await createTestEnv();
    dir = mkdtempSync(path.join(tmpdir(), 'rbt-retention-'));
    const e = crashEnv;
    await e.pool.query(`
      CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz NOT NULL, payload text NOT NULL);
      CREATE INDEX events_at ON events (at);
      CREATE TABLE events_archive (LIKE events);
      INSERT INTO events (at, payload) SELECT now() - interval '3 years' + g * interval '1 minute', 'old ' || g FROM generate_series(1, 20000) g;
      INSERT INTO events (at, payload) SELECT now() - g * interval '1 minute', 'new ' || g FROM generate_series(1, 500) g;`);
    const all = await ids(e, 'SELECT id FROM events');
    const old = await ids(e, "SELECT id FROM events WHERE payload LIKE 'old %'");

    const first = await startWorkerProcess(e, dir);
    children.push(first.child);
    const h = await start(
      e,
      maintenanceInput({ tasks: [{ kind: 'archive-rows', table: 'events', archiveTable: 'events_archive', timeColumn: 'at', olderThan: '1y', batchSize: 5 }] }),
      'mw-ret-crash',
    );
    await gateOpen(h, 60_000);
    await castVote(e.client, h.workflowId, { approver: 'alice', decision: 'approve' });
    // Kill while batches are moving: some rows archived, most still old in the source.
    await eventually(
      async () => Number((await e.pool.query('SELECT count(*) AS n FROM events_archive')).rows[0].n) >= 500,
      60_000,
      'the archive to be under way',
    );
    first.child.kill('SIGKILL');
    expect(await exited(first.child)).toBeNull();
    const mid = { archived: await ids(e, 'SELECT id FROM events_archive'), source: await ids(e, 'SELECT id FROM events') };
    expect(mid.archived.length).toBeLessThan(old.length);
    expect(mid.archived.filter((id) => mid.source.includes(id))).toEqual([]);
    expect([...mid.archived, ...mid.source].sort()).toEqual(all);

    const second = await startWorkerProcess(e, dir);
    children.push(second.child);
    const r = await h.result();
    expect(r.outcome).toBe('completed');
    const archived = await ids(e, 'SELECT id FROM events_archive');
    const source = await ids(e, 'SELECT id FROM events');
    expect(archived).toEqual(old);
    expect(archived.filter((id) => source.includes(id))).toEqual([]);
    expect([...archived, ...source].sort()).toEqual(all);
    // The task ran again after the crash and was completed once.
    const audit = await e.deps.audit.forWorkflow(h.workflowId);
    expect(audit.filter((a) => a.kind === 'task-started').length).toBeGreaterThanOrEqual(2);
    expect(audit.filter((a) => a.kind === 'task-completed').length).toBe(1);
    second.child.kill('SIGTERM');
    await exited(second.child);
  }, 180_000);
});
