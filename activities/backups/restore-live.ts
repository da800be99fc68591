// Restoring parts of a backup set over a service's live data (the `restore` runbook): plan and check what
// would be replaced, write a safety set of exactly that, replace it, and compare it with a manifest.
// Unlike restore.ts (scratch copies only), these activities change the configured databases; the runbook
// calls them only with writes stopped and exclusive use of the service. Tables are replaced in ONE
// transaction (psql --single-transaction: TRUNCATE, then pg_restore --data-only of those tables), so a
// failure leaves them as they were. Tools get argument arrays; identifiers are quoted with escapeIdentifier.
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/activity';
import type { Redis } from 'ioredis';
import { BSON, type Document } from 'mongodb';
import { escapeIdentifier } from 'pg';
import { pgConnectionArgs } from '../backup-store/pg-dump';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { withHeartbeat } from '../heartbeat';
import { readBsonFile, readRedisKeysFile, withTempDir } from './backup';
import {
  ChecksumMismatchError,
  manifestKey,
  setPrefix,
  type BackupManifest,
  type BackupSource,
  type BackupStore,
  type FileRef,
  type MongoSource,
  type PostgresSource,
  type RedisSource,
} from './contract';
import { digestKey, documentText, keyField, keyHasPrefix, keyLabel, mongoInventory, postgresInventory, postgresTables, redisKeys } from './inventory';
import { bsonDocuments, logicalDigest, parseKeyDump, restoreKeyEntries } from './restore';
import { latestVerifiedSet, listSets, readManifest } from './sets';
import { backupAccess } from './access';

const run = promisify(execFile);
const { EJSON } = BSON;

/** What a restore replaces, per store; a store left out is not touched. */
export interface LiveSelection {
  postgres?: { tables?: string[] };
  mongo?: { collections?: string[] };
  redis?: { prefixes?: string[] };
}

/** The selection resolved against a set: exact tables, collections and key prefixes per target. */
export interface LiveTargets {
  postgres: Array<{ target: string; tables: string[] }>;
  mongo: Array<{ target: string; collections: string[] }>;
  redis: Array<{ target: string; prefixes: string[] }>;
}

/** One thing a restore replaces: what it holds now and what the set holds. */
export interface LiveItem {
  store: BackupSource['store'];
  target: string;
  /** `schema.table`, a collection, or `prefix*`. */
  name: string;
  /** Rows, documents or keys now. */
  current: number;
  /** Rows, documents or keys in the set. */
  inSet: number;
}

export interface LiveRestorePlan {
  service: string;
  environment: string;
  setId: string;
  finishedAt: string;
  /** The backup run marked the set verified. */
  verified: boolean;
  /** Objects of the set read back with their checksums (and contents) matching the manifest. */
  checked: { files: number; bytes: number };
  targets: LiveTargets;
  items: LiveItem[];
}

export interface SafetySetResult {
  setId: string;
  files: number;
  bytes: number;
  items: LiveItem[];
  /** An earlier attempt had written and verified it already. */
  reused: boolean;
}

export interface LiveRestoreResult {
  setId: string;
  items: Array<{ store: BackupSource['store']; target: string; name: string; restored: number }>;
  ms: number;
}

export interface LiveVerifyResult {
  setId: string;
  items: Array<{ store: BackupSource['store']; target: string; name: string; count: number; expected: number }>;
  differences: string[];
}

/** The manifest of a safety set says why it exists. */
export interface SafetyManifest extends BackupManifest {
  safety: { restoreOf: string; workflowId: string; reason: string };
}

export const SAFETY_SUFFIX = '-safety';

/** A TOC line of pg_restore --list: `3375; 0 16400 TABLE DATA public reports postgres`. */
const TABLE_DATA = /^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) /;

const quoted = (table: string): string => {
  const dot = table.indexOf('.');
  return `${escapeIdentifier(table.slice(0, dot))}.${escapeIdentifier(table.slice(dot + 1))}`;
};

function setCorrupt(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'BackupSetCorrupt', nonRetryable: true, message });
}

export type RestoreLiveActivities = ReturnType<typeof createRestoreLiveActivities>;

export function createRestoreLiveActivities(deps: Deps, openStore?: () => BackupStore) {
  const { store, bin, pgUrl } = backupAccess(deps, openStore);
  const mongoDb = (target: string) => deps.mongo(target);

  async function manifestOf(service: string, setId: string): Promise<BackupManifest> {
    const m = await readManifest(store(), service, setId).catch(corruptOnChecksum);
    if (!m) throw new InvalidTargetError(`setId: backup set ${setId} of ${service} has no manifest in ${store().location} (missing or incomplete)`);
    return m;
  }

  function corruptOnChecksum(err: unknown): never {
    if (err instanceof Error && err.name === ChecksumMismatchError.name) throw setCorrupt(err.message);
    throw err;
  }

  async function localCopy(ref: FileRef, dir: string): Promise<string> {
    const s = store();
    if (s.localFile) return s.localFile(ref).catch(corruptOnChecksum);
    const file = path.join(dir, `${randomUUID()}-${path.basename(ref.key)}`);
    await s.download(ref, file).catch(corruptOnChecksum);
    return file;
  }

  async function tableDataEntries(dump: string): Promise<string[]> {
    const { stdout } = await run(bin('pg_restore'), ['--list', dump], { maxBuffer: 64 * 1024 * 1024 });
    return stdout.split('\n').filter((l) => TABLE_DATA.test(l));
  }

  async function keysUnder(redis: Redis, prefix: string): Promise<Buffer[]> {
    return redisKeys(redis, prefix);
  }

  const sourcesOf = <S extends BackupSource['store']>(m: BackupManifest, kind: S) =>
    m.sources.filter((s): s is Extract<BackupSource, { store: S }> => s.store === kind);

  /** Replaces the selected tables of one target from a dump, in one transaction. */
  async function restorePostgres(src: PostgresSource, tables: string[], dir: string): Promise<Array<{ name: string; restored: number }>> {
    const dump = await localCopy(src.file, dir);
    const wanted = new Set(tables);
    const entries = (await tableDataEntries(dump)).filter((l) => {
      const [, schema, table] = TABLE_DATA.exec(l)!;
      return wanted.has(`${schema}.${table}`);
    });
    const list = path.join(dir, `${randomUUID()}.list`);
    await writeFile(list, `${entries.join('\n')}\n`);
    const data = path.join(dir, `${randomUUID()}.sql`);
    await run(bin('pg_restore'), ['--data-only', '--no-owner', '--no-privileges', `--use-list=${list}`, `--file=${data}`, dump], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const head = path.join(dir, `${randomUUID()}.sql`);
    // lock_timeout: never queue for long behind another session's lock (readers would queue behind us).
    await writeFile(head, `SET lock_timeout = '60s';\nTRUNCATE TABLE ${tables.map(quoted).join(', ')};\n`);
    const conn = pgConnectionArgs(pgUrl(src.target));
    await run(bin('psql'), ['--no-psqlrc', '--quiet', '--single-transaction', '--set=ON_ERROR_STOP=1', ...conn.args, `--file=${head}`, `--file=${data}`], {
      env: { ...process.env, ...conn.env },
      maxBuffer: 16 * 1024 * 1024,
    }).catch((err: Error & { stderr?: string }) => {
      throw new Error(
        `restore of ${tables.join(', ')} into ${src.target} failed, nothing of them changed: ${(err.stderr || err.message).trim().slice(0, 800)}`,
      );
    });
    const pool = deps.pg(src.target);
    const out: Array<{ name: string; restored: number }> = [];
    for (const t of tables)
      out.push({ name: t, restored: Number((await pool.query<{ n: string }>(`SELECT count(*)::bigint AS n FROM ${quoted(t)}`)).rows[0]!.n) });
    return out;
  }

  /** Replaces each selected collection: dropped, its documents inserted from the .bson, its indexes recreated. */
  async function restoreMongo(src: MongoSource, collections: string[], dir: string): Promise<Array<{ name: string; restored: number }>> {
    const db = mongoDb(src.target);
    const out: Array<{ name: string; restored: number }> = [];
    for (const name of collections) {
      const c = src.collections.find((x) => x.name === name)!;
      const file = await localCopy(c.bson, dir);
      const meta = EJSON.parse((await store().read(c.metadata).catch(corruptOnChecksum)).toString('utf8'), { relaxed: false }) as { indexes?: Document[] };
      await db
        .collection(name)
        .drop()
        .catch(() => undefined);
      await db.createCollection(name);
      const coll = db.collection(name);
      let batch: Document[] = [];
      let n = 0;
      for await (const raw of bsonDocuments(file)) {
        batch.push(BSON.deserialize(raw, { promoteValues: false, promoteBuffers: false, bsonRegExp: true }));
        if (batch.length >= 1000) {
          await coll.insertMany(batch, { ordered: true });
          n += batch.length;
          batch = [];
        }
      }
      if (batch.length) await coll.insertMany(batch, { ordered: true });
      n += batch.length;
      const specs = (meta.indexes ?? []).filter((ix) => ix.name !== '_id_').map(({ v: _v, ns: _ns, ...spec }) => spec);
      if (specs.length) await db.command({ createIndexes: name, indexes: specs });
      out.push({ name, restored: n });
    }
    return out;
  }

  /** Replaces the keys under each prefix: those there now are deleted, the set's are RESTOREd with their TTLs. */
  async function restoreRedis(src: RedisSource, prefixes: string[]): Promise<Array<{ name: string; restored: number }>> {
    const redis = deps.redis(src.target);
    const { entries } = parseKeyDump(await store().read(src.file).catch(corruptOnChecksum), src.file.key);
    const out: Array<{ name: string; restored: number }> = [];
    for (const prefix of prefixes) {
      const now = await keysUnder(redis, prefix);
      for (let i = 0; i < now.length; i += 500) await redis.unlink(...now.slice(i, i + 500));
      const mine = entries.filter((e) => keyHasPrefix(e.key, prefix));
      await restoreKeyEntries(redis, mine, { replace: true, where: `under ${prefix} on ${src.target}` });
      out.push({ name: `${prefix}*`, restored: mine.length });
    }
    return out;
  }

  return {
    /**
     * The set to restore (`setId`, or the newest verified set) checked object by object (checksums, and
     * the contents against the manifest), the selection resolved against it, and what each selected table,
     * collection and key prefix holds now and in the set. Read-only. Bad selections fail naming the field.
     */
    async planLiveRestore(input: { service: string; setId?: string; selection: LiveSelection }): Promise<LiveRestorePlan> {
      const svc = deps.service(input.service);
      const sel = input.selection;
      const has = { postgres: svc.postgres.length > 0, mongo: svc.mongo.length > 0, redis: Boolean(svc.queue?.redis) };
      for (const kind of ['postgres', 'mongo', 'redis'] as const)
        if (sel[kind] && !has[kind]) throw new InvalidTargetError(`${kind}: service "${input.service}" has no ${kind} target configured; leave it out`);
      let m: BackupManifest | undefined;
      if (input.setId) m = await manifestOf(input.service, input.setId);
      else {
        m = await latestVerifiedSet(store(), input.service).catch(corruptOnChecksum);
        if (!m) {
          const sets = await listSets(store(), input.service);
          throw new InvalidTargetError(
            `setId: ${input.service} has no verified backup set in ${store().location}${sets.length ? ` (newest ${sets[0]!.setId}, not verified)` : ''}; run the backup runbook first`,
          );
        }
      }
      const manifest = m;
      const targets: LiveTargets = { postgres: [], mongo: [], redis: [] };
      const items: LiveItem[] = [];
      const checked = { files: 0, bytes: 0 };
      const noSource = (kind: string) => new InvalidTargetError(`${kind}: backup set ${manifest.setId} holds no ${kind} data of ${input.service}`);

      await withHeartbeat(
        () =>
          withTempDir(async (dir) => {
            if (sel.postgres) {
              const sources = sourcesOf(manifest, 'postgres');
              if (!sources.length) throw noSource('postgres');
              const inSet = new Set(sources.flatMap((s) => s.tables.map((t) => t.name)));
              for (const t of sel.postgres.tables ?? [])
                if (!inSet.has(t))
                  throw new InvalidTargetError(`postgres.tables: "${t}" is not in backup set ${manifest.setId}; it holds: ${[...inSet].join(', ')}`);
              for (const src of sources) {
                const tables = sel.postgres.tables ? src.tables.filter((t) => sel.postgres!.tables!.includes(t.name)) : src.tables;
                if (!tables.length) continue;
                const names = tables.map((t) => t.name);
                const pool = deps.pg(src.target);
                const live = new Set(await postgresTables(pool));
                for (const n of names)
                  if (!live.has(n))
                    throw new InvalidTargetError(
                      `postgres.tables: "${n}" is in the set but not in ${src.target} now (a restore replaces data, it does not create tables)`,
                    );
                // TRUNCATE fails on a table another table references: say so now, not halfway.
                const { rows: refs } = await pool.query<{ child: string; parent: string }>(
                  `SELECT cn.nspname || '.' || cc.relname AS child, pn.nspname || '.' || pc.relname AS parent
                     FROM pg_catalog.pg_constraint k
                     JOIN pg_catalog.pg_class cc ON cc.oid = k.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
                     JOIN pg_catalog.pg_class pc ON pc.oid = k.confrelid JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
                    WHERE k.contype = 'f'`,
                );
                for (const r of refs)
                  if (names.includes(r.parent) && !names.includes(r.child))
                    throw new InvalidTargetError(
                      `postgres.tables: ${r.parent} is referenced by ${r.child} (foreign key), which is not selected; select both (or restore neither)`,
                    );
                const dump = await localCopy(src.file, dir);
                checked.files++;
                checked.bytes += src.file.bytes;
                const data = new Set((await tableDataEntries(dump)).map((l) => TABLE_DATA.exec(l)!.slice(1, 3).join('.')));
                for (const t of tables)
                  if (t.rows > 0 && !data.has(t.name))
                    throw setCorrupt(`backup set ${manifest.setId}: ${src.file.key} holds no data of ${t.name} (manifest: ${t.rows} rows)`);
                for (const t of tables) {
                  const n = await pool.query<{ n: string }>(`SELECT count(*)::bigint AS n FROM ${quoted(t.name)}`);
                  items.push({ store: 'postgres', target: src.target, name: t.name, current: Number(n.rows[0]!.n), inSet: t.rows });
                }
                targets.postgres.push({ target: src.target, tables: names });
              }
            }
            if (sel.mongo) {
              const sources = sourcesOf(manifest, 'mongo');
              if (!sources.length) throw noSource('mongo');
              const inSet = new Set(sources.flatMap((s) => s.collections.map((c) => c.name)));
              for (const c of sel.mongo.collections ?? [])
                if (!inSet.has(c))
                  throw new InvalidTargetError(`mongo.collections: "${c}" is not in backup set ${manifest.setId}; it holds: ${[...inSet].join(', ')}`);
              for (const src of sources) {
                const colls = sel.mongo.collections ? src.collections.filter((c) => sel.mongo!.collections!.includes(c.name)) : src.collections;
                if (!colls.length) continue;
                for (const c of colls) {
                  const file = await localCopy(c.bson, dir);
                  await store().read(c.metadata).catch(corruptOnChecksum);
                  checked.files += 2;
                  checked.bytes += c.bson.bytes + c.metadata.bytes;
                  const got = await readBsonFile(file);
                  if (got.documents !== c.documents || got.checksum !== c.checksum)
                    throw setCorrupt(
                      `backup set ${manifest.setId}: ${c.bson.key} holds ${got.documents} documents (digest ${got.checksum.slice(0, 12)}), the manifest says ${c.documents} (${c.checksum.slice(0, 12)})`,
                    );
                  const current = await mongoDb(src.target).collection(c.name).countDocuments();
                  items.push({ store: 'mongo', target: src.target, name: c.name, current, inSet: c.documents });
                }
                targets.mongo.push({ target: src.target, collections: colls.map((c) => c.name) });
              }
            }
            if (sel.redis) {
              const sources = sourcesOf(manifest, 'redis');
              if (!sources.length) throw noSource('redis');
              for (const src of sources) {
                if (src.mode !== 'keys')
                  throw new InvalidTargetError(
                    `redis: backup set ${manifest.setId} holds an RDB snapshot of ${src.target}; only a keys-mode set is restored key by key`,
                  );
                const base = src.prefix ?? '';
                const prefixes = sel.redis.prefixes ?? [base];
                for (const p of prefixes)
                  if (!p.startsWith(base))
                    throw new InvalidTargetError(`redis.prefixes: "${p}" is not under the set's prefix "${base}": keys outside it are not in the set`);
                const file = await localCopy(src.file, dir);
                checked.files++;
                checked.bytes += src.file.bytes;
                const got = await readRedisKeysFile(file);
                if (got.keys !== src.keys || got.checksum !== src.checksum)
                  throw setCorrupt(
                    `backup set ${manifest.setId}: ${src.file.key} holds ${got.keys} keys (digest ${got.checksum.slice(0, 12)}), the manifest says ${src.keys}`,
                  );
                const { entries } = parseKeyDump(await store().read(src.file).catch(corruptOnChecksum), src.file.key);
                const redis = deps.redis(src.target);
                for (const p of prefixes)
                  items.push({
                    store: 'redis',
                    target: src.target,
                    name: `${p}*`,
                    current: (await keysUnder(redis, p)).length,
                    inSet: entries.filter((e) => keyHasPrefix(e.key, p)).length,
                  });
                targets.redis.push({ target: src.target, prefixes });
              }
            }
          }),
        () => ({ phase: 'plan', checked }),
      );
      return {
        service: input.service,
        environment: svc.environment,
        setId: manifest.setId,
        finishedAt: manifest.finishedAt,
        verified: manifest.verified,
        checked,
        targets,
        items,
      };
    },

    /**
     * A set of exactly what the restore replaces, as it is now: `<setId>` (ending in `-safety`, so neither
     * "the newest verified set" nor retention ever takes it), its manifest saying which restore it guards.
     * Each file is read back and checked before the manifest (written last) marks it verified. A retry
     * finds a verified safety set of this id and reuses it.
     */
    async writeSafetySet(input: { service: string; setId: string; restoreOf: string; workflowId: string; targets: LiveTargets }): Promise<SafetySetResult> {
      const s = store();
      const prior = (await readManifest(s, input.service, input.setId).catch(() => undefined)) as SafetyManifest | undefined;
      const summarize = (m: BackupManifest): LiveItem[] =>
        m.sources.flatMap((src): LiveItem[] =>
          src.store === 'postgres'
            ? src.tables.map((t) => ({ store: 'postgres', target: src.target, name: t.name, current: t.rows, inSet: t.rows }))
            : src.store === 'mongo'
              ? src.collections.map((c) => ({ store: 'mongo', target: src.target, name: c.name, current: c.documents, inSet: c.documents }))
              : [{ store: 'redis', target: src.target, name: `${src.prefix ?? ''}*`, current: src.keys, inSet: src.keys }],
        );
      if (prior?.verified && prior.safety) return { setId: input.setId, files: 0, bytes: prior.totalBytes, items: summarize(prior), reused: true };
      if (!input.setId.endsWith(SAFETY_SUFFIX)) throw new InvalidTargetError(`safety set id "${input.setId}" must end in ${SAFETY_SUFFIX}`);
      const base = setPrefix(input.service, input.setId);
      const started = Date.now();
      const sources: BackupSource[] = [];
      await withHeartbeat(
        () =>
          withTempDir(async (dir) => {
            for (const t of input.targets.postgres) {
              const t0 = Date.now();
              const cfgUrl = pgUrl(t.target);
              const client = await deps.pg(t.target).connect();
              try {
                await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
                const snap = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]!.id;
                const file = path.join(dir, `${t.target}.dump`);
                const conn = pgConnectionArgs(cfgUrl);
                const tableArgs = t.tables.map((x) => `--table=${quoted(x)}`);
                await run(
                  bin('pg_dump'),
                  ['--format=custom', `--snapshot=${snap}`, '--lock-wait-timeout=60000', ...tableArgs, `--file=${file}`, ...conn.args],
                  {
                    env: { ...process.env, ...conn.env },
                    maxBuffer: 16 * 1024 * 1024,
                  },
                );
                const tables = await postgresInventory(client, t.tables);
                const ref = await s.put(`${base}postgres/${t.target}.dump`, { file });
                const database = decodeURIComponent(new URL(cfgUrl).pathname.slice(1));
                sources.push({ store: 'postgres', target: t.target, database, file: ref, tables, ms: Date.now() - t0 });
              } finally {
                await client.query('ROLLBACK').catch(() => undefined);
                client.release();
              }
            }
            for (const t of input.targets.mongo) {
              const t0 = Date.now();
              const db = mongoDb(t.target);
              const database = deps.config.mongo[t.target]!.database;
              const collections: MongoSource['collections'] = [];
              for (const name of t.collections) {
                const coll = db.collection(name);
                const h = createHash('sha256');
                let documents = 0;
                async function* docs(): AsyncGenerator<Buffer> {
                  for await (const raw of coll.find({}, { raw: true, sort: { _id: 1 } }) as AsyncIterable<unknown> as AsyncIterable<Buffer>) {
                    const buf = Buffer.from(raw);
                    h.update(documentText(BSON.deserialize(buf))).update('\n');
                    documents++;
                    yield buf;
                  }
                }
                const bson = await s.put(`${base}mongo/${t.target}/${database}/${name}.bson`, Readable.from(docs()));
                const indexes = await coll.listIndexes().toArray();
                const metadata = await s.put(
                  `${base}mongo/${t.target}/${database}/${name}.metadata.json`,
                  Buffer.from(EJSON.stringify({ indexes, collectionName: name, type: 'collection', options: {} }, { relaxed: false })),
                );
                collections.push({ name, documents, checksum: h.digest('hex'), indexes: indexes.length, bson, metadata });
              }
              sources.push({ store: 'mongo', target: t.target, database, collections, ms: Date.now() - t0 });
            }
            for (const t of input.targets.redis) {
              const t0 = Date.now();
              const redis = deps.redis(t.target);
              // Prefixes may overlap: one key once, by its bytes.
              const byName = new Map((await Promise.all(t.prefixes.map((p) => keysUnder(redis, p)))).flat().map((k) => [k.toString('latin1'), k]));
              const keys = [...byName.values()].sort((a, b) => Buffer.compare(a, b));
              const h = createHash('sha256');
              const lines: string[] = [JSON.stringify({ format: 'redis-dump-keys/1', prefix: '', target: t.target })];
              let count = 0;
              for (const k of keys) {
                const [payload, pttl] = await Promise.all([redis.dumpBuffer(k), redis.pttl(k)]);
                if (!payload) continue;
                digestKey(h, k, payload);
                count++;
                lines.push(JSON.stringify({ ...keyField(k), pttl: pttl > 0 ? pttl : 0, dump: payload.toString('base64') }));
              }
              const file = await s.put(`${base}redis/${t.target}.keys.jsonl`, Buffer.from(`${lines.join('\n')}\n`));
              sources.push({ store: 'redis', target: t.target, mode: 'keys', file, keys: count, checksum: h.digest('hex'), ms: Date.now() - t0 });
            }
            // Read back: every object through the store (its checksum), and its contents against the inventory.
            for (const src of sources) {
              if (src.store === 'postgres') {
                const data = new Set((await tableDataEntries(await localCopy(src.file, dir))).map((l) => TABLE_DATA.exec(l)!.slice(1, 3).join('.')));
                const lacking = src.tables.filter((t) => !data.has(t.name)).map((t) => t.name);
                if (lacking.length) throw new Error(`safety set ${input.setId}: ${src.file.key} holds no data of ${lacking.join(', ')}`);
              } else if (src.store === 'mongo') {
                for (const c of src.collections) {
                  await s.read(c.metadata);
                  const got = await readBsonFile(await localCopy(c.bson, dir));
                  if (got.documents !== c.documents || got.checksum !== c.checksum)
                    throw new Error(`safety set ${input.setId}: ${c.bson.key} does not read back as written`);
                }
              } else {
                const got = await readRedisKeysFile(await localCopy(src.file, dir));
                if (got.keys !== src.keys || got.checksum !== src.checksum)
                  throw new Error(`safety set ${input.setId}: ${src.file.key} does not read back as written`);
              }
            }
          }),
        () => ({ phase: 'safety set', sources: sources.length }),
      );
      const files = sources.flatMap((x) => (x.store === 'mongo' ? x.collections.flatMap((c) => [c.bson, c.metadata]) : [x.file]));
      const manifest: SafetyManifest = {
        version: 1,
        service: input.service,
        setId: input.setId,
        workflowId: input.workflowId,
        startedAt: new Date(started).toISOString(),
        finishedAt: new Date().toISOString(),
        sources,
        totalBytes: files.reduce((n, f) => n + f.bytes, 0),
        software: { node: process.version },
        verified: true,
        safety: { restoreOf: input.restoreOf, workflowId: input.workflowId, reason: `safety backup of what the restore of set ${input.restoreOf} replaces` },
      };
      await s.put(manifestKey(input.service, input.setId), Buffer.from(JSON.stringify(manifest, null, 2)));
      return { setId: input.setId, files: files.length, bytes: manifest.totalBytes, items: summarize(manifest), reused: false };
    },

    /** Replaces the selected tables, collections and key prefixes with a set's data (the set or a safety set). */
    async restoreLive(input: { service: string; setId: string; targets: LiveTargets }): Promise<LiveRestoreResult> {
      const started = Date.now();
      const m = await manifestOf(input.service, input.setId);
      const items: LiveRestoreResult['items'] = [];
      const find = <S extends BackupSource['store']>(kind: S, target: string) => {
        const src = sourcesOf(m, kind).find((x) => x.target === target);
        if (!src) throw new InvalidTargetError(`backup set ${input.setId} holds no ${kind} source of ${target}`);
        return src;
      };
      const progress = { phase: '' };
      await withHeartbeat(
        () =>
          withTempDir(async (dir) => {
            for (const t of input.targets.postgres) {
              progress.phase = `postgres ${t.target}`;
              for (const r of await restorePostgres(find('postgres', t.target), t.tables, dir)) items.push({ store: 'postgres', target: t.target, ...r });
            }
            for (const t of input.targets.mongo) {
              progress.phase = `mongo ${t.target}`;
              for (const r of await restoreMongo(find('mongo', t.target), t.collections, dir)) items.push({ store: 'mongo', target: t.target, ...r });
            }
            for (const t of input.targets.redis) {
              progress.phase = `redis ${t.target}`;
              for (const r of await restoreRedis(find('redis', t.target), t.prefixes)) items.push({ store: 'redis', target: t.target, ...r });
            }
          }),
        () => ({ ...progress }),
      );
      return { setId: input.setId, items, ms: Date.now() - started };
    },

    /**
     * The live tables, collections and key prefixes against a set: rows and checksums per table, documents,
     * checksums and indexes per collection (the manifest's inventory), and each key's value per prefix (the
     * set's keys file, itself checked against the manifest when planned). Lists every difference.
     */
    async verifyLive(input: { service: string; setId: string; targets: LiveTargets }): Promise<LiveVerifyResult> {
      const m = await manifestOf(input.service, input.setId);
      const differences: string[] = [];
      const items: LiveVerifyResult['items'] = [];
      await withHeartbeat(
        async () => {
          for (const t of input.targets.postgres) {
            const src = sourcesOf(m, 'postgres').find((x) => x.target === t.target)!;
            for (const got of await postgresInventory(deps.pg(t.target), t.tables)) {
              const e = src.tables.find((x) => x.name === got.name)!;
              items.push({ store: 'postgres', target: t.target, name: got.name, count: got.rows, expected: e.rows });
              if (got.rows !== e.rows) differences.push(`postgres ${t.target}: table ${got.name}: ${got.rows} rows, set ${input.setId} says ${e.rows}`);
              if (got.checksum !== e.checksum)
                differences.push(`postgres ${t.target}: table ${got.name}: checksum ${got.checksum}, set ${input.setId} says ${e.checksum}`);
            }
          }
          for (const t of input.targets.mongo) {
            const src = sourcesOf(m, 'mongo').find((x) => x.target === t.target)!;
            for (const got of await mongoInventory(mongoDb(t.target), t.collections)) {
              const e = src.collections.find((x) => x.name === got.name)!;
              items.push({ store: 'mongo', target: t.target, name: got.name, count: got.documents, expected: e.documents });
              if (got.documents !== e.documents)
                differences.push(`mongo ${t.target}: collection ${got.name}: ${got.documents} documents, set ${input.setId} says ${e.documents}`);
              if (got.checksum !== e.checksum)
                differences.push(`mongo ${t.target}: collection ${got.name}: checksum ${got.checksum}, set ${input.setId} says ${e.checksum}`);
              if (got.indexes !== e.indexes)
                differences.push(`mongo ${t.target}: collection ${got.name}: ${got.indexes} indexes, set ${input.setId} says ${e.indexes}`);
            }
          }
          for (const t of input.targets.redis) {
            const src = sourcesOf(m, 'redis').find((x) => x.target === t.target)!;
            const { entries } = parseKeyDump(await store().read(src.file).catch(corruptOnChecksum), src.file.key);
            const redis = deps.redis(t.target);
            for (const p of t.prefixes) {
              const expected = entries.filter((e) => keyHasPrefix(e.key, p));
              // Keyed by the name's bytes (latin1 maps each byte to one character).
              const live = new Map((await keysUnder(redis, p)).map((k) => [k.toString('latin1'), k]));
              const missing: string[] = [];
              const differing: string[] = [];
              for (const e of expected) {
                if (!live.delete(e.key.toString('latin1'))) {
                  missing.push(keyLabel(e.key));
                  continue;
                }
                const now = await redis.dumpBuffer(e.key);
                if (now && now.equals(e.payload)) continue;
                const check = `restore-verify:${randomUUID()}`;
                await redis.restore(check, 0, e.payload, 'REPLACE');
                try {
                  if ((await logicalDigest(redis, e.key)) !== (await logicalDigest(redis, check))) differing.push(keyLabel(e.key));
                } finally {
                  await redis.unlink(check);
                }
              }
              const list = (xs: string[]) => `${xs.slice(0, 10).join(', ')}${xs.length > 10 ? ` and ${xs.length - 10} more` : ''}`;
              const count = expected.length - missing.length + live.size;
              items.push({ store: 'redis', target: t.target, name: `${p}*`, count, expected: expected.length });
              if (missing.length) differences.push(`redis ${t.target}: ${missing.length} key(s) of set ${input.setId} missing under ${p}: ${list(missing)}`);
              if (differing.length)
                differences.push(`redis ${t.target}: ${differing.length} key(s) under ${p} differ from set ${input.setId}: ${list(differing)}`);
              if (live.size)
                differences.push(
                  `redis ${t.target}: ${live.size} key(s) under ${p} that set ${input.setId} does not hold: ${list([...live.values()].map(keyLabel))}`,
                );
            }
          }
        },
        () => ({ phase: 'verify' }),
      );
      return { setId: input.setId, items, differences };
    },
  };
}
