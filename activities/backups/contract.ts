// The shapes every backup, restore, drill and recovery step agrees on: the backup store port, the keys
// a backup set is written under, and its manifest. Types and pure helpers only (no I/O), so workflows may
// import the types and tests may use the helpers directly.
import type { Readable } from 'node:stream';

/** A file in the store, as the manifest records it; every read is checked against `sha256`. */
export interface FileRef {
  key: string;
  bytes: number;
  sha256: string;
}

/**
 * Where backup sets live: a directory (default) or an S3-compatible bucket. Writes are atomic (an object
 * is visible only once complete) and record the sha256; reads verify it and fail with ChecksumMismatchError.
 * Keys are relative, `/`-separated, checked by `checkKey` (nothing may escape the store).
 */
export interface BackupStore {
  readonly kind: 'fs' | 's3';
  /** For people: the directory or `s3://bucket/prefix` at `endpoint`. Never contains a secret. */
  readonly location: string;
  /** Writes a whole object from a stream, a buffer or a local file; returns its size and sha256. */
  put(key: string, body: Readable | Buffer | { file: string }): Promise<FileRef>;
  /** A verified copy in a local file (for pg_restore and the like); the checksum is checked before it returns. */
  download(ref: FileRef | string, toFile: string): Promise<FileRef>;
  /**
   * A directory store only: the object's own path, its checksum checked first, to be read in place (no
   * copy). Stores without local files leave it out; callers then `download`.
   */
  localFile?(ref: FileRef | string): Promise<string>;
  /** The whole object, verified. For small objects (manifests, metadata). */
  read(ref: FileRef | string): Promise<Buffer>;
  /** Size and recorded sha256, or undefined when absent. */
  stat(key: string): Promise<FileRef | undefined>;
  /** Keys under a prefix (`a/b/`), sorted. */
  list(prefix: string): Promise<FileRef[]>;
  /** Deletes every key under a prefix; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
}

export class InvalidKeyError extends Error {
  override name = 'InvalidKeyError';
}
export class ChecksumMismatchError extends Error {
  override name = 'ChecksumMismatchError';
}

/** Refuses a key that could escape the store or mean something else on some store: returns it unchanged. */
export function checkKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 900)
    throw new InvalidKeyError(`backup key must be 1-900 characters: "${String(key).slice(0, 80)}"`);
  if (key.startsWith('/') || key.includes('\\') || /[\u0000-\u001f\u007f]/.test(key))
    throw new InvalidKeyError(`backup key "${key.slice(0, 200)}" is not a relative path of plain characters`);
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..')
      throw new InvalidKeyError(`backup key "${key.slice(0, 200)}" has an empty, "." or ".." segment: it could escape the store`);
  }
  return key;
}

/** Backup sets of a service: `<service>/<set id>/…`; the manifest is written last, so a set without one is incomplete. */
export const setPrefix = (service: string, setId: string): string => checkKey(`${service}/${setId}`) + '/';
export const manifestKey = (service: string, setId: string): string => `${setPrefix(service, setId)}manifest.json`;

/** Set ids sort by time: `20261126T031500Z-<8 hex of the run>` (in common/, so the backup workflow names its set too). */
export { setIdOf } from '../../common/backup-set-id';

export interface TableInventory {
  /** `schema.table` */
  name: string;
  rows: number;
  /** Order-independent digest of every row's text form: equal data, equal checksum. */
  checksum: string;
}

export interface CollectionInventory {
  name: string;
  documents: number;
  /** Digest of every document's canonical extended JSON, in _id order. */
  checksum: string;
  indexes: number;
}

export interface PostgresSource {
  store: 'postgres';
  target: string;
  database: string;
  /** pg_dump -Fc of the whole database. */
  file: FileRef;
  tables: TableInventory[];
  ms: number;
}

export interface MongoSource {
  store: 'mongo';
  target: string;
  database: string;
  /** mongodump's layout: `<db>/<collection>.bson` and `<db>/<collection>.metadata.json` (with the indexes). */
  collections: Array<CollectionInventory & { bson: FileRef; metadata: FileRef }>;
  ms: number;
}

export interface RedisSource {
  store: 'redis';
  target: string;
  /** `rdb`: BGSAVE's snapshot of the whole instance; `keys`: DUMP of every key under `prefix`. */
  mode: 'rdb' | 'keys';
  prefix?: string;
  file: FileRef;
  keys: number;
  /** Digest of the sorted keys with their DUMP payloads (mode keys), or of the RDB file (mode rdb). */
  checksum: string;
  ms: number;
}

export type BackupSource = PostgresSource | MongoSource | RedisSource;

export interface BackupManifest {
  version: 1;
  service: string;
  setId: string;
  /** The workflow run that wrote it. */
  workflowId: string;
  startedAt: string;
  finishedAt: string;
  sources: BackupSource[];
  totalBytes: number;
  /** Server and tool versions the set was made with (pg_dump, PostgreSQL, FerretDB/MongoDB, Redis, Node). */
  software: Record<string, string>;
  /** Every file was read back and matched its checksum, and the dumps were readable (pg_restore --list). */
  verified: boolean;
}
