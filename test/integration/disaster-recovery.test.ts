// Disaster recovery against real servers: the demo service on a PRIVATE PostgreSQL cluster and a PRIVATE
// FerretDB (never the shared stack's), plus cache keys in the shared Redis under this test's own prefix.
// A verified backup set is taken by the backup runbook; then the disaster: both servers are killed, their
// data directories deleted, and they are started again empty, and the cache keys are gone. The
// disasterRecovery runbook, after approval, must rebuild all three so that every table, collection and key
// equals the manifest (counted and checksummed here, independently of the runbook), the demo service must be
// healthy again, and the report must give the RTO and the data-loss window. A second run finds nothing to
// recover; a drill rebuilds into scratch copies and leaves the service alone; bad input changes nothing.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { Client as PgClient, Pool } from 'pg';
import type { BackupManifest } from '../../activities/backups/contract';
import { manifestKey } from '../../activities/backups/contract';
import { mongoInventory, postgresInventory, redisInventory } from '../../activities/backups/inventory';
import { createRecoveryActivities } from '../../activities/backups/recover';
import { createBackupStore } from '../../activities/backups/store';
import { startDemo, type DemoService } from '../../demo/server';
import type { BackupResult } from '../../workflows/backup/contract';
import type { DisasterRecoveryInput, DisasterRecoveryResult } from '../../workflows/disaster-recovery/contract';
import { summarizeDisasterRecovery } from '../../workflows/disaster-recovery/contract';
import { approve } from '../../workflows/lib/approval';
import { act } from '../helpers/backups';
import { createTestEnv, redisUrl, workflowId, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { privateFerretDB, privatePostgres, type PrivateStore } from '../helpers/private-stores';
import { failureOf, gateOpen, startRun, type RunHandle } from '../helpers/runs';

let env: TestEnv;
let pg: PrivateStore;
let ferret: PrivateStore;
let demo: DemoService;
const id = randomUUID().replace(/-/g, '').slice(0, 8);
const cache = `rbt:dr${id}:cache:`;
const adminToken = randomUUID();
let setId: string;
let manifest: BackupManifest;

const input = (o: Partial<DisasterRecoveryInput> = {}): DisasterRecoveryInput => ({
  service: 'reports',
  requestedBy: 'bob',
  reason: 'test: Postgres and FerretDB lost their data directories',
  waitForStores: '1m',
  healthTimeout: '1m',
  ...o,
});
const start = (i: DisasterRecoveryInput): Promise<RunHandle<DisasterRecoveryResult>> =>
  startRun<DisasterRecoveryResult>(env, 'disasterRecovery', i, workflowId('disaster-recovery'));

async function pgAdmin(sql: string): Promise<void> {
  const c = new PgClient({ connectionString: pg.url('postgres') });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function health(): Promise<number> {
  return (await fetch(`${demo.url}/health`, { signal: AbortSignal.timeout(5000) })).status;
}

beforeAll(async () => {
  [pg, ferret] = await Promise.all([privatePostgres(), privateFerretDB()]);
  await pgAdmin('CREATE DATABASE reports');
  demo = await startDemo({
    port: 0,
    pgUrl: pg.url('reports'),
    redisUrl: redisUrl(),
    mongoUrl: ferret.url(),
    mongoDb: 'reports',
    adminToken,
    queue: { pending: `rbt:dr${id}:q`, processing: `rbt:dr${id}:p`, failed: `rbt:dr${id}:f` },
    stateKey: `rbt:dr${id}:platform`,
    initialReplicas: 2,
    jobMs: 5,
  });
  env = await createTestEnv({
    configure: (raw) => {
      const svc = raw.services.reports!;
      svc.healthUrl = `${demo.url}/health`;
      svc.platform = { kind: 'local', adminUrl: `${demo.url}/admin`, token: adminToken };
      svc.queue = { redis: 'reports-redis', pending: `rbt:dr${id}:q`, processing: `rbt:dr${id}:p`, failed: `rbt:dr${id}:f`, probeUrl: `${demo.url}/probes` };
      svc.smoke = [
        { name: 'health', method: 'GET', url: `${demo.url}/health`, expectStatus: [200] },
        { name: 'request a report', method: 'POST', url: `${demo.url}/reports`, body: { reportId: 1 }, expectStatus: [202] },
      ];
      delete svc.dataRollback;
      raw.postgres!['reports-db'] = { url: pg.url('reports') };
      raw.mongo!['reports-mongo'] = { url: ferret.url(), database: 'reports' };
    },
  });
  await env.startWorker();
  // More than the demo's seed: generated rows and documents, and cache keys of several types.
  const pool = new Pool({ connectionString: pg.url('reports'), max: 2 });
  await pool.query(`INSERT INTO public.report_runs (report_id, status, rows_out) SELECT 1 + (g % 3), 'done', g FROM generate_series(1, 3000) g`);
  await pool.end();
  const m = new MongoClient(ferret.url());
  await m
    .db('reports')
    .collection('report_audit_logs')
    .insertMany(Array.from({ length: 2000 }, (_, i) => ({ action: `generated-${i % 17}`, at: new Date(Date.UTC(2026, 0, 1 + (i % 300))), n: i })));
  await m.close();
  for (let i = 0; i < 40; i++) await env.redis.set(`${cache}k:${i}`, `value ${i}`);
  await env.redis.hset(`${cache}h`, { a: '1', b: '2' });
  await env.redis.rpush(`${cache}l`, 'x', 'y', 'z');

  const b = await startRun<BackupResult>(
    env,
    'backup',
    { service: 'reports', requestedBy: 'bob', reason: 'before the disaster', redisPrefix: cache },
    workflowId('backup'),
  );
  const r = await b.result();
  expect(r.outcome).toBe('completed');
  setId = r.setId!;
  manifest = JSON.parse((await createBackupStore(env.config.backups).read(manifestKey('reports', setId))).toString('utf8')) as BackupManifest;
  expect(await health()).toBe(200);
}, 180_000);

afterAll(async () => {
  await env?.cleanup();
  await demo?.close();
  await Promise.all([pg?.stop(), ferret?.stop()]);
  const r = new Redis(redisUrl());
  const k = await r.keys(`rbt:dr${id}:*`);
  if (k.length) await r.del(...k);
  r.disconnect();
}, 60_000);

type Source = BackupManifest['sources'][number];
const sourceOf = <S extends Source['store']>(store: S): Extract<Source, { store: S }> => {
  const found = manifest.sources.find((s): s is Extract<Source, { store: S }> => s.store === store);
  if (!found) throw new Error(`the set has no ${store} source`);
  return found;
};
const pgSource = () => sourceOf('postgres');
const mongoSource = () => sourceOf('mongo');
const redisSource = () => sourceOf('redis');

describe('the stores are gone: data directories deleted, servers restarted empty', () => {
  let result: DisasterRecoveryResult;
  let recoveryId: string;
  let lostAt: string;

  test('the disaster: the service is down, Postgres has no database, FerretDB no documents, the cache no key', async () => {
    // Written after the set: inside the data-loss window, so it must NOT come back.
    const pool = new Pool({ connectionString: pg.url('reports'), max: 1 });
    await pool.query(`INSERT INTO public.report_runs (report_id, status, rows_out) VALUES (1, 'after-the-backup', 1)`);
    await pool.end();
    lostAt = new Date().toISOString();
    await Promise.all([pg.lose(), ferret.lose()]);
    const keys = await env.redis.keys(`${cache}*`);
    await env.redis.del(...keys);
    expect(await health()).toBe(503);
  }, 60_000);

  test('a dry run shows the plan and changes nothing', async () => {
    const h = await start(input({ dryRun: true, lostAt }));
    const r = await h.result();
    expect(r.outcome).toBe('dry-run');
    expect(r.assessed.map((s) => [s.store, s.state])).toEqual([
      ['postgres', 'missing'],
      ['mongo', 'missing'],
      ['redis', 'empty'],
    ]);
    expect(r.recovered).toEqual([]);
    expect(await health()).toBe(503);
  }, 60_000);

  test('after approval it rebuilds all three from the set, equal to the manifest, and the service is healthy', async () => {
    const h = await start(input({ lostAt }));
    recoveryId = h.workflowId;
    await gateOpen(h, 30_000);
    // The requester cannot approve their own recovery.
    await expect(h.executeUpdate(approve, { args: [{ approver: 'bob', decision: 'approve' }] })).rejects.toThrow();
    await h.executeUpdate(approve, { args: [{ approver: 'alice', decision: 'approve', comment: 'data is gone; go' }] });
    result = await h.result();
    process.stdout.write(`[disaster-recovery]\n  ${summarizeDisasterRecovery(result).join('\n  ')}\n`);
    expect(result.outcome).toBe('completed');
    expect(result.setId).toBe(setId);
    expect(result.differences).toEqual([]);
    expect(result.recovered.map((s) => s.store)).toEqual(['postgres', 'mongo', 'redis']);
    expect(result.leftAlone).toEqual([]);
    expect(result.serviceState).toMatchObject({ stopped: true, back: true, healthy: true });
    await saveHistoryIfRecording('disaster-recovery-completed', h);
  }, 240_000);

  test('every table, collection and key equals the manifest, counted and checksummed here', async () => {
    const pool = new Pool({ connectionString: pg.url('reports'), max: 1 });
    const m = new MongoClient(ferret.url());
    try {
      // The runbook's smoke requests (3) made the service write a run and an audit log each once it was back:
      // those are new, not recovered; without them the stores equal the set.
      const after = await pool.query(`DELETE FROM public.report_runs WHERE started_at > $1`, [lostAt]);
      const logs = await m
        .db('reports')
        .collection('report_audit_logs')
        .deleteMany({ createdAt: { $gt: new Date(lostAt) } });
      expect(after.rowCount).toBeLessThanOrEqual(3);
      expect(logs.deletedCount).toBe(after.rowCount);
      expect(await postgresInventory(pool)).toEqual(pgSource().tables);
      // The row written after the backup is lost: it is inside the reported data-loss window.
      expect((await pool.query(`SELECT count(*)::int AS n FROM public.report_runs WHERE status = 'after-the-backup'`)).rows[0].n).toBe(0);
      // Indexes and constraints came back with the dump (the primary key of report_runs among them).
      const ix = await pool.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'report_runs'`);
      expect(ix.rows.length).toBeGreaterThan(0);
      const inv = await mongoInventory(m.db('reports'));
      expect(inv).toEqual(mongoSource().collections.map((c) => ({ name: c.name, documents: c.documents, checksum: c.checksum, indexes: c.indexes })));
    } finally {
      await pool.end();
      await m.close();
    }
    const r = redisSource();
    expect(await redisInventory(env.redis, cache)).toEqual({ keys: r.keys, checksum: r.checksum });
  });

  test('the report gives the RTO and the data-loss window; the service answers healthy', async () => {
    expect(result.lostAt).toBe(new Date(lostAt).toISOString());
    expect(result.dataLossWindowMs).toBe(Date.parse(lostAt) - Date.parse(result.setStartedAt!));
    expect(result.rtoMs).toBeGreaterThan(0);
    expect(result.recoveryMs).toBeGreaterThan(0);
    expect(result.rtoMs!).toBeGreaterThanOrEqual(result.recoveryMs!);
    expect(await health()).toBe(200);
    const audit = await env.deps.audit.forWorkflow(recoveryId);
    expect(audit.find((a) => a.kind === 'disaster-recovery')?.data).toMatchObject({ setId, rtoMs: result.rtoMs, dataLossWindowMs: result.dataLossWindowMs });
  });

  test('run again: every store holds data, so nothing is recovered and nothing changes (no approval asked)', async () => {
    const h = await start(input());
    const f = await failureOf(h);
    expect(f.message).toMatch(/nothing to recover: every store of set .* holds data/);
    expect(f.message).toMatch(/use the restore runbook/);
    expect(await health()).toBe(200);
  }, 60_000);

  test('the rebuild activities themselves refuse a store that holds data, whoever calls them', async () => {
    const rec = createRecoveryActivities(env.deps);
    const args = { service: 'reports', setId, workflowId: 'someone-else' };
    await expect(act(() => rec.recoverPostgres({ ...args, target: 'reports-db' }))).rejects.toThrow(
      /holds rows .*writes only empty stores: use the restore runbook/,
    );
    await expect(act(() => rec.recoverMongo({ ...args, target: 'reports-mongo' }))).rejects.toThrow(/holds documents .*use the restore runbook/);
    await expect(act(() => rec.recoverRedis({ ...args, target: 'reports-redis' }))).rejects.toThrow(/holds keys under .*use the restore runbook/);
    expect(await health()).toBe(200);
  });

  test('a drill rebuilds every store into scratch copies, verifies and drops them; the service is not touched', async () => {
    const before = await (await fetch(`${demo.url}/admin/state`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
    const h = await start(input({ drill: true }));
    const r = await h.result();
    process.stdout.write(`[disaster-recovery drill]\n  ${summarizeDisasterRecovery(r).join('\n  ')}\n`);
    expect(r.outcome).toBe('completed');
    expect(r.drill).toBe(true);
    expect(r.differences).toEqual([]);
    expect(r.recovered.map((s) => s.name)).toEqual([expect.stringMatching(/^drill_/), expect.stringMatching(/^drill_/), expect.stringMatching(/^drill:/)]);
    expect(r.serviceState).toMatchObject({ stopped: false, back: false, healthy: true });
    expect(r.rtoMs).toBeGreaterThan(0);
    // Nothing left behind, nothing of the service changed.
    const c = new PgClient({ connectionString: pg.url('postgres') });
    await c.connect();
    const { rows } = await c.query(`SELECT datname FROM pg_database WHERE datname LIKE 'drill\\_%'`);
    await c.end();
    expect(rows).toEqual([]);
    expect(await env.redis.keys('drill:*').then((k) => k.filter((x) => x.includes(setId)))).toEqual([]);
    expect(await (await fetch(`${demo.url}/admin/state`, { headers: { authorization: `Bearer ${adminToken}` } })).text()).toBe(before);
    await saveHistoryIfRecording('disaster-recovery-drill', h);
  }, 240_000);
});

describe('only some stores are gone', () => {
  test('FerretDB lost alone: MongoDB is rebuilt, Postgres and the cache (holding data) are left exactly as they are', async () => {
    const pool = new Pool({ connectionString: pg.url('reports'), max: 1 });
    const pgBefore = await postgresInventory(pool);
    const redisBefore = await redisInventory(env.redis, cache);
    await ferret.lose();
    const h = await start(input());
    await gateOpen(h, 30_000);
    await h.executeUpdate(approve, { args: [{ approver: 'dave', decision: 'approve' }] });
    const r = await h.result();
    expect(r.outcome).toBe('completed');
    expect(r.recovered.map((s) => `${s.store} ${s.name}`)).toEqual(['mongo reports']);
    expect(r.leftAlone.map((s) => s.store)).toEqual(['postgres', 'redis']);
    expect(r.plan.filter((s) => s.status === 'skipped').map((s) => s.id)).toEqual(['recover-postgres-reports-db', 'recover-redis-reports-redis']);
    // Postgres gained only the smoke requests' runs; nothing of it was replaced.
    const smokeRuns = await pool.query(`DELETE FROM public.report_runs WHERE started_at > $1`, [r.lostAt]);
    expect(smokeRuns.rowCount).toBeLessThanOrEqual(3);
    expect(await postgresInventory(pool)).toEqual(pgBefore);
    await pool.end();
    expect(await redisInventory(env.redis, cache)).toEqual(redisBefore);
    const m = new MongoClient(ferret.url());
    try {
      await m
        .db('reports')
        .collection('report_audit_logs')
        .deleteMany({ createdAt: { $gt: new Date(r.lostAt!) } });
      expect((await mongoInventory(m.db('reports'))).map((c) => [c.name, c.documents, c.checksum])).toEqual(
        mongoSource().collections.map((c) => [c.name, c.documents, c.checksum]),
      );
    } finally {
      await m.close();
    }
    expect(await health()).toBe(200);
  }, 240_000);
});

describe('bad input fails fast and changes nothing', () => {
  test.each([
    [{ lostAt: '2999-01-01T00:00:00Z' }, /lostAt: 2999-01-01T00:00:00Z is in the future/],
    [{ service: 'no-such-service' }, /no-such-service/],
    [{ setId: '20200101T000000Z-nope' }, /backup set 20200101T000000Z-nope of reports has no manifest/],
    [{ waitForStores: 'soon' }, /waitForStores: must be a positive duration/],
  ])(
    '%j',
    async (o, why) => {
      const h = await start(input(o));
      const f = await failureOf(h);
      expect(f.message).toMatch(why);
      expect(await health()).toBe(200);
    },
    60_000,
  );
});

test('the audit store, rebuilt empty under a running worker (its server recovered), creates its tables again on the next write', async () => {
  await env.pool.query('DROP TABLE public.runbook_audit, public.runbook_incidents');
  const key = `dr-audit-${id}`;
  expect(await env.deps.audit.record({ key, workflowId: 'dr-test', kind: 'probe', data: { n: 1 } })).toBe(true);
  expect(await env.deps.audit.find(key)).toMatchObject({ kind: 'probe', data: { n: 1 } });
  expect((await env.deps.audit.openIncident({ key, service: 'reports', severity: 'critical', title: 't', workflowId: 'dr-test' })).created).toBe(true);
});
