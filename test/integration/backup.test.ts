// The backup runbook and its store against the real stack: generated data in a private Postgres database,
// FerretDB database and Redis prefix is backed up into a directory; the manifest must equal a fresh
// inventory of the sources, every file its recorded sha256, the .bson files must parse back to the very
// documents, and the store must refuse what is corrupt. Activities are also run on their own (in a mock
// activity context) for retries and retention.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { BSON, ObjectId } from 'mongodb';
import { createBackupSetActivities } from '../../activities/backups/backup';
import {
  ChecksumMismatchError,
  InvalidKeyError,
  manifestKey,
  type BackupManifest,
  type MongoSource,
  type PostgresSource,
  type RedisSource,
} from '../../activities/backups/contract';
import { mongoInventory, postgresInventory, redisInventory } from '../../activities/backups/inventory';
import { parseKeyDump } from '../../activities/backups/restore';
import { latestVerifiedSet, listSets } from '../../activities/backups/sets';
import { createFsStore } from '../../activities/backups/store-fs';
import { runbooks } from '../../client/registry';
import { startTypedRunbook } from '../../client/runbooks';
import type { BackupInput, BackupResult } from '../../workflows/backup/contract';
import { createTestEnv, workflowId, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { failureOf, startRun } from '../helpers/runs';

let env: TestEnv;
let prefix: string;
/** Names that are not UTF-8 (as strings both would read "\ufffd\ufffdA"), and a multi-byte UTF-8 one. */
const oddNames = (): Buffer[] => [
  Buffer.concat([Buffer.from(prefix), Buffer.from([0xff, 0xfe, 0x41])]),
  Buffer.concat([Buffer.from(prefix), Buffer.from([0xfe, 0xff, 0x41])]),
  Buffer.from(`${prefix}ключ:ü`, 'utf8'),
];
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), 'rbt-bkstore-'));
  dirs.push(d);
  return d;
};

const ROWS = 3000;
const DOCS = 2500;

/** Realistic data of several types in every store: the demo schema plus generated tables, collections and keys. */
async function generate(): Promise<void> {
  await env.pool.query(`
    CREATE TABLE public.bk_orders (id bigserial PRIMARY KEY, customer text NOT NULL, amount numeric(12,2), placed timestamptz NOT NULL,
                                   tags text[], details jsonb, note text);
    INSERT INTO public.bk_orders (customer, amount, placed, tags, details, note)
      SELECT 'customer-' || (g % 97), (g * 7.31)::numeric(12,2), timestamptz '2026-01-01' + g * interval '37 minutes',
             ARRAY['t' || (g % 5), 't' || (g % 3)], jsonb_build_object('n', g, 'even', g % 2 = 0, 'quote', 'it''s "fine"'),
             CASE WHEN g % 10 = 0 THEN NULL ELSE repeat('x', g % 50) END
        FROM generate_series(1, ${ROWS}) g;
    CREATE SCHEMA bk_other;
    CREATE TABLE bk_other."Mixed Case" (k int PRIMARY KEY, v bytea);
    INSERT INTO bk_other."Mixed Case" SELECT g, decode(md5(g::text), 'hex') FROM generate_series(1, 500) g;`);
  const events = env.mongo.collection('bk_events');
  const base = Date.UTC(2026, 0, 1);
  await events.insertMany(
    Array.from({ length: DOCS }, (_, i) => ({
      _id: new ObjectId(),
      kind: ['open', 'click', 'close'][i % 3],
      at: new Date(base + i * 60_000),
      n: i,
      ratio: i / 7,
      tags: [`t${i % 4}`, `u${i % 9}`],
      nested: { a: i % 11, b: { c: `deep-${i}` } },
      maybe: i % 5 === 0 ? null : true,
    })),
  );
  await events.createIndex({ kind: 1, at: -1 }, { name: 'kind_at' });
  await env.mongo
    .collection('bk_users')
    .insertMany(Array.from({ length: 300 }, (_, i) => ({ _id: i as unknown as ObjectId, name: `user ${i}`, roles: i % 2 ? ['a'] : [] })));
  const r = env.redis.pipeline();
  for (let i = 0; i < 400; i++) r.set(`${prefix}str:${i}`, `value-${i}`);
  r.hset(`${prefix}hash`, { a: '1', b: '2' });
  r.rpush(`${prefix}list`, 'x', 'y', 'z');
  r.sadd(`${prefix}set`, 'p', 'q');
  r.zadd(`${prefix}zset`, 1, 'one', 2, 'two');
  r.set(`${prefix}expiring`, 'soon', 'PX', 3_600_000);
  const [a, b, c] = oddNames();
  r.set(a!, Buffer.from([0x00, 0xff, 0x10]));
  r.set(b!, 'same name as a string, other bytes');
  r.hset(c!, { поле: 'значение' });
  await r.exec();
}

beforeAll(async () => {
  env = await createTestEnv();
  prefix = `rbt:${env.id}:`;
  await generate();
  await env.startWorker();
});
afterAll(async () => {
  await env?.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const logger = new DefaultLogger('ERROR');
const inActivity = <R>(fn: () => Promise<R>, attempt = 1): Promise<R> => new MockActivityEnvironment({ attempt }, { logger }).run<[], R, () => Promise<R>>(fn);

const input = (o: Partial<BackupInput> = {}): BackupInput => ({
  service: 'reports',
  requestedBy: 'bob',
  reason: 'test backup',
  redisPrefix: prefix,
  ...o,
});
const start = (i: BackupInput) => startTypedRunbook(env.client, runbooks.backup, i, { taskQueue: env.taskQueue, workflowId: workflowId('backup') });

/** Every file below `dir`, relative, with `/`. */
async function filesBelow(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesBelow(dir, p)));
    else out.push(p);
  }
  return out;
}
const sha256 = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
// The audit table of the env lives in the same database and gains rows as the run reports: not the data backed up.
const notAudit = <T extends { name: string }>(ts: T[]): T[] => ts.filter((t) => t.name !== 'public.runbook_audit');

describe('the backup runbook', () => {
  let result: BackupResult;
  let manifest: BackupManifest;

  beforeAll(async () => {
    const h = await start(input());
    result = await h.result();
    manifest = JSON.parse(await readFile(path.join(env.backupDir, manifestKey('reports', result.setId)), 'utf8')) as BackupManifest;
    await saveHistoryIfRecording('backup-completed', h);
  });

  test('completes with one step per store, a manifest, a verification and retention, and says what it wrote', () => {
    expect(result.outcome).toBe('completed');
    expect(result.plan.map((s) => [s.id, s.status])).toEqual([
      ['postgres-reports-db', 'done'],
      ['mongo-reports-mongo', 'done'],
      ['redis-reports-redis', 'done'],
      ['manifest', 'done'],
      ['verify', 'done'],
      ['retention', 'done'],
      ['report', 'done'],
    ]);
    expect(result.setId).toMatch(/^\d{8}T\d{6}Z-[a-z0-9]{8}$/);
    expect(result.verified).toBe(true);
    expect(result.location).toBe(env.backupDir);
    expect(result.sources.map((s) => [s.store, s.target, s.reused])).toEqual([
      ['postgres', 'reports-db', false],
      ['mongo', 'reports-mongo', false],
      ['redis', 'reports-redis', false],
    ]);
    expect(result.retention).toEqual({ kept: 1, deleted: [] });
    const lines = runbooks.backup.summarize(result);
    expect(lines[0]).toMatch(new RegExp(`^set reports/${result.setId} at .+: [\\d.]+ [KM]B, verified in`));
    expect(lines.join('\n')).toMatch(/postgres reports-db: \d+ rows in \d+ tables/);
  });

  test('the manifest equals a fresh inventory of the sources: rows, documents, keys and their checksums', async () => {
    expect(manifest).toMatchObject({ version: 1, service: 'reports', setId: result.setId, verified: true });
    expect(Object.keys(manifest.software).sort()).toEqual(['mongo:reports-mongo', 'node', 'pg_dump', 'postgresql', 'redis:reports-redis']);
    const pg = manifest.sources.find((s): s is PostgresSource => s.store === 'postgres')!;
    expect(notAudit(pg.tables)).toEqual(notAudit(await postgresInventory(env.pool)));
    expect(pg.tables.find((t) => t.name === 'public.bk_orders')!.rows).toBe(ROWS);
    expect(pg.tables.find((t) => t.name === 'bk_other.Mixed Case')!.rows).toBe(500);
    const mongo = manifest.sources.find((s): s is MongoSource => s.store === 'mongo')!;
    expect(mongo.collections.map(({ name, documents, checksum, indexes }) => ({ name, documents, checksum, indexes }))).toEqual(
      await mongoInventory(env.mongo),
    );
    expect(mongo.collections.find((c) => c.name === 'bk_events')).toMatchObject({ documents: DOCS, indexes: 2 });
    const redis = manifest.sources.find((s): s is RedisSource => s.store === 'redis')!;
    expect(redis).toMatchObject({ mode: 'keys', prefix, ...(await redisInventory(env.redis, prefix)) });
    expect(redis.keys).toBeGreaterThanOrEqual(409);
  });

  test('keys whose names are not UTF-8 are backed up with their exact bytes (`keyB64`), UTF-8 ones as `key`', async () => {
    const redis = manifest.sources.find((s): s is RedisSource => s.store === 'redis')!;
    const body = await readFile(path.join(env.backupDir, redis.file.key));
    const hex = (ks: Buffer[]) => ks.map((k) => k.toString('hex')).sort();
    const live = await env.redis.keysBuffer(`${prefix}*`);
    const { entries } = parseKeyDump(body, redis.file.key);
    expect(hex(entries.map((e) => e.key))).toEqual(hex(live));
    expect(redis.keys).toBe(live.length);
    const [a, b, c] = oddNames();
    for (const k of [a, b] as Buffer[]) {
      const e = entries.find((x) => x.key.equals(k))!;
      expect(e.payload.equals(await env.redis.dumpBuffer(k))).toBe(true);
    }
    const lines = body
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .slice(1)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      lines
        .filter((l) => 'keyB64' in l)
        .map((l) => l.keyB64)
        .sort(),
    ).toEqual([a!.toString('base64'), b!.toString('base64')].sort());
    expect(lines.filter((l) => 'keyB64' in l && 'key' in l)).toEqual([]);
    expect(lines.some((l) => l.key === c!.toString('utf8'))).toBe(true);
  });

  test('every file has the sha256 the manifest and its .sha256 record, and only its owner may read it', async () => {
    const files = (await filesBelow(env.backupDir)).filter((f) => f.startsWith(`reports/${result.setId}/`));
    const refs = manifest.sources.flatMap((s) => (s.store === 'mongo' ? s.collections.flatMap((c) => [c.bson, c.metadata]) : [s.file]));
    expect(refs.length).toBeGreaterThanOrEqual(2 + 2 * 2);
    for (const ref of refs) {
      const file = path.join(env.backupDir, ref.key);
      expect({ key: ref.key, sha256: await sha256(file), bytes: (await stat(file)).size }).toEqual({ key: ref.key, sha256: ref.sha256, bytes: ref.bytes });
      expect((await readFile(`${file}.sha256`, 'utf8')).split(/\s+/)[0]).toBe(ref.sha256);
      expect(files).toContain(`${ref.key}.sha256`);
    }
    expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
    for (const f of files) expect(((await stat(path.join(env.backupDir, f))).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(path.join(env.backupDir, 'reports', result.setId))).mode & 0o777).toString(8)).toBe('700');
    expect(manifest.totalBytes).toBe(refs.reduce((n, r) => n + r.bytes, 0));
  });

  test('the .bson files parse back to the same documents, and .metadata.json lists the indexes as mongodump writes them', async () => {
    const mongo = manifest.sources.find((s): s is MongoSource => s.store === 'mongo')!;
    const events = mongo.collections.find((c) => c.name === 'bk_events')!;
    expect(events.bson.key).toBe(`reports/${result.setId}/mongo/reports-mongo/${env.dbName}/bk_events.bson`);
    const buf = await readFile(path.join(env.backupDir, events.bson.key));
    const docs: BSON.Document[] = [];
    for (let at = 0; at < buf.length;) {
      const size = buf.readInt32LE(at);
      docs.push(BSON.deserialize(buf.subarray(at, at + size)));
      at += size;
    }
    const live = await env.mongo.collection('bk_events').find({}).sort({ _id: 1 }).toArray();
    expect(docs).toHaveLength(DOCS);
    expect(docs.map((d) => BSON.EJSON.stringify(d, { relaxed: false }))).toEqual(live.map((d) => BSON.EJSON.stringify(d, { relaxed: false })));
    expect(docs[0]!.at).toBeInstanceOf(Date);
    expect(docs[0]!._id).toBeInstanceOf(ObjectId);
    const meta = BSON.EJSON.parse(await readFile(path.join(env.backupDir, events.metadata.key), 'utf8')) as {
      collectionName: string;
      indexes: Array<{ name: string; key: Record<string, number> }>;
      options: object;
    };
    expect(meta.collectionName).toBe('bk_events');
    expect(meta.options).toEqual(expect.any(Object));
    expect(meta.indexes.map((i) => [i.name, i.key])).toEqual(
      expect.arrayContaining([
        ['_id_', { _id: 1 }],
        ['kind_at', { kind: 1, at: -1 }],
      ]),
    );
  });

  test('the newest verified set is what a guard or a restore finds', async () => {
    const store = createFsStore(env.backupDir);
    expect((await latestVerifiedSet(store, 'reports'))?.setId).toBe(result.setId);
    expect((await latestVerifiedSet(store, 'reports', { covering: ['postgres', 'mongo', 'redis'] }))?.setId).toBe(result.setId);
    expect(await latestVerifiedSet(store, 'payments')).toBeUndefined();
    expect((await listSets(store, 'reports'))[0]).toMatchObject({ setId: result.setId, complete: true, verified: true });
  });
});

describe('bad input fails fast, naming the field', () => {
  test('an unknown store name', async () => {
    const f = await failureOf(await startRun(env, 'backup', input({ stores: ['postgres', 'mysql' as never] })));
    expect(f.message).toMatch(/invalid backup input: stores\[1\]/);
  });

  test('an unknown service', async () => {
    const f = await failureOf(await startRun(env, 'backup', input({ service: 'payments' })));
    expect(f.message).toMatch(/invalid backup input: .*service.*"payments" is not configured; known services: reports/);
  });

  test('a store the service has no target of', async () => {
    const f = await failureOf(await startRun(env, 'backup', { service: 'reports-down', requestedBy: 'bob', stores: ['postgres', 'mongo'] }));
    expect(f.message).toMatch(/invalid backup input: stores: service "reports-down" has no mongo target configured/);
  });

  test('a prefix with an RDB snapshot, through the registry as the CLI and API check it', () => {
    const r = runbooks.backup.parse({ service: 'reports', requestedBy: 'bob', redisMode: 'rdb', redisPrefix: 'x:' });
    expect(r).toMatchObject({ ok: false });
    expect(JSON.stringify(r)).toMatch(/redisPrefix/);
  });
});

describe('the activities on their own', () => {
  test('a retried Postgres step reuses the verified dump of its first attempt', async () => {
    const store = createFsStore(tempDir());
    const acts = createBackupSetActivities(env.deps, store);
    const set = { service: 'reports', setId: '20261126T010000Z-retry001' };
    const first = await inActivity(() => acts.backupSetPostgres({ ...set, target: 'reports-db' }));
    const second = await inActivity(() => acts.backupSetPostgres({ ...set, target: 'reports-db' }), 2);
    expect(first.reused).toBe(false);
    expect(second.reused).toBe(true);
    expect(second.source.file).toEqual(first.source.file);
    expect((await store.list('reports/')).map((f) => f.key)).toEqual([
      `reports/${set.setId}/postgres/reports-db.dump`,
      `reports/${set.setId}/postgres/reports-db.source.json`,
    ]);
  });

  test('a pg_dump that fails midway leaves no object in the store, and the error carries its message', async () => {
    const bin = tempDir();
    // A pg_dump that writes the start of a dump, then dies (as a dropped connection or a full disk would).
    await writeFile(
      path.join(bin, 'pg_dump'),
      `#!/bin/sh\nif [ "$1" = "--version" ]; then echo 'pg_dump (PostgreSQL) 15.0'; exit 0; fi\nprintf 'PGDMP partial'\necho 'connection lost' >&2\nexit 1\n`,
      { mode: 0o755 },
    );
    const dir = tempDir();
    const deps = { ...env.deps, config: { ...env.config, backups: { ...env.config.backups, pgBinDir: bin } } };
    const acts = createBackupSetActivities(deps, createFsStore(dir));
    await expect(inActivity(() => acts.backupSetPostgres({ service: 'reports', setId: '20261126T013000Z-broken01', target: 'reports-db' }))).rejects.toThrow(
      /pg_dump of reports-db failed \(exit 1\): connection lost/,
    );
    expect(await filesBelow(dir).catch(() => [])).toEqual([]);
  });

  test('a corrupted object makes verifySet fail naming its key, and reads refuse it without leaving a file', async () => {
    const dir = tempDir();
    const store = createFsStore(dir);
    const acts = createBackupSetActivities(env.deps, store);
    const set = { service: 'reports', setId: '20261126T020000Z-corrupt1' };
    const results = [
      await inActivity(() => acts.backupSetPostgres({ ...set, target: 'reports-db' })),
      await inActivity(() => acts.backupSetMongo({ ...set, target: 'reports-mongo' })),
    ];
    await inActivity(() => acts.writeManifest({ ...set, workflowId: 'test', startedAt: new Date().toISOString(), results }));
    const ok = await inActivity(() => acts.verifySet(set));
    expect(ok.checks).toEqual([expect.stringMatching(/^postgres\/reports-db\.dump: \d+ tables$/)]);
    const bson = (results[1]!.source as MongoSource).collections.find((c) => c.name === 'bk_events')!.bson;
    const file = path.join(dir, bson.key);
    const data = await readFile(file);
    data[data.length - 10] = data[data.length - 10]! ^ 0xff;
    await writeFile(file, data);
    await expect(inActivity(() => acts.verifySet(set))).rejects.toThrow(new RegExp(`failed verification: ${bson.key.replace(/\./g, '\\.')}: .*corrupt`));
    await expect(store.read(bson.key)).rejects.toBeInstanceOf(ChecksumMismatchError);
    const to = path.join(tempDir(), 'copy.bson');
    await expect(store.download(bson, to)).rejects.toBeInstanceOf(ChecksumMismatchError);
    expect(await readdir(path.dirname(to))).toEqual([]);
  });

  test('a Redis RDB snapshot: BGSAVE, then the RDB file with its checksum', async () => {
    const store = createFsStore(tempDir());
    const acts = createBackupSetActivities(env.deps, store);
    const r = await inActivity(() => acts.backupSetRedis({ service: 'reports', setId: '20261126T030000Z-rdb00001', target: 'reports-redis', mode: 'rdb' }));
    expect(r.source).toMatchObject({ mode: 'rdb', checksum: r.source.file.sha256 });
    expect(r.source.keys).toBeGreaterThan(400);
    expect((await store.read(r.source.file)).subarray(0, 5).toString()).toBe('REDIS');
  });

  test('retention keeps the newest verified set even when it is older than the limit, and removes stale incomplete sets', async () => {
    const store = createFsStore(tempDir());
    const acts = createBackupSetActivities(env.deps, store);
    const id = (daysAgo: number, run: string) => {
      const d = new Date(Date.now() - daysAgo * 86_400_000);
      return `${d
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z')}-${run}`;
    };
    const sets = {
      old: id(50, 'old00001'),
      newestVerified: id(40, 'verified'),
      unverified: id(35, 'unverif1'),
      staleIncomplete: id(2, 'stale001'),
      freshIncomplete: id(0.1, 'fresh001'),
    };
    const complete = async (setId: string, verified: boolean) => {
      await store.put(`reports/${setId}/postgres/reports-db.dump`, Buffer.from('dump'));
      await store.put(
        manifestKey('reports', setId),
        Buffer.from(JSON.stringify({ version: 1, service: 'reports', setId, verified, sources: [], totalBytes: 4 })),
      );
    };
    await complete(sets.old, true);
    await complete(sets.newestVerified, true);
    await complete(sets.unverified, false);
    await store.put(`reports/${sets.staleIncomplete}/postgres/reports-db.dump`, Buffer.from('partial'));
    await store.put(`reports/${sets.freshIncomplete}/postgres/reports-db.dump`, Buffer.from('being written'));
    await store.put('other/20200101T000000Z-othersvc/x', Buffer.from('another service'));

    const r = await inActivity(() => acts.applyRetention({ service: 'reports', retention: { maxAge: '30d', keepDaily: 0, keepWeekly: 0 } }));
    expect(r.keep).toEqual([
      { setId: sets.freshIncomplete, why: expect.stringMatching(/incomplete, but may still be being written/) },
      { setId: sets.newestVerified, why: 'newest verified set' },
    ]);
    expect(r.delete.map((d) => d.setId).sort()).toEqual([sets.old, sets.unverified, sets.staleIncomplete].sort());
    expect((await listSets(store, 'reports')).map((s) => s.setId)).toEqual([sets.freshIncomplete, sets.newestVerified]);
    expect(await store.list('other/')).toHaveLength(1);

    // With keep-daily, the newest verified set of an older day survives too.
    await complete(sets.old, true);
    const daily = await inActivity(() => acts.applyRetention({ service: 'reports', retention: { maxAge: '30d', keepDaily: 2, keepWeekly: 0 }, dryRun: true }));
    expect(daily.delete).toEqual([]);
    expect(daily.keep.find((k) => k.setId === sets.old)?.why).toMatch(/^newest verified set of day /);
  });

  test('the fs store refuses keys that escape it or collide with its own files', async () => {
    const store = createFsStore(tempDir());
    for (const key of ['../x', 'a/../../b', '/etc/passwd', 'a//b', 'a/b.sha256', 'a\\b'])
      await expect(store.put(key, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidKeyError);
    expect(await store.stat('a/missing')).toBeUndefined();
    expect(await store.list('')).toEqual([]);
  });
});
