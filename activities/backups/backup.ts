// Backup sets of a service (the `backup` runbook's activities): a Postgres dump, a MongoDB export in
// mongodump's layout and a Redis snapshot, each with the inventory of what it holds, a manifest written
// last, a verification that reads every file back, and retention. Keys are deterministic per set, and each
// source step records what it wrote (`<source>.source.json`) after its data: a retry after a worker crash
// finds that record, checks the objects against it and reuses them instead of backing up again.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Redis } from 'ioredis';
import { BSON } from 'mongodb';
import { ErrorType } from '../../common/errors';
import { parseDuration } from '../../common/duration';
import { pgConnectionArgs } from '../backup-store/pg-dump';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import {
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
import { digestKey, documentText, keyField, keyOfLine, mongoCollections, postgresInventory, redisKeys } from './inventory';
import { deleteSet, listSets, planRetention, readManifest, type BackupSetSummary, type RetentionPlan } from './sets';
import { createBackupStore } from './store';

const run = promisify(execFile);
const { EJSON } = BSON;

export type BackupStoreName = 'postgres' | 'mongo' | 'redis';
export type RedisBackupMode = 'rdb' | 'keys';

/** The data stores of a service a backup covers, from the configuration. */
export interface BackupTargets {
  service: string;
  postgres: string[];
  mongo: Array<{ target: string; database: string }>;
  redis: string[];
  /** Where the sets go, for people (`.data/backups`, `s3://…`). */
  location: string;
}

/** What one source step wrote: the manifest's entry, the software it was made with, and whether it was reused. */
export interface SourceResult<S extends BackupSource = BackupSource> {
  source: S;
  software: Record<string, string>;
  reused: boolean;
}

export interface SetInput {
  service: string;
  setId: string;
}

export interface VerifyResult {
  files: number;
  bytes: number;
  ms: number;
  /** Per dump, what pg_restore --list found: `postgres/reports-db.dump: 12 tables`. */
  checks: string[];
}

export interface RetentionOverride {
  maxAge?: string;
  keepDaily?: number;
  keepWeekly?: number;
}

export interface RetentionResult extends RetentionPlan {
  policy: { maxAge: string; keepDaily: number; keepWeekly: number };
  dryRun: boolean;
}

const sourceKey = (set: SetInput, store: BackupStoreName, target: string): string => `${setPrefix(set.service, set.setId)}${store}/${target}.source.json`;

function verificationFailed(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.VerificationFailed, nonRetryable: true, message });
}

/** A local temporary folder (0700) for the duration of `fn`. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'backup-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Counts of a `.bson` file (concatenated BSON documents) and the digest the inventory computes of them. */
export async function readBsonFile(file: string, onDoc?: (doc: BSON.Document) => void): Promise<{ documents: number; checksum: string }> {
  const h = createHash('sha256');
  let documents = 0;
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(file)) {
    pending = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
    let at = 0;
    while (pending.length - at >= 4) {
      const size = pending.readInt32LE(at);
      if (size < 5) throw new Error(`${path.basename(file)}: invalid BSON document size ${size} at document ${documents + 1}`);
      if (pending.length - at < size) break;
      const doc = BSON.deserialize(pending.subarray(at, at + size));
      h.update(documentText(doc)).update('\n');
      onDoc?.(doc);
      documents++;
      at += size;
    }
    pending = pending.subarray(at);
  }
  if (pending.length) throw new Error(`${path.basename(file)}: ${pending.length} trailing bytes after document ${documents} (truncated?)`);
  return { documents, checksum: h.digest('hex') };
}

/** Counts and the inventory digest of a keys file (`redis/<target>.keys.jsonl`). */
export async function readRedisKeysFile(file: string): Promise<{ keys: number; checksum: string; prefix: string }> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
  const header = JSON.parse(lines[0] ?? '{}') as { format?: string; prefix?: string };
  if (header.format !== 'redis-dump-keys/1') throw new Error(`${path.basename(file)} is not a redis-dump-keys/1 file`);
  const prefix = header.prefix ?? '';
  const skip = Buffer.byteLength(prefix, 'utf8');
  const h = createHash('sha256');
  for (const [i, line] of lines.slice(1).entries()) {
    const r = JSON.parse(line) as Record<string, unknown>;
    const key = keyOfLine(r);
    if (!key || typeof r.dump !== 'string') throw new Error(`${path.basename(file)}: line ${i + 2} has no key and dump`);
    digestKey(h, key.subarray(skip), Buffer.from(r.dump, 'base64'));
  }
  return { keys: lines.length - 1, checksum: h.digest('hex'), prefix };
}

export type BackupSetActivities = ReturnType<typeof createBackupSetActivities>;

export function createBackupSetActivities(deps: Deps, store: BackupStore = createBackupStore(deps.config.backups)) {
  const bin = (tool: string): string => (deps.config.backups.pgBinDir ? path.join(deps.config.backups.pgBinDir, tool) : tool);
  /** The activity's cancellation, or one that never comes (a function called outside an activity). */
  const cancellation = (): AbortSignal => {
    try {
      return Context.current().cancellationSignal;
    } catch {
      return new AbortController().signal;
    }
  };
  /** Records where the running activity is; `beating` sends it every 2s, so a long query never looks dead. */
  const heartbeat = (details: unknown): void => {
    const p = progress.getStore();
    if (p) p.details = details;
    beat(details);
  };

  /** pg_restore reads the dump's table of contents: the dump is readable. Returns its TABLE DATA entries. */
  async function pgRestoreList(file: string): Promise<number> {
    const { stdout } = await run(bin('pg_restore'), ['--list', file], { maxBuffer: 64 * 1024 * 1024 }).catch((err: Error & { stderr?: string }) => {
      throw new Error(`pg_restore --list cannot read ${path.basename(file)}: ${(err.stderr || err.message).trim().slice(0, 300)}`);
    });
    return stdout.split('\n').filter((l) => / TABLE DATA /.test(l)).length;
  }

  /**
   * pg_restore --list of a dump while it streams into the store: write the dump to `stdin`. pg_restore
   * reads only the header and the table of contents, which pg_dump writes first, then exits; the rest of
   * the dump is not for it (its pipe's EPIPE is expected). `entries`: the TABLE DATA entries.
   */
  function pgRestoreListing(name: string): { stdin: Writable; entries: Promise<number>; stop: () => void } {
    const child = spawn(bin('pg_restore'), ['--list'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let partial = '';
    let tableData = 0;
    const count = (lines: string[]) => (tableData += lines.filter((l) => / TABLE DATA /.test(l)).length);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      const lines = (partial + c).split('\n');
      partial = lines.pop() ?? '';
      count(lines);
    });
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
    child.stdin.on('error', () => undefined);
    const entries = new Promise<number>((resolve, reject) => {
      child.on('error', (err) => reject(new Error(`pg_restore --list of ${name} could not start: ${err.message}`)));
      child.on('close', (code, sig) => {
        count([partial]);
        if (code === 0) resolve(tableData);
        else reject(new Error(`pg_restore --list cannot read ${name}: ${(stderr || `${sig ?? `exit ${code}`}`).trim().slice(0, 300)}`));
      });
    });
    // A failed dump fails its listing too: the dump's error is the one reported, this one is not left unhandled.
    entries.catch(() => undefined);
    return { stdin: child.stdin, entries, stop: () => void (child.exitCode === null && child.signalCode === null && child.kill('SIGTERM')) };
  }

  /** The recorded source of an earlier attempt, when every object it names is in the store unchanged. */
  async function reusable<S extends BackupSource>(key: string, files: (s: S) => FileRef[]): Promise<SourceResult<S> | undefined> {
    if (!(await store.stat(key))) return undefined;
    const recorded = JSON.parse((await store.read(key)).toString('utf8')) as SourceResult<S>;
    for (const f of files(recorded.source)) {
      const now = await store.stat(f.key);
      if (!now || now.sha256 !== f.sha256 || now.bytes !== f.bytes) return undefined;
    }
    return { ...recorded, reused: true };
  }

  async function record<S extends BackupSource>(key: string, result: SourceResult<S>): Promise<SourceResult<S>> {
    await store.put(key, Buffer.from(JSON.stringify(result, null, 1)));
    return result;
  }

  function redisOf(target: string): Redis {
    return deps.redis(target);
  }

  const activities = {
    /** The service's data stores from the configuration; `stores` that the service has none of are refused. */
    async resolveBackupTargets(input: { service: string; stores: BackupStoreName[] }): Promise<BackupTargets> {
      const svc = deps.service(input.service);
      const t: BackupTargets = {
        service: input.service,
        postgres: input.stores.includes('postgres') ? svc.postgres : [],
        mongo: input.stores.includes('mongo') ? svc.mongo.map((m) => ({ target: m, database: deps.config.mongo[m]!.database })) : [],
        redis: input.stores.includes('redis') && svc.queue ? [svc.queue.redis] : [],
        location: store.location,
      };
      const missing = input.stores.filter((s) => (s === 'mongo' ? t.mongo : t[s]).length === 0);
      if (missing.length)
        throw new InvalidTargetError(
          `stores: service "${input.service}" has no ${missing.join(' or ')} target configured; leave ${missing.length > 1 ? 'them' : 'it'} out of "stores"`,
        );
      return t;
    },

    /**
     * pg_dump -Fc of a whole database, streamed into the store, with the rows and checksum of every table
     * taken in the same snapshot as the dump (an exported snapshot), so the manifest describes exactly the
     * data the dump holds even while the service writes. pg_restore --list reads the dump as it streams by,
     * not back from the store: the store hashes exactly the bytes it writes, and verifySet reads every object
     * back against that checksum before the set counts as verified.
     */
    async backupSetPostgres(input: SetInput & { target: string }): Promise<SourceResult<PostgresSource>> {
      const cfg = deps.config.postgres[input.target];
      if (!cfg) throw new InvalidTargetError(`postgres target "${input.target}" is not configured`);
      const rKey = sourceKey(input, 'postgres', input.target);
      const again = await reusable<PostgresSource>(rKey, (s) => [s.file]);
      if (again) {
        await withTempDir(async (dir) => {
          await store.download(again.source.file, path.join(dir, 'check.dump'));
          await pgRestoreList(path.join(dir, 'check.dump'));
        });
        return again;
      }
      const started = Date.now();
      const key = `${setPrefix(input.service, input.setId)}postgres/${input.target}.dump`;
      const database = decodeURIComponent(new URL(cfg.url).pathname.slice(1));
      const client = await deps.pg(input.target).connect();
      let file: FileRef;
      let tables: PostgresSource['tables'];
      let tableData: number;
      const software: Record<string, string> = {};
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const snap = await client.query<{ id: string; version: string }>(`SELECT pg_export_snapshot() AS id, current_setting('server_version') AS version`);
        software.postgresql = snap.rows[0]!.version;
        software.pg_dump = (await run(bin('pg_dump'), ['--version'])).stdout.trim();
        const conn = pgConnectionArgs(cfg.url);
        // spawn with an argument array (no shell): execFile would buffer the whole dump in memory.
        // --lock-wait-timeout: never queue behind a maintenance task's exclusive lock (readers would queue
        // behind us); fail, and the activity's retry tries again.
        const child = spawn(bin('pg_dump'), ['--format=custom', `--snapshot=${snap.rows[0]!.id}`, '--lock-wait-timeout=60000', ...conn.args], {
          env: { ...process.env, ...conn.env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
        const listing = pgRestoreListing(`the dump of ${input.target}`);
        const out = teeing(listing.stdin);
        child.stdout.pipe(out, { end: false });
        // The object is complete only if pg_dump says so: a failed dump never becomes a visible object.
        const exited = new Promise<Error | undefined>((resolve) => {
          child.on('close', (code, sig) =>
            resolve(code === 0 ? undefined : new Error(`pg_dump of ${input.target} failed (${sig ?? `exit ${code}`}): ${stderr.trim().slice(0, 500)}`)),
          );
          child.on('error', (err) => resolve(new Error(`pg_dump of ${input.target} could not start: ${err.message}`)));
        });
        void exited.then((failure) => (failure ? out.destroy(failure) : out.end()));
        // pg_dump may fail before the store reads `out`: its error is reported from `exited`, not as an unhandled event.
        out.on('error', () => undefined);
        const dumping = { step: 'dump', target: input.target, bytes: 0 };
        heartbeat(dumping);
        // Counted on pg_dump's side: a 'data' listener on `out` would start it flowing before the store reads it.
        child.stdout.on('data', (c: Buffer) => (dumping.bytes += c.length));
        const cancelled = cancellation();
        const kill = () => {
          child.kill('SIGTERM');
          listing.stop();
        };
        cancelled.addEventListener('abort', kill);
        try {
          // The rows and checksums are read in the same snapshot while pg_dump writes: two readers at once
          // instead of one after the other (the bench's backup row measures both).
          const inventory = postgresInventory(client);
          inventory.catch(() => undefined);
          file = await store.put(key, out).catch(async (err: Error) => {
            throw (await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))])) ?? err;
          });
          heartbeat({ step: 'inventory', target: input.target });
          tables = await inventory;
          heartbeat({ step: 'check', target: input.target });
          tableData = await listing.entries;
        } finally {
          cancelled.removeEventListener('abort', kill);
          if (child.exitCode === null) child.kill('SIGTERM');
          listing.stop();
        }
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
      }
      if (tables.length > 0 && tableData === 0)
        throw verificationFailed(`the dump of ${input.target} holds no table data although the database has ${tables.length} tables`);
      const source: PostgresSource = { store: 'postgres', target: input.target, database, file, tables, ms: Date.now() - started };
      return record(rKey, { source, software, reused: false });
    },

    /**
     * Every collection through the driver, in mongodump's layout under `mongo/<target>/`: `<db>/<coll>.bson`
     * (the documents' BSON as stored, concatenated, in _id order) and `<db>/<coll>.metadata.json` (options,
     * indexes, uuid, collectionName), so mongorestore --dir reads it. Counts and checksums are computed from
     * the very documents written.
     */
    async backupSetMongo(input: SetInput & { target: string }): Promise<SourceResult<MongoSource>> {
      const cfg = deps.config.mongo[input.target];
      if (!cfg) throw new InvalidTargetError(`mongo target "${input.target}" is not configured`);
      const rKey = sourceKey(input, 'mongo', input.target);
      const again = await reusable<MongoSource>(rKey, (s) => s.collections.flatMap((c) => [c.bson, c.metadata]));
      if (again) return again;
      const started = Date.now();
      const db = deps.mongo(input.target);
      const base = `${setPrefix(input.service, input.setId)}mongo/${input.target}/${cfg.database}/`;
      const info = (await db.admin().command({ buildInfo: 1 })) as { version?: string; ferretdbVersion?: string; ferretdb?: { version?: string } };
      const software: Record<string, string> = {
        [`mongo:${input.target}`]: `${info.version ?? '?'}${info.ferretdbVersion || info.ferretdb?.version ? ` (FerretDB ${info.ferretdbVersion ?? info.ferretdb?.version})` : ''}`,
      };
      const listed = new Map((await db.listCollections({}, { nameOnly: false }).toArray()).map((c) => [c.name, c]));
      const collections: MongoSource['collections'] = [];
      for (const name of await mongoCollections(db)) {
        const coll = db.collection(name);
        const h = createHash('sha256');
        let documents = 0;
        async function* docs(): AsyncGenerator<Buffer> {
          // raw: the stored BSON bytes, so every type (int32 vs double, decimals, binary subtypes) survives.
          for await (const raw of coll.find({}, { raw: true, sort: { _id: 1 } }) as AsyncIterable<unknown> as AsyncIterable<Buffer>) {
            const buf = Buffer.from(raw);
            h.update(documentText(BSON.deserialize(buf))).update('\n');
            if (++documents % 1000 === 0) heartbeat({ step: 'export', collection: name, documents });
            yield buf;
          }
        }
        heartbeat({ step: 'export', collection: name, documents });
        const bson = await store.put(`${base}${name}.bson`, Readable.from(docs()));
        const indexes = await coll.listIndexes().toArray();
        const meta = listed.get(name) as { options?: BSON.Document; info?: { uuid?: { toString(enc: 'hex'): string } } } | undefined;
        const uuid = meta?.info?.uuid ? Buffer.from(meta.info.uuid.toString('hex'), 'hex').toString('hex') : undefined;
        const metadata = await store.put(
          `${base}${name}.metadata.json`,
          Buffer.from(
            EJSON.stringify({ indexes, ...(uuid ? { uuid } : {}), collectionName: name, type: 'collection', options: meta?.options ?? {} }, { relaxed: false }),
          ),
        );
        collections.push({ name, documents, checksum: h.digest('hex'), indexes: indexes.length, bson, metadata });
      }
      const source: MongoSource = { store: 'mongo', target: input.target, database: cfg.database, collections, ms: Date.now() - started };
      return record(rKey, { source, software, reused: false });
    },

    /**
     * `rdb`: BGSAVE, wait until LASTSAVE moves, copy the RDB file (CONFIG GET dir/dbfilename: the server must
     * share this machine's disk). `keys`: DUMP and PTTL of every key under `prefix` (SCAN), one JSON line per
     * key, payloads in base64, so RESTORE can put them back under this or another prefix.
     */
    async backupSetRedis(input: SetInput & { target: string; mode: RedisBackupMode; prefix?: string }): Promise<SourceResult<RedisSource>> {
      if (!deps.config.redis[input.target]) throw new InvalidTargetError(`redis target "${input.target}" is not configured`);
      const rKey = sourceKey(input, 'redis', input.target);
      const again = await reusable<RedisSource>(rKey, (s) => [s.file]);
      if (again && again.source.mode === input.mode) return again;
      const started = Date.now();
      const redis = redisOf(input.target);
      const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
      const software = { [`redis:${input.target}`]: version };
      const setBase = setPrefix(input.service, input.setId);
      if (input.mode === 'rdb') {
        const before = await redis.lastsave();
        await redis.bgsave().catch((err: Error) => {
          // One already running is as good: LASTSAVE moves when it ends.
          if (!/in progress|already/i.test(err.message)) throw err;
        });
        let saved = before;
        while (saved <= before) {
          await new Promise((r) => setTimeout(r, 200));
          heartbeat({ step: 'bgsave', target: input.target });
          if (cancellation().aborted) throw new Error('cancelled while waiting for BGSAVE');
          saved = await redis.lastsave();
        }
        const status = /rdb_last_bgsave_status:(\S+)/.exec(await redis.info('persistence'))?.[1];
        if (status !== 'ok') throw new Error(`BGSAVE of ${input.target} failed (rdb_last_bgsave_status:${status}); see the server's log`);
        const [, dir] = (await redis.config('GET', 'dir')) as [string, string];
        const [, name] = (await redis.config('GET', 'dbfilename')) as [string, string];
        const file = await store.put(`${setBase}redis/${input.target}.rdb`, { file: path.join(dir, name) });
        // The keys are counted in the stored snapshot itself (redis-check-rdb also checks its structure and
        // checksum): INFO keyspace after the save counts what clients wrote since, not what the file holds.
        const checked = await withTempDir(async (d) => {
          await store.download(file, path.join(d, 'check.rdb'));
          if ((await readFile(path.join(d, 'check.rdb'))).subarray(0, 5).toString('latin1') !== 'REDIS') return undefined;
          return run('redis-check-rdb', [path.join(d, 'check.rdb')], { maxBuffer: 64 * 1024 * 1024 }).then(
            (r) => r.stdout,
            (err: Error & { stdout?: string }) => `FAILED ${err.stdout ?? err.message}`,
          );
        });
        if (checked === undefined) throw verificationFailed(`${file.key} does not start with the RDB signature "REDIS"`);
        const read = /(\d+) keys read/.exec(checked);
        if (checked.startsWith('FAILED') || !read)
          throw verificationFailed(`${file.key}: redis-check-rdb does not accept it: ${checked.trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`);
        // Keys already expired in the snapshot are not loaded by a server that reads it.
        const keys = Number(read[1]) - Number(/(\d+) already expired/.exec(checked)?.[1] ?? 0);
        const source: RedisSource = { store: 'redis', target: input.target, mode: 'rdb', file, keys, checksum: file.sha256, ms: Date.now() - started };
        return record(rKey, { source, software, reused: false });
      }
      const prefix = input.prefix ?? '';
      const keys = await redisKeys(redis, prefix);
      const skip = Buffer.byteLength(prefix, 'utf8');
      const h = createHash('sha256');
      let count = 0;
      async function* lines(): AsyncGenerator<string> {
        yield `${JSON.stringify({ format: 'redis-dump-keys/1', prefix, target: input.target })}\n`;
        for (let i = 0; i < keys.length; i += 500) {
          const batch = keys.slice(i, i + 500);
          const pipe = redis.pipeline();
          for (const k of batch) pipe.dumpBuffer(k).pttl(k);
          const res = (await pipe.exec()) ?? [];
          for (const [j, k] of batch.entries()) {
            const payload = res[2 * j]?.[1] as Buffer | null | undefined;
            const pttl = res[2 * j + 1]?.[1] as number | undefined;
            if (!payload) continue; // expired between SCAN and DUMP
            digestKey(h, k.subarray(skip), payload);
            count++;
            // A name that is not UTF-8 is written as `keyB64`: as a JSON string it would lose its bytes.
            yield `${JSON.stringify({ ...keyField(k), pttl: pttl !== undefined && pttl > 0 ? pttl : 0, dump: payload.toString('base64') })}\n`;
          }
          heartbeat({ step: 'dump', target: input.target, keys: count, of: keys.length });
        }
      }
      const file = await store.put(`${setBase}redis/${input.target}.keys.jsonl`, Readable.from(lines()));
      const source: RedisSource = {
        store: 'redis',
        target: input.target,
        mode: 'keys',
        ...(prefix ? { prefix } : {}),
        file,
        keys: count,
        checksum: h.digest('hex'),
        ms: Date.now() - started,
      };
      return record(rKey, { source, software, reused: false });
    },

    /** The manifest, written last: until it exists the set is incomplete. Verification sets `verified`. */
    async writeManifest(
      input: SetInput & { workflowId: string; startedAt: string; results: SourceResult[] },
    ): Promise<{ manifest: FileRef; totalBytes: number }> {
      const sources = input.results.map((r) => r.source);
      const files = sources.flatMap((s) => (s.store === 'mongo' ? s.collections.flatMap((c) => [c.bson, c.metadata]) : [s.file]));
      const manifest: BackupManifest = {
        version: 1,
        service: input.service,
        setId: input.setId,
        workflowId: input.workflowId,
        startedAt: input.startedAt,
        finishedAt: new Date().toISOString(),
        sources,
        totalBytes: files.reduce((n, f) => n + f.bytes, 0),
        software: Object.assign({ node: process.version }, ...input.results.map((r) => r.software)) as Record<string, string>,
        verified: false,
      };
      const ref = await store.put(manifestKey(input.service, input.setId), Buffer.from(JSON.stringify(manifest, null, 2)));
      return { manifest: ref, totalBytes: manifest.totalBytes };
    },

    /**
     * Reads every object of the set back through the store (checksums), checks each against the manifest
     * (pg_restore --list of the dumps; documents and digests of the .bson files; keys of the Redis file),
     * then marks the manifest verified. Fails naming every object that is wrong.
     */
    async verifySet(input: SetInput): Promise<VerifyResult> {
      const started = Date.now();
      const manifest = await readManifest(store, input.service, input.setId);
      if (!manifest) throw verificationFailed(`set ${input.service}/${input.setId} has no manifest: it is incomplete`);
      const byKey = new Map<string, { ref: FileRef; check?: (file: string) => Promise<string | undefined> }>();
      for (const s of manifest.sources) {
        if (s.store === 'postgres') {
          byKey.set(s.file.key, {
            ref: s.file,
            check: async (f) => {
              const n = await pgRestoreList(f);
              if (s.tables.length > 0 && n === 0) return 'no table data in the dump';
              return `${n} tables`;
            },
          });
        } else if (s.store === 'mongo') {
          for (const c of s.collections) {
            byKey.set(c.metadata.key, { ref: c.metadata });
            byKey.set(c.bson.key, {
              ref: c.bson,
              check: async (f) => {
                const got = await readBsonFile(f);
                if (got.documents !== c.documents || got.checksum !== c.checksum)
                  throw new Error(
                    `holds ${got.documents} documents (digest ${got.checksum.slice(0, 12)}), the manifest says ${c.documents} (${c.checksum.slice(0, 12)})`,
                  );
                return undefined;
              },
            });
          }
        } else {
          byKey.set(s.file.key, {
            ref: s.file,
            check: async (f) => {
              if (s.mode === 'rdb') {
                const head = (await readFile(f)).subarray(0, 5).toString('latin1');
                if (head !== 'REDIS') throw new Error('does not start with the RDB signature');
                return undefined;
              }
              const got = await readRedisKeysFile(f);
              if (got.keys !== s.keys || got.checksum !== s.checksum) throw new Error(`holds ${got.keys} keys, the manifest says ${s.keys}`);
              return undefined;
            },
          });
        }
      }
      const problems: string[] = [];
      const checks: string[] = [];
      let bytes = 0;
      const objects = await store.list(setPrefix(input.service, input.setId));
      for (const m of byKey.keys()) if (!objects.some((o) => o.key === m)) problems.push(`${m}: missing from the store`);
      await withTempDir(async (dir) => {
        for (const [i, o] of objects.entries()) {
          heartbeat({ step: 'verify', key: o.key, done: i, of: objects.length });
          const entry = byKey.get(o.key);
          const local = path.join(dir, `object-${i}`);
          try {
            await store.download(entry?.ref ?? o.key, local);
            bytes += o.bytes;
            const note = await entry?.check?.(local);
            if (note) checks.push(`${o.key.slice(setPrefix(input.service, input.setId).length)}: ${note}`);
          } catch (err) {
            problems.push(`${o.key}: ${(err as Error).message}`);
          } finally {
            await rm(local, { force: true });
          }
        }
      });
      if (problems.length) throw verificationFailed(`backup set ${input.service}/${input.setId} failed verification: ${problems.join('; ')}`);
      await store.put(manifestKey(input.service, input.setId), Buffer.from(JSON.stringify({ ...manifest, verified: true }, null, 2)));
      return { files: objects.length, bytes, ms: Date.now() - started, checks };
    },

    /**
     * Deletes the sets the retention policy lets go (config `backups.retention`, overridden per run). The
     * newest verified set is never deleted; incomplete sets are deleted once older than a day.
     */
    async applyRetention(input: { service: string; retention?: RetentionOverride; dryRun?: boolean }): Promise<RetentionResult> {
      const cfg = deps.config.backups.retention;
      const policy = {
        maxAge: input.retention?.maxAge ?? cfg.maxAge,
        keepDaily: input.retention?.keepDaily ?? cfg.keepDaily,
        keepWeekly: input.retention?.keepWeekly ?? cfg.keepWeekly,
      };
      const maxAgeMs = parseDuration(policy.maxAge);
      if (maxAgeMs === undefined) throw new InvalidTargetError(`retention.maxAge: "${policy.maxAge}" is not a duration such as "30d"`);
      const plan = planRetention(await listSets(store, input.service), { maxAgeMs, keepDaily: policy.keepDaily, keepWeekly: policy.keepWeekly }, Date.now());
      if (!input.dryRun) {
        for (const d of plan.delete) {
          heartbeat({ step: 'delete', setId: d.setId });
          await deleteSet(store, input.service, d.setId);
        }
      }
      return { ...plan, policy, dryRun: input.dryRun ?? false };
    },

    async listBackupSets(input: { service: string }): Promise<BackupSetSummary[]> {
      return listSets(store, input.service);
    },
  };
  return {
    ...activities,
    backupSetPostgres: beating(activities.backupSetPostgres.bind(activities)),
    backupSetMongo: beating(activities.backupSetMongo.bind(activities)),
    backupSetRedis: beating(activities.backupSetRedis.bind(activities)),
    verifySet: beating(activities.verifySet.bind(activities)),
    applyRetention: beating(activities.applyRetention.bind(activities)),
  };
}

/**
 * A pass-through that also writes what flows through it to `side`, at `side`'s pace, until `side` closes:
 * a reader of the stream's head (pg_restore --list reads a dump's table of contents, then exits) is never
 * overrun, and once it is gone the stream goes on without it. Not `pipe` to two destinations: a destination
 * destroyed while the source waits for its 'drain' can leave the source paused for good.
 */
function teeing(side: Writable): Transform {
  const open = () => !side.destroyed && !side.writableEnded;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (!open() || side.write(chunk)) return done(null, chunk);
      const go = () => {
        side.off('drain', go).off('close', go);
        done(null, chunk);
      };
      side.on('drain', go).on('close', go);
    },
    flush(done) {
      if (open()) side.end();
      done();
    },
  });
}

const progress = new AsyncLocalStorage<{ details: unknown }>();

function beat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Called outside an activity (a test calling the function directly): nothing to tell.
  }
}

/**
 * Heartbeats every 2s with the latest progress while `fn` runs: an inventory of a large table or a
 * pg_restore --list is one long call, and the heartbeat timeout (10s) must only catch a dead worker.
 */
function beating<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async function (...args: A): Promise<R> {
    const state = { details: undefined as unknown };
    beat(state.details);
    const timer = setInterval(() => beat(state.details), 2000);
    try {
      return await progress.run(state, () => fn(...args));
    } finally {
      clearInterval(timer);
    }
  };
}
