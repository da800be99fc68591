// The restore-drill runbook (seed 002 Backup Strategy > Verification) against the real stack: a backup set
// of the test's own data (Postgres dump, mongodump-layout BSON, Redis keys) made by the backup activities,
// restored into scratch databases and a scratch key prefix, compared table by table, collection by
// collection with its manifest. A tampered set fails naming what differs; a corrupted object fails naming
// its key; the scratch copies are gone after every ending.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { BSON, Long, ObjectId, Binary, Double, Int32 } from 'mongodb';
import { Client as PgClient } from 'pg';
import { runbooks } from '../../client/registry';
import { startTypedRunbook } from '../../client/runbooks';
import { createBackupSetActivities } from '../../activities/backups/backup';
import { manifestKey, setIdOf, setPrefix, type BackupManifest } from '../../activities/backups/contract';
import { createRestoreActivities } from '../../activities/backups/restore';
import { createBackupStore } from '../../activities/backups/store';
import type { RestoreDrillInput } from '../../workflows/restore-drill/contract';
import { summarizeRestoreDrill } from '../../workflows/restore-drill/contract';
import { plan } from '../../workflows/lib/progress';
import { act, backupSet as backupSetOf } from '../helpers/backups';
import { createTestEnv, pgUrl, workflowId, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { failureOf } from '../helpers/runs';

let env: TestEnv;
let setA: string;
/** Names that are not UTF-8 (as strings both would read "\ufffd\ufffdA"), and a multi-byte UTF-8 one. */
const oddNames = (): Buffer[] => {
  const p = `rbt:${env.id}:data:`;
  return [
    Buffer.concat([Buffer.from(p), Buffer.from([0xff, 0xfe, 0x41])]),
    Buffer.concat([Buffer.from(p), Buffer.from([0xfe, 0xff, 0x41])]),
    Buffer.from(`${p}ключ:ü`),
  ];
};

const input = (o: Partial<RestoreDrillInput> = {}): RestoreDrillInput => ({ service: 'reports', requestedBy: 'bob', reason: 'test restore drill', ...o });
const start = (i: RestoreDrillInput, prefix = 'drill') =>
  startTypedRunbook(env.client, runbooks.restoreDrill, i, { taskQueue: env.taskQueue, workflowId: workflowId(prefix) });

/** Scratch copies left on the servers: `drill_` databases (Postgres, Mongo) and `drill:` keys. */
async function scratchLeft(): Promise<string[]> {
  const restore = createRestoreActivities(env.deps);
  const dbs = await restore.listScratch({ postgres: 'reports-db', mongo: 'reports-mongo' });
  const keys = await env.redis.keys('drill:*');
  return [...dbs, ...keys.map((k) => `redis ${k}`)];
}

/** Data of every kind the drill must carry over exactly: types, NULLs, unicode, binary, TTLs. */
async function seedVariedData(): Promise<void> {
  await env.pool.query(`CREATE TABLE public.invoices (
    id bigserial PRIMARY KEY, customer text NOT NULL, amount numeric(12,2), tags text[], doc jsonb, raw bytea,
    issued timestamptz NOT NULL, paid boolean)`);
  await env.pool.query(`INSERT INTO public.invoices (customer, amount, tags, doc, raw, issued, paid)
    SELECT 'kunde ' || g || ' – ünïcødé', CASE WHEN g % 7 = 0 THEN NULL ELSE (g * 13.37)::numeric(12,2) END,
           ARRAY['t' || g % 5, 'x'], jsonb_build_object('n', g, 'nested', jsonb_build_object('ok', g % 2 = 0)),
           decode(md5(g::text), 'hex'), timestamptz '2026-01-01' + (g || ' minutes')::interval, g % 3 = 0
      FROM generate_series(1, 3000) g`);
  const events = env.mongo.collection('drill_events');
  const docs = Array.from({ length: 2500 }, (_, i) => ({
    _id: new ObjectId(),
    seq: new Int32(i),
    big: Long.fromString(`${9_000_000_000 + i}`),
    ratio: new Double(i / 7),
    whole: new Double(i),
    at: new Date(Date.UTC(2026, 0, 1) + i * 60_000),
    name: `évènement ${i}`,
    bin: new Binary(Buffer.from([i % 256, 1, 2, 3])),
    tags: ['a', i % 3 ? 'b' : 'c', { deep: [i, null] }],
    optional: i % 5 ? null : 'present',
  }));
  await events.insertMany(docs);
  await events.createIndex({ seq: 1 }, { unique: true, name: 'seq_unique' });
  await events.createIndex({ at: -1, name: 1 }, { name: 'at_name' });
  const p = `rbt:${env.id}:data:`;
  const pipe = env.redis.pipeline();
  for (let i = 0; i < 300; i++) {
    pipe.set(`${p}str:${i}`, `value ${i} ✓`);
    if (i % 3 === 0) pipe.hset(`${p}hash:${i}`, { a: String(i), b: 'x'.repeat(i % 50) });
    if (i % 5 === 0) pipe.rpush(`${p}list:${i}`, 'x', String(i), 'z');
    if (i % 7 === 0) pipe.zadd(`${p}zset:${i}`, i, 'm1', i + 1, 'm2');
    if (i % 11 === 0) pipe.sadd(`${p}set:${i}`, 'a', 'b', String(i));
    if (i % 10 === 0) pipe.set(`${p}session:${i}`, 'token', 'EX', 3600);
  }
  const [a, b, c] = oddNames();
  pipe.set(a!, Buffer.from([0x00, 0xff, 0x10]));
  pipe.set(b!, 'same name as a string, other bytes', 'EX', 3600);
  pipe.rpush(c!, 'ü', 'ключ');
  await pipe.exec();
}

/** A copy of a set under a new id, with its manifest changed by `edit` (the store records the new checksums). */
async function copySet(from: string, edit: (m: BackupManifest, to: string) => Promise<void> | void): Promise<string> {
  const store = createBackupStore(env.config.backups);
  const to = setIdOf(new Date(), randomUUID());
  for (const o of await store.list(setPrefix('reports', from))) {
    if (o.key === manifestKey('reports', from)) continue;
    await store.put(o.key.replace(setPrefix('reports', from), setPrefix('reports', to)), await store.read(o));
  }
  const text = (await store.read(manifestKey('reports', from))).toString('utf8').replaceAll(setPrefix('reports', from), setPrefix('reports', to));
  const m = JSON.parse(text) as BackupManifest;
  m.setId = to;
  await edit(m, to);
  await store.put(manifestKey('reports', to), Buffer.from(JSON.stringify(m, null, 2)));
  return to;
}

beforeAll(async () => {
  env = await createTestEnv();
  await seedVariedData();
  setA = await backupSetOf(env, `rbt:${env.id}:data:`);
  await env.startWorker();
});
afterAll(async () => {
  await env?.cleanup();
});

test('a verified set restores into scratch copies equal to its manifest: RTO and RPO measured, scratch dropped, audited', async () => {
  const h = await start(input());
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect(r.setId).toBe(setA);
  expect(r.differences).toEqual([]);
  expect(r.rtoMs).toBeGreaterThan(0);
  expect(r.rpoMs).toBeGreaterThanOrEqual(0);
  expect(r.rpoMs).toBeLessThan(10 * 60_000);
  const bySource = Object.fromEntries(r.sources.map((s) => [s.store, s]));
  // Everything the backup held came back: the seeded demo tables, the varied ones, every key.
  expect(bySource.postgres!.restored.items).toBe(bySource.postgres!.expected.items);
  expect(bySource.postgres!.restored.rows).toBe(bySource.postgres!.expected.rows);
  expect(bySource.postgres!.restored.rows).toBeGreaterThan(8000);
  expect(bySource.mongo!.restored.rows).toBeGreaterThanOrEqual(2500);
  expect(bySource.mongo!.restored).toEqual(bySource.mongo!.expected);
  const keys = (await env.redis.keys(`rbt:${env.id}:data:*`)).length;
  expect(bySource.redis!.restored.rows).toBe(keys);
  expect(r.plan.map((s) => [s.id, s.status])).toEqual([
    ['find-set', 'done'],
    ['restore-postgres-reports-db', 'done'],
    ['restore-mongo-reports-mongo', 'done'],
    ['restore-redis-reports-redis', 'done'],
    ['compare', 'done'],
    ['drop-scratch', 'done'],
    ['record', 'done'],
    ['report', 'done'],
  ]);
  expect(r.scratch.dropped).toHaveLength(3);
  expect(await scratchLeft()).toEqual([]);
  const audit = await env.deps.audit.forWorkflow(h.workflowId);
  expect(audit.find((a) => a.kind === 'restore-drill-measured')?.data).toMatchObject({ setId: setA, rtoMs: r.rtoMs, rpoMs: r.rpoMs });
  expect(audit.at(-1)).toMatchObject({ kind: 'run-finished', data: { outcome: 'completed' } });
  const lines = summarizeRestoreDrill(r);
  expect(lines[1]).toMatch(/^RTO \(restore to verified\): [\d.]+s; RPO \(backup age\): /);
  process.stdout.write(`\n[restore-drill] ${r.reason}\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
  await saveHistoryIfRecording('restore-drill-passed', h);
});

test('keys whose names are not UTF-8 are restored into scratch with identical bytes and compare equal to the manifest', async () => {
  const restore = createRestoreActivities(env.deps);
  const toPrefix = `drill:odd-${env.id}:`;
  const from = `rbt:${env.id}:data:`;
  const scratch = [{ store: 'redis' as const, target: 'reports-redis', mode: 'keys' as const, prefix: toPrefix }];
  try {
    const r = await act(() => restore.restoreRedis({ service: 'reports', setId: setA, target: 'reports-redis', toPrefix }));
    const source = await env.redis.keysBuffer(`${from}*`);
    const restored = await env.redis.keysBuffer(`${toPrefix}*`);
    expect(r.items).toBe(source.length);
    const rest = (ks: Buffer[], p: string) => ks.map((k) => k.subarray(Buffer.byteLength(p)).toString('hex')).sort();
    expect(rest(restored, toPrefix)).toEqual(rest(source, from));
    for (const k of oddNames()) {
      const copy = Buffer.concat([Buffer.from(toPrefix), k.subarray(Buffer.byteLength(from))]);
      expect(restored.some((x) => x.equals(copy))).toBe(true);
      if ((await env.redis.type(k)) === 'string') expect((await env.redis.getBuffer(copy))!.equals((await env.redis.getBuffer(k))!)).toBe(true);
      else expect(await env.redis.lrangeBuffer(copy, 0, -1)).toEqual(await env.redis.lrangeBuffer(k, 0, -1));
    }
    const c = await act(() => restore.compareWithManifest({ service: 'reports', setId: setA, scratch, partial: true }));
    expect(c.differences).toEqual([]);
    expect(c.sources[0]!.restored.rows).toBe(source.length);
  } finally {
    await restore.dropScratch({ scratch });
  }
  expect(await env.redis.keysBuffer(`${toPrefix}*`)).toEqual([]);
});

test('a dry run names the set it would restore and its plan, and restores nothing', async () => {
  const h = await start(input({ dryRun: true, setId: setA }));
  const r = await h.result();
  expect(r.outcome).toBe('dry-run');
  const steps = await h.query(plan);
  expect(steps.find((s) => s.id === 'find-set')!.title).toContain(setA);
  expect(steps.filter((s) => s.id.startsWith('restore-')).every((s) => s.status === 'skipped')).toBe(true);
  expect(r.sources).toEqual([]);
  expect(await scratchLeft()).toEqual([]);
});

test('a set whose data differs from its manifest fails, listing the table and the collection that differ; scratch still dropped', async () => {
  const store = createBackupStore(env.config.backups);
  const tampered = await copySet(setA, async (m) => {
    // The manifest expects another checksum of public.invoices ...
    const pg = m.sources.find((s) => s.store === 'postgres')!;
    if (pg.store !== 'postgres') throw new Error('no postgres source');
    pg.tables.find((t) => t.name === 'public.invoices')!.checksum = '0'.repeat(32);
    // ... and one document of drill_events is changed in its .bson, with the file's checksum recorded
    // consistently, so only the content differs from what the manifest's inventory says.
    const mg = m.sources.find((s) => s.store === 'mongo')!;
    if (mg.store !== 'mongo') throw new Error('no mongo source');
    const c = mg.collections.find((x) => x.name === 'drill_events')!;
    const raw = await store.read(c.bson);
    const first = raw.readInt32LE(0);
    const doc = BSON.deserialize(raw.subarray(0, first), { promoteValues: false });
    doc.name = 'tampered';
    const changed = Buffer.concat([Buffer.from(BSON.serialize(doc)), raw.subarray(first)]);
    c.bson = await store.put(c.bson.key, changed);
  });
  const h = await start(input({ setId: tampered }));
  const f = await failureOf(h);
  expect(f.message).toMatch(/failed at compare: the restored copies differ from the manifest of set .* in 2 place\(s\)/);
  expect(f.message).toContain('postgres reports-db: table public.invoices: checksum');
  expect(f.message).toContain('manifest says 00000000000000000000000000000000');
  expect(f.message).toMatch(/mongo reports-mongo: collection drill_events: checksum [0-9a-f]{64} restored, manifest says [0-9a-f]{64}/);
  expect(f.message).toMatch(/Undone: drop scratch redis reports-redis ok, drop scratch mongo reports-mongo ok, drop scratch postgres reports-db ok/);
  expect((await h.query(plan)).find((s) => s.id === 'compare')!.status).toBe('failed');
  expect(await scratchLeft()).toEqual([]);
  const audit = await env.deps.audit.forWorkflow(h.workflowId);
  expect(audit.at(-1)).toMatchObject({ kind: 'run-finished', data: { outcome: 'failed' } });
});

test('an object whose bytes no longer match its recorded checksum fails the restore naming the key; scratch dropped', async () => {
  let dumpKey = '';
  const broken = await copySet(setA, (m) => {
    const pg = m.sources.find((s) => s.store === 'postgres')!;
    if (pg.store === 'postgres') dumpKey = pg.file.key;
  });
  // Bit rot on disk: the dump changes under the store, its recorded checksum does not.
  const file = path.join(env.backupDir, ...dumpKey.split('/'));
  const bytes = readFileSync(file);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = bytes[at]! ^ 0xff;
  writeFileSync(file, bytes);
  const h = await start(input({ setId: broken }));
  const f = await failureOf(h);
  expect(f.message).toContain('failed at restore-postgres-reports-db');
  expect(f.message).toContain(dumpKey);
  expect(f.message).toMatch(/checksum|sha256/i);
  expect(f.message).toContain('Undone: drop scratch postgres reports-db ok');
  expect(await scratchLeft()).toEqual([]);
});

test('no backup set: the drill fails saying there is none and what to do, and restores nothing', async () => {
  const h = await start(input({ service: 'reports-down' }));
  const f = await failureOf(h);
  expect(f.message).toMatch(/failed at find-set: no backup set to restore: reports-down has no verified backup set in .*; run the backup runbook first/);
  const h2 = await start(input({ setId: '20200101T000000Z-deadbeef' }));
  const f2 = await failureOf(h2);
  expect(f2.message).toContain('backup set 20200101T000000Z-deadbeef of reports has no manifest');
  expect(f2.message).toContain(setA);
});

test('restorePostgres refuses to restore over a database that exists, and dropScratch never drops one not marked as scratch', async () => {
  const restore = createRestoreActivities(env.deps);
  const name = `drill_manual_${env.id}`;
  const c = new PgClient({ connectionString: pgUrl('postgres') });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
    await expect(act(() => restore.restorePostgres({ service: 'reports', setId: setA, target: 'reports-db', toDatabase: name }))).rejects.toThrow(
      /already exists on reports-db; refusing to restore over it/,
    );
    await expect(
      act(() => restore.restorePostgres({ service: 'reports', setId: setA, target: 'reports-db', toDatabase: name, replace: true })),
    ).rejects.toThrow(/not a restore-drill scratch copy; refusing to replace it/);
    await expect(restore.dropScratch({ scratch: [{ store: 'postgres', target: 'reports-db', database: name }] })).rejects.toThrow(
      /not marked as a restore-drill scratch copy/,
    );
    await expect(restore.dropScratch({ scratch: [{ store: 'postgres', target: 'reports-db', database: env.dbName }] })).rejects.toThrow(
      /is not a scratch name/,
    );
    expect((await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount).toBe(1);
  } finally {
    await c.query(`DROP DATABASE IF EXISTS ${name}`);
    await c.end();
  }
});

test('an RDB snapshot is loaded by a scratch redis-server on loopback, compared with the manifest, and stopped after', async () => {
  const b = createBackupSetActivities(env.deps);
  const setId = setIdOf(new Date(), randomUUID());
  const set = { service: 'reports', setId };
  const startedAt = new Date().toISOString();
  const results = [await act(() => b.backupSetRedis({ ...set, target: 'reports-redis', mode: 'rdb' }))];
  await act(() => b.writeManifest({ ...set, workflowId: 'test', startedAt, results }));
  await act(() => b.verifySet(set));
  const h = await start(input({ setId }));
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect(r.sources).toHaveLength(1);
  // The instance is shared: another test's key with a TTL may expire between the snapshot and the load.
  const label = /^scratch redis-server 127\.0\.0\.1:(\d+)(?: \((\d+) key\(s\) whose TTL ran out since the snapshot\))?$/.exec(r.sources[0]!.scratch);
  expect(label).not.toBeNull();
  const expired = Number(label![2] ?? 0);
  expect(r.sources[0]!.restored.rows).toBeLessThanOrEqual(results[0]!.source.keys);
  expect(r.sources[0]!.restored.rows).toBeGreaterThanOrEqual(results[0]!.source.keys - expired);
  const port = Number(label![1]);
  expect(r.scratch.dropped).toEqual([`scratch redis-server on 127.0.0.1:${port}`]);
  // Stopped: nothing answers on its port any more.
  const refused = await new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
  expect(refused).toBe(true);
});

test('a retried restore (attempt 2, after a crash) replaces its own half-done scratch copy: no duplicate rows or documents', async () => {
  const restore = createRestoreActivities(env.deps);
  const database = `drill_retry_${env.id}`;
  const args = { service: 'reports', setId: setA, toDatabase: database };
  const scratch = [
    { store: 'postgres' as const, target: 'reports-db', database },
    { store: 'mongo' as const, target: 'reports-mongo', database },
  ];
  try {
    const pg1 = await act(() => restore.restorePostgres({ ...args, target: 'reports-db' }), 1);
    const mg1 = await act(() => restore.restoreMongo({ ...args, target: 'reports-mongo' }), 1);
    // A first attempt never restores over an existing copy; a retry of the same activity does.
    await expect(act(() => restore.restoreMongo({ ...args, target: 'reports-mongo' }), 1)).rejects.toThrow(/already exists on reports-mongo; refusing/);
    const pg2 = await act(() => restore.restorePostgres({ ...args, target: 'reports-db' }), 2);
    const mg2 = await act(() => restore.restoreMongo({ ...args, target: 'reports-mongo' }), 2);
    expect([pg2.items, pg2.rows]).toEqual([pg1.items, pg1.rows]);
    expect([mg2.items, mg2.rows, mg2.indexes]).toEqual([mg1.items, mg1.rows, mg1.indexes]);
    const c = await act(() => restore.compareWithManifest({ service: 'reports', setId: setA, scratch }));
    expect(c.differences.filter((d) => !d.includes('not restored'))).toEqual([]);
  } finally {
    await restore.dropScratch({ scratch });
  }
  expect(await scratchLeft()).toEqual([]);
});
