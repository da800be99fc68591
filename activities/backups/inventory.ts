// What a data store holds, as counts and order-independent digests: recorded in a backup's manifest and
// computed again on a restored copy, so "the restore is complete" is a comparison, not a belief. The same
// function on equal data gives equal results, whatever the physical order or the server it runs on.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { BSON, type Db } from 'mongodb';
import { escapeIdentifier, type Pool, type PoolClient } from 'pg';
import type { CollectionInventory, TableInventory } from './contract';

const { EJSON } = BSON;

const EMPTY = createHash('md5').update('').digest('hex');

/** Every user table (`schema.table`), sorted: what a whole-database dump holds. */
export async function postgresTables(pool: Pool | PoolClient): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
      ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

function quoted(table: string): string {
  const dot = table.indexOf('.');
  if (dot <= 0) throw new Error(`table "${table}" is not a schema.table name`);
  return `${escapeIdentifier(table.slice(0, dot))}.${escapeIdentifier(table.slice(dot + 1))}`;
}

/**
 * Rows and a checksum per table. The checksum is computed in SQL: md5 of each row's text form, sorted, then
 * md5 of them joined, so neither the physical order nor the client changes it. `tables`: only those
 * (`schema.table`); default every user table. A client inside a transaction gives that snapshot's view.
 */
export async function postgresInventory(pool: Pool | PoolClient, tables?: string[]): Promise<TableInventory[]> {
  const names = tables ? [...tables].sort() : await postgresTables(pool);
  const out: TableInventory[] = [];
  for (const name of names) {
    const { rows } = await pool.query<{ rows: string; checksum: string | null }>(
      `SELECT count(*)::bigint AS rows, md5(string_agg(h, '' ORDER BY h)) AS checksum
         FROM (SELECT md5(t::text) AS h FROM ${quoted(name)} t) s`,
    );
    out.push({ name, rows: Number(rows[0]!.rows), checksum: rows[0]!.checksum ?? EMPTY });
  }
  return out;
}

/** Collections of a database, sorted (views and system collections are not data of their own). */
export async function mongoCollections(db: Db): Promise<string[]> {
  const list = await db.listCollections({}, { nameOnly: false }).toArray();
  return list
    .filter((c) => (c as { type?: string }).type !== 'view' && !c.name.startsWith('system.'))
    .map((c) => c.name)
    .sort();
}

/** Digest of one document as canonical Extended JSON (types kept: an ObjectId never equals its hex string). */
export function documentText(doc: unknown): string {
  return EJSON.stringify(doc, { relaxed: false });
}

/** Documents, a digest of their canonical EJSON in _id order, and the number of indexes, per collection. */
export async function mongoInventory(db: Db, collections?: string[]): Promise<CollectionInventory[]> {
  const names = collections ? [...collections].sort() : await mongoCollections(db);
  const out: CollectionInventory[] = [];
  for (const name of names) {
    const coll = db.collection(name);
    const h = createHash('sha256');
    let documents = 0;
    for await (const doc of coll.find({}).sort({ _id: 1 })) {
      h.update(documentText(doc));
      h.update('\n');
      documents++;
    }
    const indexes = (await coll.listIndexes().toArray()).length;
    out.push({ name, documents, checksum: h.digest('hex'), indexes });
  }
  return out;
}

/**
 * Keys under `prefix`, as the bytes of their names (a name need not be UTF-8: as a string it would come back
 * with U+FFFD and name no key), sorted by bytes, found with SCAN (never KEYS: it blocks the server).
 */
export async function redisKeys(redis: Redis, prefix = ''): Promise<Buffer[]> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  const keys = new Map<string, Buffer>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1000);
    for (const k of batch) keys.set(k.toString('latin1'), k);
    cursor = next.toString();
  } while (cursor !== '0');
  return [...keys.values()].sort((a, b) => Buffer.compare(a, b));
}

/** The name as a string when its bytes are valid UTF-8 (the string encodes back to the same bytes). */
export function keyText(key: Buffer): string | undefined {
  const text = key.toString('utf8');
  return Buffer.from(text, 'utf8').equals(key) ? text : undefined;
}

/** A key name for messages: the text when it is UTF-8, else its bytes in base64. */
export function keyLabel(key: Buffer): string {
  const text = keyText(key);
  return text ?? `base64:${key.toString('base64')} (not UTF-8)`;
}

/** Whether a key's name starts with `prefix` (compared as bytes). */
export function keyHasPrefix(key: Buffer, prefix: string | Buffer): boolean {
  const p = typeof prefix === 'string' ? Buffer.from(prefix, 'utf8') : prefix;
  return key.length >= p.length && key.subarray(0, p.length).equals(p);
}

/**
 * The name fields of a `redis-dump-keys/1` line: `key` when the name is UTF-8 (as every file written before
 * names that are not had), else `keyB64`, its bytes in base64.
 */
export function keyField(key: Buffer): { key: string } | { keyB64: string } {
  const text = keyText(key);
  return text !== undefined ? { key: text } : { keyB64: key.toString('base64') };
}

/** The name bytes of a parsed `redis-dump-keys/1` line, or undefined when it has neither field. */
export function keyOfLine(o: Record<string, unknown>): Buffer | undefined {
  if (typeof o.keyB64 === 'string') return Buffer.from(o.keyB64, 'base64');
  if (typeof o.key === 'string') return Buffer.from(o.key, 'utf8');
  return undefined;
}

/** The per-key framing of the Redis digest: equal names (after the prefix) and payloads, equal digest. */
export function digestKey(h: ReturnType<typeof createHash>, name: Buffer, payload: Buffer): void {
  h.update(`${name.length}:`).update(name).update(`${payload.length}:`).update(payload);
}

/**
 * Keys under `prefix` and a digest of each key (without the prefix, so a copy restored under another
 * prefix compares equal) with its DUMP payload, in key order. Expiry times are left out: they move.
 */
export async function redisInventory(redis: Redis, prefix = ''): Promise<{ keys: number; checksum: string }> {
  const keys = await redisKeys(redis, prefix);
  const skip = Buffer.byteLength(prefix, 'utf8');
  const h = createHash('sha256');
  let count = 0;
  for (let i = 0; i < keys.length; i += 500) {
    const batch = keys.slice(i, i + 500);
    const pipe = redis.pipeline();
    for (const k of batch) pipe.dumpBuffer(k);
    const results = (await pipe.exec()) ?? [];
    batch.forEach((k, j) => {
      const [err, payload] = results[j] ?? [];
      if (err || payload === null || payload === undefined) return; // expired between SCAN and DUMP
      digestKey(h, k.subarray(skip), payload as Buffer);
      count++;
    });
  }
  return { keys: count, checksum: h.digest('hex') };
}
