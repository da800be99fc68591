// Disaster recovery in place: the service's stores are gone (data directories lost, servers restarted
// empty) and are rebuilt from a verified backup set under their own names. Only a store that holds no data
// is ever written: a database that is missing or has tables/collections without a single row, a Redis
// prefix without a key. A store that holds data is left alone and reported (that is the restore runbook's
// job, with its safety backup). Each recovery marks what it creates as "in progress of run X", so a retry
// after a worker crash redoes its own half-restored store and never anything else.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { Redis } from 'ioredis';
import { escapeIdentifier, escapeLiteral, Pool } from 'pg';
import type { Deps } from '../deps';
import { InvalidTargetError, UnsafeOperationError } from '../errors';
import { withHeartbeat } from '../heartbeat';
import { type BackupManifest, type BackupSource, type BackupStore, type FileRef } from './contract';
import { postgresTables, redisKeys } from './inventory';
import {
  drillSet,
  loadMongoDump,
  parseKeyDump,
  pgRestoreDump,
  restoreKeyEntries,
  scratchRedis,
  withDatabase,
  type DrillSet,
  type KeyDumpEntry,
} from './restore';
import { latestVerifiedSet, listSets, readManifest } from './sets';
import { attempt, backupAccess, nonRetryableChecksum, sourceOf, withPg } from './access';

/** What one store of the set holds now. */
export interface StoreState {
  store: BackupSource['store'];
  target: string;
  /** The database, or the Redis prefix (`*` for a whole instance). */
  name: string;
  state: 'missing' | 'empty' | 'holds-data' | 'unreachable';
  /** For people: why this state, with counts. Never a password. */
  detail: string;
}

export interface RecoveryPlan {
  service: string;
  environment: string;
  set: DrillSet;
  /** Where the set's Redis keys were taken (keys mode), '' for every key. */
  redisPrefix: string;
  stores: StoreState[];
}

export type AssessResult = { found: true; plan: RecoveryPlan } | { found: false; why: string };

export interface RecoveredStore {
  store: BackupSource['store'];
  target: string;
  name: string;
  /** Tables, collections or keys. */
  items: number;
  /** Rows, documents or keys. */
  rows: number;
  indexes?: number;
  bytes: number;
  ms: number;
}

const MARK = 'disaster-recovery in progress';
const MARK_COLLECTION = '_disaster_recovery';

/** A connection error says nothing about data: the server is not back yet. */
function unreachable(err: unknown): string {
  const e = err as Error & { code?: string };
  return `${e.code ? `${e.code}: ` : ''}${e.message}`.replace(/:\/\/[^@/\s]*@/g, '://***@').slice(0, 300);
}

export type RecoveryActivities = ReturnType<typeof createRecoveryActivities>;

export function createRecoveryActivities(deps: Deps, openStore?: () => BackupStore) {
  const { store, bin, pgUrl } = backupAccess(deps, openStore);
  const adminUrl = (target: string): string => withDatabase(pgUrl(target), 'postgres');

  async function manifest(service: string, setId: string): Promise<BackupManifest> {
    const m = await readManifest(store(), service, setId).catch(nonRetryableChecksum);
    if (!m) throw new InvalidTargetError(`backup set ${setId} of ${service} has no manifest in ${store().location}`);
    return m;
  }

  /** Tables with at least one row (stops counting at the first); undefined: the database does not exist. */
  async function postgresState(target: string, database: string): Promise<{ exists: boolean; comment: string | null; tables: number; withRows: string[] }> {
    const row = await withPg(adminUrl(target), async (c) => {
      const { rows } = await c.query<{ comment: string | null }>(
        `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_catalog.pg_database WHERE datname = $1`,
        [database],
      );
      return rows[0];
    });
    if (!row) return { exists: false, comment: null, tables: 0, withRows: [] };
    const pool = new Pool({ connectionString: withDatabase(pgUrl(target), database), max: 1, connectionTimeoutMillis: 3000 });
    try {
      const tables = await postgresTables(pool);
      const withRows: string[] = [];
      for (const t of tables) {
        const dot = t.indexOf('.');
        const q = `SELECT EXISTS (SELECT 1 FROM ${escapeIdentifier(t.slice(0, dot))}.${escapeIdentifier(t.slice(dot + 1))}) AS any`;
        if ((await pool.query<{ any: boolean }>(q)).rows[0]!.any) withRows.push(t);
      }
      return { exists: true, comment: row.comment, tables: tables.length, withRows };
    } finally {
      await pool.end();
    }
  }

  async function mongoState(target: string, database: string): Promise<{ exists: boolean; collections: number; withDocs: string[]; ours?: string }> {
    const client = deps.mongoClient(target);
    const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
    if (!databases.some((d) => d.name === database)) return { exists: false, collections: 0, withDocs: [] };
    const db = client.db(database);
    const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => !n.startsWith('system.'));
    const mark = names.includes(MARK_COLLECTION) ? await db.collection(MARK_COLLECTION).findOne({}) : null;
    const withDocs: string[] = [];
    for (const n of names) if (n !== MARK_COLLECTION && (await db.collection(n).findOne({}, { projection: { _id: 1 } }))) withDocs.push(n);
    return { exists: true, collections: names.length, withDocs, ...(mark ? { ours: String(mark.workflowId) } : {}) };
  }

  async function anyKey(redis: Redis, prefix: string): Promise<boolean> {
    if (!prefix) return (await redis.dbsize()) > 0;
    let cursor = '0';
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length) return true;
      cursor = next;
    } while (cursor !== '0');
    return false;
  }

  async function assessSource(s: BackupSource): Promise<StoreState> {
    const base = { store: s.store, target: s.target };
    try {
      if (s.store === 'postgres') {
        const p = await postgresState(s.target, s.database);
        if (!p.exists) return { ...base, name: s.database, state: 'missing', detail: `database ${s.database} does not exist` };
        if (!p.withRows.length) return { ...base, name: s.database, state: 'empty', detail: `database ${s.database}: ${p.tables} table(s), none with a row` };
        return {
          ...base,
          name: s.database,
          state: 'holds-data',
          detail: `database ${s.database}: ${p.withRows.length} of ${p.tables} table(s) hold rows (${p.withRows.slice(0, 5).join(', ')})`,
        };
      }
      if (s.store === 'mongo') {
        const m = await mongoState(s.target, s.database);
        if (!m.exists) return { ...base, name: s.database, state: 'missing', detail: `database ${s.database} does not exist` };
        if (!m.withDocs.length)
          return { ...base, name: s.database, state: 'empty', detail: `database ${s.database}: ${m.collections} collection(s), no document` };
        return {
          ...base,
          name: s.database,
          state: 'holds-data',
          detail: `database ${s.database}: ${m.withDocs.length} collection(s) hold documents (${m.withDocs.slice(0, 5).join(', ')})`,
        };
      }
      const prefix = s.mode === 'keys' ? (s.prefix ?? '') : '';
      const name = prefix || '*';
      const has = await anyKey(deps.redis(s.target), prefix);
      return has
        ? { ...base, name, state: 'holds-data', detail: prefix ? `keys under ${prefix} exist` : 'the instance holds keys' }
        : { ...base, name, state: 'empty', detail: prefix ? `no key under ${prefix}` : 'the instance holds no key' };
    } catch (err) {
      const name = s.store === 'redis' ? (s.prefix ?? '*') : s.database;
      return { ...base, name, state: 'unreachable', detail: unreachable(err) };
    }
  }

  return {
    /** The newest verified set (or `setId`) and what each of its stores holds now. Read-only. */
    async assessRecovery(input: { service: string; setId?: string }): Promise<AssessResult> {
      const svc = deps.service(input.service);
      const s = store();
      const m = input.setId
        ? await readManifest(s, input.service, input.setId).catch(nonRetryableChecksum)
        : await latestVerifiedSet(s, input.service).catch(nonRetryableChecksum);
      if (!m) {
        const sets = await listSets(s, input.service);
        return {
          found: false,
          why: input.setId
            ? `backup set ${input.setId} of ${input.service} has no manifest in ${s.location} (missing or incomplete)`
            : `${input.service} has no verified backup set in ${s.location}${sets.length ? ` (${sets.length} set(s), none complete and verified)` : ''}: nothing to recover from`,
        };
      }
      const stores: StoreState[] = [];
      for (const src of m.sources) stores.push(await assessSource(src));
      const redis = m.sources.find((x) => x.store === 'redis');
      return {
        found: true,
        plan: {
          service: input.service,
          environment: svc.environment,
          set: drillSet(m),
          redisPrefix: redis && redis.store === 'redis' && redis.mode === 'keys' ? (redis.prefix ?? '') : '',
          stores,
        },
      };
    },

    /** Waits (heartbeating) until every named store's server answers; the servers may still be starting. */
    async waitForStores(input: {
      service: string;
      setId: string;
      stores: Array<{ store: BackupSource['store']; target: string }>;
      timeoutMs: number;
    }): Promise<StoreState[]> {
      const m = await manifest(input.service, input.setId);
      const until = Date.now() + input.timeoutMs;
      let states: StoreState[] = [];
      await withHeartbeat(
        async () => {
          for (;;) {
            states = [];
            for (const want of input.stores) states.push(await assessSource(sourceOf(m, want.store, want.target)));
            const down = states.filter((x) => x.state === 'unreachable');
            if (!down.length) return;
            if (Date.now() > until)
              throw ApplicationFailure.nonRetryable(
                `store(s) still unreachable after ${Math.round(input.timeoutMs / 1000)}s: ${down.map((d) => `${d.store} ${d.target} (${d.detail})`).join('; ')}`,
                'StoresUnreachable',
              );
            await new Promise((r) => setTimeout(r, 1000));
          }
        },
        () => ({ waiting: states.filter((x) => x.state === 'unreachable').map((x) => `${x.store} ${x.target}`) }),
      );
      return states;
    },

    /**
     * Creates the set's database on the target server and pg_restores the whole dump into it (schema,
     * rows, indexes, constraints) in one transaction, then ANALYZE. Refuses a database that holds rows.
     */
    async recoverPostgres(input: { service: string; setId: string; target: string; workflowId: string }): Promise<RecoveredStore> {
      const started = Date.now();
      const m = await manifest(input.service, input.setId);
      const src = sourceOf(m, 'postgres', input.target);
      const db = src.database;
      const mark = `${MARK}: run ${input.workflowId}, set ${input.setId}`;
      const now = await postgresState(input.target, db);
      if (now.exists) {
        const ours = now.comment?.startsWith(MARK) && now.comment.includes(`run ${input.workflowId},`);
        if (now.withRows.length && !ours)
          throw new UnsafeOperationError(
            `database ${db} on ${input.target} holds rows (${now.withRows.slice(0, 5).join(', ')}); disaster recovery writes only empty stores: use the restore runbook`,
          );
        if (now.comment?.startsWith(MARK) && !ours)
          throw new UnsafeOperationError(`database ${db} on ${input.target} is being recovered by another run (${now.comment})`);
      }
      await withPg(adminUrl(input.target), async (c) => {
        // Empty (no row anywhere) or this run's own half-restored copy: dropped and made again from the set.
        if (now.exists) await c.query(`DROP DATABASE ${escapeIdentifier(db)} WITH (FORCE)`);
        await c.query(`CREATE DATABASE ${escapeIdentifier(db)} TEMPLATE template0`);
        await c.query(`COMMENT ON DATABASE ${escapeIdentifier(db)} IS ${escapeLiteral(mark)}`);
      });
      const dir = await mkdtemp(path.join(tmpdir(), 'rbt-recover-'));
      try {
        const s = store();
        const file = await withHeartbeat(
          async () => {
            if (s.localFile) return s.localFile(src.file).catch(nonRetryableChecksum);
            const f = path.join(dir, path.basename(src.file.key));
            await s.download(src.file, f).catch(nonRetryableChecksum);
            return f;
          },
          () => ({ phase: 'downloading', key: src.file.key }),
        );
        await pgRestoreDump(bin('pg_restore'), withDatabase(pgUrl(input.target), db), file, { key: src.file.key, database: db });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      await withPg(withDatabase(pgUrl(input.target), db), (c) => c.query('ANALYZE'));
      await withPg(adminUrl(input.target), (c) =>
        c.query(`COMMENT ON DATABASE ${escapeIdentifier(db)} IS ${escapeLiteral(`recovered by ${input.workflowId} from backup set ${input.setId}`)}`),
      );
      return {
        store: 'postgres',
        target: input.target,
        name: db,
        items: src.tables.length,
        rows: src.tables.reduce((n, t) => n + t.rows, 0),
        bytes: src.file.bytes,
        ms: Date.now() - started,
      };
    },

    /** Every collection of the set into its database under its own name, with its indexes. Refuses a database holding documents. */
    async recoverMongo(input: { service: string; setId: string; target: string; workflowId: string }): Promise<RecoveredStore> {
      const started = Date.now();
      const m = await manifest(input.service, input.setId);
      const src = sourceOf(m, 'mongo', input.target);
      const now = await mongoState(input.target, src.database);
      const ours = now.ours === input.workflowId;
      if (now.withDocs.length && !ours)
        throw new UnsafeOperationError(
          `mongo database ${src.database} on ${input.target} holds documents (${now.withDocs.slice(0, 5).join(', ')}); disaster recovery writes only empty stores: use the restore runbook`,
        );
      if (now.ours && !ours) throw new UnsafeOperationError(`mongo database ${src.database} on ${input.target} is being recovered by run ${now.ours}`);
      const db = deps.mongoClient(input.target).db(src.database);
      // Empty collections (a service that re-created them at start) or this run's half-restored copy go first.
      if (now.exists) await db.dropDatabase();
      await db.collection(MARK_COLLECTION).insertOne({ workflowId: input.workflowId, setId: input.setId, at: new Date() });
      const dir = await mkdtemp(path.join(tmpdir(), 'rbt-recover-'));
      let loaded: { documents: number; indexes: number; bytes: number };
      try {
        loaded = await loadMongoDump(db, src, {
          download: async (ref: FileRef) => {
            const f = path.join(dir, path.basename(ref.key));
            await store().download(ref, f).catch(nonRetryableChecksum);
            return f;
          },
          read: (ref: FileRef) => store().read(ref).catch(nonRetryableChecksum),
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      await db.collection(MARK_COLLECTION).drop();
      return {
        store: 'mongo',
        target: input.target,
        name: src.database,
        items: src.collections.length,
        rows: loaded.documents,
        indexes: loaded.indexes,
        bytes: loaded.bytes,
        ms: Date.now() - started,
      };
    },

    /**
     * Keys mode: RESTORE of every key of the set under its own name with its recorded TTL. RDB mode: the
     * keys of the scratch redis-server that loaded the snapshot (restoreRedis of the drill), copied with
     * DUMP/RESTORE. Refuses when the prefix (or the instance) already holds a key, unless this run wrote it.
     */
    async recoverRedis(input: {
      service: string;
      setId: string;
      target: string;
      workflowId: string;
      fromScratch?: { port: number; dir: string };
    }): Promise<RecoveredStore> {
      const started = Date.now();
      const m = await manifest(input.service, input.setId);
      const src = sourceOf(m, 'redis', input.target);
      const redis = deps.redis(input.target);
      const prefix = src.mode === 'keys' ? (src.prefix ?? '') : '';
      if (attempt() === 1 && (await anyKey(redis, prefix)))
        throw new UnsafeOperationError(
          `redis ${input.target} holds keys ${prefix ? `under ${prefix}` : '(the whole instance)'}; disaster recovery writes only empty stores: use the restore runbook`,
        );
      let entries: KeyDumpEntry[];
      if (src.mode === 'keys') {
        entries = parseKeyDump(await store().read(src.file).catch(nonRetryableChecksum), src.file.key).entries;
      } else {
        if (!input.fromScratch)
          throw new InvalidTargetError(`set ${input.setId} holds an RDB snapshot of ${input.target}: load it into a scratch server first`);
        const from = await scratchRedis(input.fromScratch.dir, input.fromScratch.port);
        try {
          entries = [];
          for (const key of await redisKeys(from)) {
            const [payload, pttl] = await Promise.all([from.dumpBuffer(key), from.pttl(key)]);
            if (payload) entries.push({ key, pttl: pttl > 0 ? pttl : 0, payload });
          }
        } finally {
          from.disconnect();
        }
      }
      let restored = 0;
      await withHeartbeat(
        async () => {
          // REPLACE only on a retry: the first attempt found the prefix empty, so what is there is this run's.
          await restoreKeyEntries(redis, entries, { replace: attempt() > 1, where: `into ${input.target}`, onBatch: (n) => (restored += n) });
        },
        () => ({ restored, of: entries.length }),
      );
      return { store: 'redis', target: input.target, name: prefix || '*', items: restored, rows: restored, bytes: src.file.bytes, ms: Date.now() - started };
    },
  };
}
