// Restoring a backup set into scratch copies, and proving the copies equal what the manifest recorded.
// Every restore goes to a store of its own (a `drill_…` database, a `drill:…:` key prefix or a scratch
// redis-server on loopback), marked as scratch so `dropScratch` never drops anything else. Each activity is
// safe to retry after a crash: a retry (attempt > 1) replaces its own half-restored copy; a first attempt
// refuses to restore over a store that exists unless `replace` says so. Tools get argument arrays, never a
// shell string; passwords reach a child only through its environment; identifiers are quoted by the driver.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis, type RedisKey } from 'ioredis';
import { BSON, type Db, type Document } from 'mongodb';
import { escapeIdentifier, escapeLiteral, Pool, type Client as PgClient } from 'pg';
import { pgConnectionArgs } from '../backup-store/pg-dump';
import type { Deps } from '../deps';
import { InvalidTargetError, UnsafeOperationError } from '../errors';
import { withHeartbeat } from '../heartbeat';
import { manifestKey, type BackupManifest, type BackupSource, type BackupStore, type FileRef, type RedisSource } from './contract';
import {
  digestKey,
  keyHasPrefix,
  keyLabel,
  keyOfLine,
  mongoCollections,
  mongoInventory,
  postgresInventory,
  postgresTables,
  redisInventory,
  redisKeys,
} from './inventory';
import { latestVerifiedSet, listSets, readManifest } from './sets';
import { attempt, backupAccess, nonRetryableChecksum, sourceOf, withPg } from './access';

const run = promisify(execFile);
const { EJSON } = BSON;

/** Scratch stores carry this prefix (and, in Postgres, a comment): nothing else is ever dropped. */
export const SCRATCH_PREFIX = 'drill_';
const SCRATCH_COMMENT = 'restore-drill scratch copy';
const SCRATCH_REDIS_PREFIX = 'drill:';
const BATCH_DOCS = 1000;
const BATCH_BYTES = 8 * 1024 * 1024;
/** BSON's largest document (16 MiB) plus room for the overhead mongodump allows. */
const MAX_BSON = 16 * 1024 * 1024 + 16 * 1024;

/** A set as a drill plans it: what it holds per source, small enough for workflow history. */
export interface DrillSet {
  service: string;
  setId: string;
  startedAt: string;
  finishedAt: string;
  verified: boolean;
  totalBytes: number;
  sources: Array<{ store: BackupSource['store']; target: string; database?: string; mode?: RedisSource['mode']; bytes: number; items: number; rows: number }>;
}

export type FindSetResult = { found: true; set: DrillSet } | { found: false; why: string };

/** Where one source was restored to. Names only: passwords stay in the worker (config, a 0600 file). */
export type Scratch =
  | { store: 'postgres'; target: string; database: string }
  | { store: 'mongo'; target: string; database: string }
  | { store: 'redis'; target: string; mode: 'keys'; prefix: string }
  | {
      store: 'redis';
      target: string;
      mode: 'rdb';
      port: number;
      dir: string;
      runId: string;
      /** Keys of the snapshot whose TTL had run out when the server loaded it (Redis skips them; its log counts them). */
      expiredAtLoad?: number;
    };

export interface RestoreResult {
  scratch: Scratch;
  /** Tables, collections or keys restored. */
  items: number;
  /** Rows, documents or keys restored. */
  rows: number;
  bytes: number;
  ms: number;
  /** Indexes created (Mongo). */
  indexes?: number;
}

export interface SourceComparison {
  store: BackupSource['store'];
  target: string;
  scratch: string;
  expected: { items: number; rows: number };
  restored: { items: number; rows: number };
  differences: string[];
}

export interface ComparisonResult {
  sources: SourceComparison[];
  differences: string[];
  ms: number;
}

/** The manifest's facts per source, for plans and reports. */
export function drillSet(m: BackupManifest): DrillSet {
  return {
    service: m.service,
    setId: m.setId,
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    verified: m.verified,
    totalBytes: m.totalBytes,
    sources: m.sources.map((s) => {
      if (s.store === 'postgres')
        return {
          store: s.store,
          target: s.target,
          database: s.database,
          bytes: s.file.bytes,
          items: s.tables.length,
          rows: s.tables.reduce((n, t) => n + t.rows, 0),
        };
      if (s.store === 'mongo')
        return {
          store: s.store,
          target: s.target,
          database: s.database,
          bytes: s.collections.reduce((n, c) => n + c.bson.bytes + c.metadata.bytes, 0),
          items: s.collections.length,
          rows: s.collections.reduce((n, c) => n + c.documents, 0),
        };
      return { store: s.store, target: s.target, mode: s.mode, bytes: s.file.bytes, items: s.keys, rows: s.keys };
    }),
  };
}

export function checkScratchName(name: string): string {
  if (!/^drill_[a-z0-9_]{1,57}$/.test(name))
    throw new UnsafeOperationError(`"${name}" is not a scratch name (drill_ followed by lower-case letters, digits, _)`);
  return name;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Each document of a mongodump `.bson` file (BSON documents one after another), as raw bytes. */
export async function* bsonDocuments(file: string): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let at = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    buf = buf.length ? Buffer.concat([buf, chunk as Buffer]) : (chunk as Buffer);
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readInt32LE(off);
      if (len < 5 || len > MAX_BSON) throw new Error(`${path.basename(file)}: no BSON document at byte ${at + off} (length ${len})`);
      if (buf.length - off < len) break;
      yield buf.subarray(off, off + len);
      off += len;
    }
    at += off;
    buf = buf.subarray(off);
  }
  if (buf.length) throw new Error(`${path.basename(file)}: ${buf.length} bytes after the last whole BSON document (truncated file)`);
}

/** A scratch redis-server's password: in a 0600 file of its private folder, never in history or argv. */
export async function scratchRedis(dir: string, port: number): Promise<Redis> {
  const conf = await readFile(path.join(dir, 'redis.conf'), 'utf8');
  const password = /^requirepass (\S+)$/m.exec(conf)?.[1];
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => null });
  if (password) r.options.password = password;
  r.on('error', () => undefined);
  await r.connect();
  return r;
}

/**
 * Every collection of a mongodump-layout source into `db`: its `.bson` inserted in batches (types kept
 * exactly: no promotion of Int32/Long/Double), then the indexes of its `.metadata.json`. Heartbeats progress.
 */
export async function loadMongoDump(
  db: Db,
  src: Extract<BackupSource, { store: 'mongo' }>,
  io: { download(ref: FileRef): Promise<string>; read(ref: FileRef): Promise<Buffer> },
): Promise<{ documents: number; indexes: number; bytes: number }> {
  const progress = { collection: '', documents: 0, collections: 0 };
  let documents = 0;
  let indexes = 0;
  let bytes = 0;
  await withHeartbeat(
    async () => {
      for (const c of src.collections) {
        progress.collection = c.name;
        progress.documents = 0;
        const bsonFile = await io.download(c.bson);
        const meta = EJSON.parse((await io.read(c.metadata)).toString('utf8'), { relaxed: false }) as { indexes?: Document[]; options?: Document };
        bytes += c.bson.bytes + c.metadata.bytes;
        await db.createCollection(c.name);
        const coll = db.collection(c.name);
        let batch: Document[] = [];
        let batchBytes = 0;
        const flush = async () => {
          if (!batch.length) return;
          await coll.insertMany(batch, { ordered: true, forceServerObjectId: false });
          progress.documents += batch.length;
          batch = [];
          batchBytes = 0;
        };
        for await (const raw of bsonDocuments(bsonFile)) {
          batch.push(BSON.deserialize(raw, { promoteValues: false, promoteBuffers: false, bsonRegExp: true }));
          batchBytes += raw.length;
          if (batch.length >= BATCH_DOCS || batchBytes >= BATCH_BYTES) await flush();
        }
        await flush();
        await rm(bsonFile, { force: true });
        documents += progress.documents;
        const specs = (meta.indexes ?? []).filter((ix) => ix.name !== '_id_').map(({ v: _v, ns: _ns, ...spec }) => spec);
        if (specs.length) {
          try {
            await db.command({ createIndexes: c.name, indexes: specs });
          } catch (err) {
            throw new Error(
              `indexes of ${c.name} (${specs.map((x) => String(x.name)).join(', ')}) could not be created in ${db.databaseName}: ${(err as Error).message}`,
            );
          }
        }
        indexes += specs.length;
        progress.collections++;
      }
    },
    () => ({ ...progress }),
  );
  return { documents, indexes, bytes };
}

/** pg_restore of a custom-format dump into `url`, in one transaction, stopping at the first error. */
export async function pgRestoreDump(pgRestore: string, url: string, file: string, what: { key: string; database: string }): Promise<void> {
  const conn = pgConnectionArgs(url);
  await withHeartbeat(
    (signal) =>
      run(pgRestore, ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', ...conn.args, file], {
        env: { ...process.env, ...conn.env },
        maxBuffer: 16 * 1024 * 1024,
        signal,
      }),
    () => ({ phase: 'pg_restore', database: what.database }),
  ).catch((err: Error & { stderr?: string }) => {
    throw new Error(`pg_restore of ${what.key} into ${what.database} failed: ${(err.stderr || err.message).trim().slice(0, 800)}`);
  });
}

export type RestoreActivities = ReturnType<typeof createRestoreActivities>;

/** `openStore`: where the sets are read from; default the configured store (createBackupStore). */
export function createRestoreActivities(deps: Deps, openStore?: () => BackupStore) {
  const { store, bin, pgUrl } = backupAccess(deps, openStore);
  const configuredMongoDatabases = () => new Set(Object.values(deps.config.mongo).map((m) => m.database));

  async function manifest(service: string, setId: string): Promise<BackupManifest> {
    const m = await readManifest(store(), service, setId).catch(nonRetryableChecksum);
    if (!m)
      throw new InvalidTargetError(
        `backup set ${setId} of ${service} has no manifest (${manifestKey(service, setId)} in ${store().location}): it is incomplete`,
      );
    return m;
  }

  async function scratchComment(c: PgClient, database: string): Promise<string | undefined | null> {
    const { rows } = await c.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_catalog.pg_database WHERE datname = $1`,
      [database],
    );
    return rows.length ? rows[0]!.comment : undefined;
  }

  async function dropPostgres(target: string, database: string): Promise<boolean> {
    checkScratchName(database);
    return withPg(pgUrl(target), async (c) => {
      const comment = await scratchComment(c, database);
      if (comment === undefined) return false;
      if (!comment?.startsWith(SCRATCH_COMMENT))
        throw new UnsafeOperationError(`database "${database}" on ${target} is not marked as a restore-drill scratch copy; refusing to drop it`);
      await c.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(database)} WITH (FORCE)`);
      return true;
    });
  }

  async function dropMongo(target: string, database: string): Promise<boolean> {
    checkScratchName(database);
    if (configuredMongoDatabases().has(database))
      throw new UnsafeOperationError(`mongo database "${database}" is a configured target database; refusing to drop it`);
    const client = deps.mongoClient(target);
    const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
    if (!databases.some((d) => d.name === database)) return false;
    await client.db(database).dropDatabase();
    return true;
  }

  async function dropRedisPrefix(target: string, prefix: string): Promise<number> {
    if (!prefix.startsWith(SCRATCH_REDIS_PREFIX) || prefix.length < SCRATCH_REDIS_PREFIX.length + 4)
      throw new UnsafeOperationError(`redis prefix "${prefix}" is not a scratch prefix (${SCRATCH_REDIS_PREFIX}…); refusing to delete under it`);
    const redis = deps.redis(target);
    let n = 0;
    let cursor = '0';
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    do {
      // As bytes: a name that is not UTF-8 would come back as a string naming no key.
      const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length) n += await redis.unlink(...keys);
      cursor = next.toString();
    } while (cursor !== '0');
    return n;
  }

  async function stopScratchRedis(s: Extract<Scratch, { mode: 'rdb' }>): Promise<boolean> {
    let stopped = false;
    const r = await scratchRedis(s.dir, s.port).catch(() => undefined);
    if (r) {
      try {
        // Only the server this drill started (its run id), never one that took the port since.
        const info = await r.info('server');
        if (new RegExp(`^run_id:${s.runId}\\s*$`, 'm').test(info)) {
          await r.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
          stopped = true;
        }
      } finally {
        r.disconnect();
      }
    }
    if (path.basename(s.dir).startsWith('rbt-drill-redis-')) await rm(s.dir, { recursive: true, force: true });
    return stopped;
  }

  async function download(ref: FileRef, dir: string): Promise<string> {
    const file = path.join(dir, path.basename(ref.key));
    await store().download(ref, file).catch(nonRetryableChecksum);
    return file;
  }

  return {
    /** The set a drill restores: `setId`, or the newest verified set of the service. Absent is a result, not an error. */
    async findBackupSet(input: { service: string; setId?: string }): Promise<FindSetResult> {
      deps.service(input.service);
      const s = store();
      if (input.setId) {
        const m = await readManifest(s, input.service, input.setId).catch(nonRetryableChecksum);
        if (m) return { found: true, set: drillSet(m) };
        const known = (await listSets(s, input.service)).slice(0, 5).map((x) => `${x.setId}${x.complete ? '' : ' (incomplete)'}`);
        return {
          found: false,
          why: `backup set ${input.setId} of ${input.service} has no manifest in ${s.location} (missing or incomplete); newest sets: ${known.join(', ') || 'none'}`,
        };
      }
      const m = await latestVerifiedSet(s, input.service).catch(nonRetryableChecksum);
      if (m) return { found: true, set: drillSet(m) };
      const sets = await listSets(s, input.service);
      return {
        found: false,
        why:
          `${input.service} has no verified backup set in ${s.location}` +
          (sets.length ? ` (${sets.length} set(s), none complete and verified; newest ${sets[0]!.setId})` : '') +
          `; run the backup runbook first`,
      };
    },

    /**
     * pg_restore of the set's dump of `target` into the scratch database `toDatabase` on the same server
     * (created, and marked as scratch). A first attempt refuses a database that exists unless `replace`.
     */
    async restorePostgres(input: { service: string; setId: string; target: string; toDatabase: string; replace?: boolean }): Promise<RestoreResult> {
      const started = Date.now();
      const db = checkScratchName(input.toDatabase);
      const m = await manifest(input.service, input.setId);
      const src = sourceOf(m, 'postgres', input.target);
      const url = pgUrl(input.target);
      await withPg(url, async (c) => {
        const comment = await scratchComment(c, db);
        if (comment !== undefined) {
          if (!input.replace && attempt() === 1)
            throw new UnsafeOperationError(
              `database "${db}" already exists on ${input.target}; refusing to restore over it (set replace to drop and restore it again)`,
            );
          if (!comment?.startsWith(SCRATCH_COMMENT))
            throw new UnsafeOperationError(`database "${db}" on ${input.target} is not a restore-drill scratch copy; refusing to replace it`);
          await c.query(`DROP DATABASE ${escapeIdentifier(db)} WITH (FORCE)`);
        }
        await c.query(`CREATE DATABASE ${escapeIdentifier(db)} TEMPLATE template0`);
        await c.query(`COMMENT ON DATABASE ${escapeIdentifier(db)} IS ${escapeLiteral(`${SCRATCH_COMMENT} of ${input.service} set ${input.setId}`)}`);
      });
      const dir = await mkdtemp(path.join(tmpdir(), 'rbt-restore-'));
      let phase = 'downloading';
      try {
        // A directory store's dump is read in place once its checksum is checked (no copy of a large file);
        // it is only read, never removed (the temporary directory holds downloads only).
        const s = store();
        const file = await withHeartbeat(
          () => (s.localFile ? s.localFile(src.file).catch(nonRetryableChecksum) : download(src.file, dir)),
          () => ({ phase, key: src.file.key }),
        );
        phase = 'pg_restore';
        await pgRestoreDump(bin('pg_restore'), withDatabase(url, db), file, { key: src.file.key, database: db });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      const pool = new Pool({ connectionString: withDatabase(url, db), max: 1 });
      try {
        const tables = await postgresTables(pool);
        let rows = 0;
        for (const t of tables) {
          const [schema, table] = [t.slice(0, t.indexOf('.')), t.slice(t.indexOf('.') + 1)];
          rows += Number(
            (await pool.query<{ n: string }>(`SELECT count(*)::bigint AS n FROM ${escapeIdentifier(schema)}.${escapeIdentifier(table)}`)).rows[0]!.n,
          );
        }
        return {
          scratch: { store: 'postgres', target: input.target, database: db },
          items: tables.length,
          rows,
          bytes: src.file.bytes,
          ms: Date.now() - started,
        };
      } finally {
        await pool.end();
      }
    },

    /**
     * Every collection of the set's mongodump of `target` into the scratch database `toDatabase`: its
     * `.bson` inserted in batches (types kept exactly: no promotion of Int32/Long/Double), then the indexes
     * of its `.metadata.json`.
     */
    async restoreMongo(input: { service: string; setId: string; target: string; toDatabase: string; replace?: boolean }): Promise<RestoreResult> {
      const started = Date.now();
      const dbName = checkScratchName(input.toDatabase);
      if (configuredMongoDatabases().has(dbName))
        throw new UnsafeOperationError(`mongo database "${dbName}" is a configured target database; refusing to restore into it`);
      const m = await manifest(input.service, input.setId);
      const src = sourceOf(m, 'mongo', input.target);
      const client = deps.mongoClient(input.target);
      const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
      if (databases.some((d) => d.name === dbName)) {
        if (!input.replace && attempt() === 1)
          throw new UnsafeOperationError(
            `mongo database "${dbName}" already exists on ${input.target}; refusing to restore over it (set replace to drop and restore it again)`,
          );
        await client.db(dbName).dropDatabase();
      }
      const dir = await mkdtemp(path.join(tmpdir(), 'rbt-restore-'));
      let loaded: { documents: number; indexes: number; bytes: number };
      try {
        loaded = await loadMongoDump(client.db(dbName), src, {
          download: (ref) => download(ref, dir),
          read: (ref) => store().read(ref).catch(nonRetryableChecksum),
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      const { documents, indexes, bytes } = loaded;
      return {
        scratch: { store: 'mongo', target: input.target, database: dbName },
        items: src.collections.length,
        rows: documents,
        indexes,
        bytes,
        ms: Date.now() - started,
      };
    },

    /**
     * Mode `keys`: RESTORE of every key of the set under `toPrefix` (`drill:…:`) on the same Redis, with its
     * recorded TTL. Mode `rdb`: a scratch redis-server on a free loopback port loads the snapshot as its
     * dbfilename; it is the restored copy until dropScratch stops it.
     */
    async restoreRedis(input: { service: string; setId: string; target: string; toPrefix: string; replace?: boolean }): Promise<RestoreResult> {
      const started = Date.now();
      const m = await manifest(input.service, input.setId);
      const src = sourceOf(m, 'redis', input.target);
      if (src.mode === 'rdb') return restoreRdb(src, started);
      const prefix = input.toPrefix;
      if (!prefix.startsWith(SCRATCH_REDIS_PREFIX) || prefix.length < SCRATCH_REDIS_PREFIX.length + 4)
        throw new UnsafeOperationError(`redis prefix "${prefix}" is not a scratch prefix (${SCRATCH_REDIS_PREFIX}…)`);
      const redis = deps.redis(input.target);
      const [, existing] = await redis.scan('0', 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
      if (existing.length && !input.replace && attempt() === 1)
        throw new UnsafeOperationError(`keys under "${prefix}" already exist on ${input.target}; refusing to restore over them (set replace to restore again)`);
      const body = await store().read(src.file).catch(nonRetryableChecksum);
      const { prefix: from, entries } = parseKeyDump(body, src.file.key);
      let restored = 0;
      await withHeartbeat(
        async () => {
          for (const e of entries)
            if (!keyHasPrefix(e.key, from)) throw new Error(`${src.file.key}: key "${keyLabel(e.key)}" is not under the set's prefix "${from}"`);
          const to = Buffer.from(prefix, 'utf8');
          const skip = Buffer.byteLength(from, 'utf8');
          // REPLACE: a retry overwrites its own half-restored copy.
          await restoreKeyEntries(redis, entries, {
            rename: (k) => Buffer.concat([to, k.subarray(skip)]),
            replace: true,
            where: `under ${prefix}`,
            onBatch: (n) => (restored += n),
          });
        },
        () => ({ restored, of: entries.length }),
      );
      return {
        scratch: { store: 'redis', target: input.target, mode: 'keys', prefix },
        items: restored,
        rows: restored,
        bytes: src.file.bytes,
        ms: Date.now() - started,
      };
    },

    /**
     * The inventories of the restored copies against the manifest: every table, collection and key set,
     * its count and checksum (and index count). Every difference is listed, not only the first. The copies
     * may be live stores too (disaster recovery compares what it restored in place).
     */
    async compareWithManifest(input: { service: string; setId: string; scratch: Scratch[]; partial?: boolean }): Promise<ComparisonResult> {
      const started = Date.now();
      const m = await manifest(input.service, input.setId);
      const out: SourceComparison[] = [];
      const progress = { source: '' };
      await withHeartbeat(
        async () => {
          for (const s of input.scratch) {
            progress.source = `${s.store}:${s.target}`;
            if (s.store === 'postgres') out.push(await comparePostgres(sourceOf(m, 'postgres', s.target), s));
            else if (s.store === 'mongo') out.push(await compareMongo(sourceOf(m, 'mongo', s.target), s));
            else out.push(await compareRedis(sourceOf(m, 'redis', s.target), s));
          }
          const restored = new Set(input.scratch.map((s) => `${s.store}:${s.target}`));
          for (const s of m.sources) {
            // `partial`: the caller restored only some sources on purpose (disaster recovery left a store holding data alone).
            if (!input.partial && !restored.has(`${s.store}:${s.target}`)) {
              out.push({
                store: s.store,
                target: s.target,
                scratch: '(not restored)',
                expected: { items: 0, rows: 0 },
                restored: { items: 0, rows: 0 },
                differences: [`${s.store} ${s.target}: in the set but not restored`],
              });
            }
          }
        },
        () => ({ ...progress }),
      );
      return { sources: out, differences: out.flatMap((s) => s.differences), ms: Date.now() - started };
    },

    /** Drops scratch copies (only ones marked as such); absent ones are fine. Returns what was removed. */
    async dropScratch(input: { scratch: Scratch[] }): Promise<{ dropped: string[] }> {
      const dropped: string[] = [];
      const progress = { dropping: '' };
      // Heartbeats: DROP DATABASE waits for a checkpoint, which on a busy server takes longer than the heartbeat timeout.
      await withHeartbeat(
        async () => {
          for (const s of input.scratch) {
            progress.dropping = `${s.store} ${s.target}`;
            if (s.store === 'postgres') {
              if (await dropPostgres(s.target, s.database)) dropped.push(`postgres ${s.target}/${s.database}`);
            } else if (s.store === 'mongo') {
              if (await dropMongo(s.target, s.database)) dropped.push(`mongo ${s.target}/${s.database}`);
            } else if (s.mode === 'keys') {
              const n = await dropRedisPrefix(s.target, s.prefix);
              dropped.push(`redis ${s.target} ${s.prefix}* (${n} keys)`);
            } else if (await stopScratchRedis(s)) dropped.push(`scratch redis-server on 127.0.0.1:${s.port}`);
          }
        },
        () => ({ ...progress, dropped: dropped.length }),
      );
      return { dropped };
    },

    /** Scratch copies a drill would leave (for tests and people): `drill_` databases and `drill:` prefixes. */
    async listScratch(input: { postgres?: string; mongo?: string }): Promise<string[]> {
      const out: string[] = [];
      if (input.postgres)
        await withPg(pgUrl(input.postgres), async (c) => {
          const { rows } = await c.query<{ datname: string }>(`SELECT datname FROM pg_catalog.pg_database WHERE datname LIKE 'drill\\_%' ORDER BY 1`);
          out.push(...rows.map((r) => `postgres ${r.datname}`));
        });
      if (input.mongo) {
        const { databases } = await deps.mongoClient(input.mongo).db('admin').admin().listDatabases({ nameOnly: true });
        out.push(...databases.filter((d) => d.name.startsWith(SCRATCH_PREFIX)).map((d) => `mongo ${d.name}`));
      }
      return out;
    },
  };

  async function restoreRdb(src: RedisSource, started: number): Promise<RestoreResult> {
    const dir = await mkdtemp(path.join(tmpdir(), 'rbt-drill-redis-'));
    let child: ReturnType<typeof spawn> | undefined;
    try {
      await withHeartbeat(
        () => store().download(src.file, path.join(dir, 'dump.rdb')).catch(nonRetryableChecksum),
        () => ({ phase: 'downloading', key: src.file.key }),
      );
      const port = await freePort();
      const password = randomBytes(24).toString('hex');
      // The whole config in a 0600 file: the password never appears in argv (ps) or in workflow history.
      await writeFile(
        path.join(dir, 'redis.conf'),
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode yes',
          `dir ${dir}`,
          'dbfilename dump.rdb',
          'save ""',
          'appendonly no',
          `requirepass ${password}`,
          `logfile ${path.join(dir, 'redis.log')}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      const server = spawn('redis-server', [path.join(dir, 'redis.conf')], { detached: true, stdio: 'ignore' });
      child = server;
      server.unref();
      const until = Date.now() + 120_000;
      let r: Redis | undefined;
      let keys = 0;
      let runId = '';
      await withHeartbeat(
        async () => {
          for (;;) {
            try {
              r ??= await scratchRedis(dir, port);
              keys = await r.dbsize();
              runId = /^run_id:(\w+)/m.exec(await r.info('server'))?.[1] ?? '';
              break;
            } catch (err) {
              r?.disconnect();
              r = undefined;
              if (server.exitCode !== null) {
                const log = await readFile(path.join(dir, 'redis.log'), 'utf8').catch(() => '');
                throw new Error(`scratch redis-server exited (${server.exitCode}) loading ${src.file.key}: ${log.trim().split('\n').slice(-3).join(' | ')}`);
              }
              if (Date.now() > until)
                throw new Error(`scratch redis-server on 127.0.0.1:${port} did not load ${src.file.key} within 120s: ${(err as Error).message}`);
              await new Promise((res) => setTimeout(res, 200));
            }
          }
        },
        () => ({ phase: 'loading', port }),
      );
      r?.disconnect();
      // "Done loading RDB, keys loaded: N, keys expired: M." (Redis 7): keys whose TTL ran out since the snapshot.
      const loadLog = await readFile(path.join(dir, 'redis.log'), 'utf8').catch(() => '');
      const expiredAtLoad = Number(/keys expired: (\d+)/.exec(loadLog)?.[1] ?? 0);
      return {
        scratch: { store: 'redis', target: src.target, mode: 'rdb', port, dir, runId, ...(expiredAtLoad ? { expiredAtLoad } : {}) },
        items: keys,
        rows: keys,
        bytes: src.file.bytes,
        ms: Date.now() - started,
      };
    } catch (err) {
      // A server that did not come up (or a cancelled attempt) is stopped here: nothing else knows of it.
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async function comparePostgres(src: Extract<BackupSource, { store: 'postgres' }>, s: Extract<Scratch, { store: 'postgres' }>): Promise<SourceComparison> {
    const pool = new Pool({ connectionString: withDatabase(pgUrl(s.target), s.database), max: 1 });
    try {
      const present = new Set(await postgresTables(pool));
      const expected = new Map(src.tables.map((t) => [t.name, t]));
      const got = await postgresInventory(
        pool,
        src.tables.map((t) => t.name).filter((n) => present.has(n)),
      );
      const differences: string[] = [];
      for (const t of src.tables) if (!present.has(t.name)) differences.push(`table ${t.name}: missing in the restored copy (manifest: ${t.rows} rows)`);
      for (const name of present) if (!expected.has(name)) differences.push(`table ${name}: in the restored copy but not in the manifest`);
      for (const g of got) {
        const e = expected.get(g.name)!;
        if (g.rows !== e.rows) differences.push(`table ${g.name}: ${g.rows} rows restored, manifest says ${e.rows}`);
        if (g.checksum !== e.checksum) differences.push(`table ${g.name}: checksum ${g.checksum} restored, manifest says ${e.checksum}`);
      }
      return {
        store: 'postgres',
        target: s.target,
        scratch: s.database,
        expected: { items: src.tables.length, rows: src.tables.reduce((n, t) => n + t.rows, 0) },
        restored: { items: present.size, rows: got.reduce((n, t) => n + t.rows, 0) },
        differences: differences.map((d) => `postgres ${s.target}: ${d}`),
      };
    } finally {
      await pool.end();
    }
  }

  async function compareMongo(src: Extract<BackupSource, { store: 'mongo' }>, s: Extract<Scratch, { store: 'mongo' }>): Promise<SourceComparison> {
    const db = deps.mongoClient(s.target).db(s.database);
    const present = new Set(await mongoCollections(db));
    const got = await mongoInventory(
      db,
      src.collections.map((c) => c.name).filter((n) => present.has(n)),
    );
    const expected = new Map(src.collections.map((c) => [c.name, c]));
    const differences: string[] = [];
    for (const c of src.collections)
      if (!present.has(c.name)) differences.push(`collection ${c.name}: missing in the restored copy (manifest: ${c.documents} documents)`);
    for (const name of present) if (!expected.has(name)) differences.push(`collection ${name}: in the restored copy but not in the manifest`);
    for (const g of got) {
      const e = expected.get(g.name)!;
      if (g.documents !== e.documents) differences.push(`collection ${g.name}: ${g.documents} documents restored, manifest says ${e.documents}`);
      if (g.checksum !== e.checksum) differences.push(`collection ${g.name}: checksum ${g.checksum} restored, manifest says ${e.checksum}`);
      if (g.indexes !== e.indexes) differences.push(`collection ${g.name}: ${g.indexes} indexes restored, manifest says ${e.indexes}`);
    }
    return {
      store: 'mongo',
      target: s.target,
      scratch: s.database,
      expected: { items: src.collections.length, rows: src.collections.reduce((n, c) => n + c.documents, 0) },
      restored: { items: present.size, rows: got.reduce((n, c) => n + c.documents, 0) },
      differences: differences.map((d) => `mongo ${s.target}: ${d}`),
    };
  }

  /**
   * Keys mode, in two halves. The file against the manifest: its keys and DUMP payloads give the manifest's
   * digest (the content is what the backup recorded). The restored keys against the file, key by key: a DUMP
   * payload equal to the file's, or else an equal value read logically (a set or hash in a hash table dumps
   * its members in table order, which a RESTORE may change with the data equal).
   */
  async function compareRedisKeys(src: RedisSource, s: Extract<Scratch, { mode: 'keys' }>, differences: string[]): Promise<number> {
    const redis = deps.redis(s.target);
    const { prefix: from, entries } = parseKeyDump(await store().read(src.file).catch(nonRetryableChecksum), src.file.key);
    const skip = Buffer.byteLength(from, 'utf8');
    const h = createHash('sha256');
    // In file order: the backup wrote the lines in the order it digested them (sorted by name bytes now,
    // by UTF-16 code units in files written before, which differs for some names).
    for (const e of entries) digestKey(h, e.key.subarray(skip), e.payload);
    const fileDigest = h.digest('hex');
    if (entries.length !== src.keys) differences.push(`${src.file.key}: holds ${entries.length} keys, manifest says ${src.keys}`);
    if (fileDigest !== src.checksum) differences.push(`${src.file.key}: keys and payloads digest ${fileDigest}, manifest says ${src.checksum}`);
    // Keyed by the name's bytes (latin1 maps each byte to one character).
    const restored = new Map((await redisKeys(redis, s.prefix)).map((k) => [k.toString('latin1'), k]));
    const check = `${s.prefix}\u0000check`;
    const to = Buffer.from(s.prefix, 'utf8');
    const differing: string[] = [];
    const missing: string[] = [];
    for (const e of entries) {
      const key = Buffer.concat([to, e.key.subarray(skip)]);
      if (!restored.delete(key.toString('latin1'))) {
        missing.push(keyLabel(e.key));
        continue;
      }
      const now = await redis.dumpBuffer(key);
      if (now && now.equals(e.payload)) continue;
      await redis.restore(check, 0, e.payload, 'REPLACE');
      try {
        if ((await logicalDigest(redis, key)) !== (await logicalDigest(redis, check))) differing.push(keyLabel(e.key));
      } finally {
        await redis.unlink(check);
      }
    }
    const list = (xs: string[]) => `${xs.slice(0, 10).join(', ')}${xs.length > 10 ? ` and ${xs.length - 10} more` : ''}`;
    if (missing.length) differences.push(`${missing.length} key(s) of the set missing under ${s.prefix}: ${list(missing)}`);
    if (differing.length) differences.push(`${differing.length} key(s) restored under ${s.prefix} with another value than the set's: ${list(differing)}`);
    if (restored.size) differences.push(`${restored.size} key(s) under ${s.prefix} that the set does not hold: ${list([...restored.values()].map(keyLabel))}`);
    return entries.length - missing.length + restored.size;
  }

  async function compareRedis(src: RedisSource, s: Extract<Scratch, { store: 'redis' }>): Promise<SourceComparison> {
    const differences: string[] = [];
    let keys: number;
    let where: string;
    if (s.mode === 'keys') {
      where = `${s.prefix}*`;
      keys = await compareRedisKeys(src, s, differences);
    } else {
      // An RDB's checksum is the file's, already checked by the store on download: compare what it loaded.
      // Keys with a TTL keep expiring in the copy (a lock, a short-lived cache key): those that expired
      // since the snapshot, at load or since, are counted by Redis and are not differences.
      const r = await scratchRedis(s.dir, s.port);
      let expired = s.expiredAtLoad ?? 0;
      try {
        keys = (await redisInventory(r, src.prefix ?? '')).keys;
        expired += Number(/^expired_keys:(\d+)/m.exec(await r.info('stats'))?.[1] ?? 0);
      } finally {
        r.disconnect();
      }
      where = `scratch redis-server 127.0.0.1:${s.port}${expired ? ` (${expired} key(s) whose TTL ran out since the snapshot)` : ''}`;
      // The manifest's count already leaves out keys expired when the backup checked the file; the copy counts
      // them again when it loads: a key is missing only if no expiry accounts for it.
      if (keys > src.keys || keys + expired < src.keys) differences.push(`${where}: ${keys} keys restored and ${expired} expired, manifest says ${src.keys}`);
    }
    if (s.mode === 'keys' && keys !== src.keys) differences.push(`${where}: ${keys} keys restored, manifest says ${src.keys}`);
    return {
      store: 'redis',
      target: s.target,
      scratch: where,
      expected: { items: src.keys, rows: src.keys },
      restored: { items: keys, rows: keys },
      differences: differences.map((d) => `redis ${s.target}: ${d}`),
    };
  }
}

/** An encoding-independent digest of one key's value: equal data, equal digest, however the server stores it. */
export async function logicalDigest(redis: Redis, key: RedisKey): Promise<string> {
  const h = createHash('sha256');
  const type = await redis.type(key);
  h.update(`${type}\n`);
  const items = (xs: Buffer[]) => xs.forEach((x) => h.update(`${x.length}:`).update(x));
  if (type === 'string') items([(await redis.getBuffer(key)) ?? Buffer.alloc(0)]);
  else if (type === 'list') items(await redis.lrangeBuffer(key, 0, -1));
  else if (type === 'set') items((await redis.smembersBuffer(key)).sort((a, b) => Buffer.compare(a, b)));
  else if (type === 'zset') items(await redis.zrangeBuffer(key, '0', '-1', 'WITHSCORES'));
  else if (type === 'hash') {
    const flat = await redis.hgetallBuffer(key);
    const pairs = Object.entries(flat).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    items(pairs.flatMap(([k, v]) => [Buffer.from(k), v]));
  } else items([(await redis.dumpBuffer(key)) ?? Buffer.alloc(0)]);
  return h.digest('hex');
}

/** One key of a `keys` dump: its name, remaining TTL in ms (0 or less: none) and DUMP payload. */
/**
 * RESTOREs keys in pipelined batches of 500, each with its recorded TTL; `rename` maps a key to where it
 * goes. Without `replace` a key that exists fails the batch (BUSYKEY). Returns how many were restored.
 */
export async function restoreKeyEntries(
  redis: Redis,
  entries: ReadonlyArray<KeyDumpEntry>,
  opts: { rename?: (key: Buffer) => Buffer; replace: boolean; where: string; onBatch?: (restored: number) => void },
): Promise<number> {
  let restored = 0;
  for (let i = 0; i < entries.length; i += 500) {
    const pipe = redis.pipeline();
    for (const e of entries.slice(i, i + 500)) {
      const key = opts.rename ? opts.rename(e.key) : e.key;
      if (opts.replace) pipe.restore(key, Math.max(0, e.pttl), e.payload, 'REPLACE');
      else pipe.restore(key, Math.max(0, e.pttl), e.payload);
    }
    const results = (await pipe.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw new Error(`RESTORE ${opts.where} failed: ${(failed[0] as Error).message}`);
    restored += results.length;
    opts.onBatch?.(results.length);
  }
  return restored;
}

export interface KeyDumpEntry {
  /** The name's bytes: a Redis key need not be UTF-8. */
  key: Buffer;
  pttl: number;
  payload: Buffer;
}

/**
 * A `keys` file (`redis-dump-keys/1`, written by backupSetRedis): a header line `{"format", "prefix",
 * "target"}`, then one line per key `{"key", "pttl", "dump"}` with the DUMP payload in base64. A name that is
 * not UTF-8 has `keyB64` (its bytes in base64) instead of `key`.
 */
export function parseKeyDump(body: Buffer, name: string): { prefix: string; entries: KeyDumpEntry[] } {
  const lines = body
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim());
  const parse = (line: string, i: number): Record<string, unknown> => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${name}: line ${i + 1} is not JSON`);
    }
  };
  const header = parse(lines[0] ?? '{}', 0);
  if (header.format !== 'redis-dump-keys/1') throw new Error(`${name} is not a redis-dump-keys/1 file (format ${JSON.stringify(header.format)})`);
  const entries = lines.slice(1).map((line, i) => {
    const o = parse(line, i + 1);
    const key = keyOfLine(o);
    if (!key || typeof o.dump !== 'string') throw new Error(`${name}: line ${i + 2} has no key and dump`);
    return { key, pttl: typeof o.pttl === 'number' ? o.pttl : 0, payload: Buffer.from(o.dump, 'base64') };
  });
  return { prefix: typeof header.prefix === 'string' ? header.prefix : '', entries };
}
