// The backup store in an S3-compatible bucket (AWS S3, versitygw, MinIO, Ceph...), path-style addressed.
// Each object carries its sha256 as user metadata (x-amz-meta-sha256). S3 takes metadata when an upload
// starts, before the data, so a stream of unknown content is uploaded to a staging key while it is hashed
// and then copied server-side to its key with the checksum: an object under a real key always has one.
// Buffers and local files are hashed first and uploaded once. Every read verifies the checksum (and the
// one the caller recorded), and a failed download leaves no file behind.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { checkKey, ChecksumMismatchError, InvalidKeyError, type BackupStore, type FileRef } from './contract';
import { hasher } from './hash';

export interface S3StoreOptions {
  /** http(s)://host:port of the S3 API. */
  endpoint: string;
  region: string;
  bucket: string;
  /** Folder of the bucket the store uses (`a/b`); default: the whole bucket. */
  prefix?: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Part sizes; the defaults suit backups, tests make them small to exercise multipart paths. */
  tuning?: { partBytes?: number; copyPartBytes?: number; singleCopyMaxBytes?: number };
}

/** An S3 request failed (refused credentials, missing bucket, unreachable endpoint). `code` is S3's error name. */
export class S3StoreError extends Error {
  override name = 'S3StoreError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Where an upload of unknown content waits for its checksum; not a key of the store. */
const STAGING = '.incomplete';
const MiB = 1024 * 1024;

/** An S3 client for an S3-compatible endpoint: path-style, explicit credentials (no lookup elsewhere), bounded waits. */
export function s3Client(o: Pick<S3StoreOptions, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey'>): S3Client {
  // The SDK warns on Node < 22 about its future releases; this project supports Node 20 (package.json
  // engines) and package-lock.json pins a release that runs on it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    endpoint: o.endpoint,
    region: o.region,
    forcePathStyle: true,
    credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
    // Checksums only where S3 requires them: not every S3-compatible server knows the newer ones.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 5000, socketTimeout: 120_000 },
    maxAttempts: 3,
  });
}

/** `src` through a hasher; an error of `src` fails the hasher too (pipe alone would leave it waiting). */
function hashing(src: Readable): ReturnType<typeof hasher> {
  const h = hasher();
  src.on('error', (err) => h.destroy(err));
  // A failed upload stops reading the hasher: the source (a file descriptor, a dump) is not left open.
  h.once('close', () => src.readableEnded || src.destroy());
  return src.pipe(h);
}

async function sha256OfFile(file: string): Promise<string> {
  const h = hasher();
  await pipeline(createReadStream(file), h, new Transform({ transform: (_c, _e, cb) => cb() }));
  return h.result().sha256;
}

// XAdminUserNotFound: versitygw's answer to an access key it does not know (S3 says InvalidAccessKeyId).
const AUTH_ERRORS = new Set([
  'InvalidAccessKeyId',
  'XAdminUserNotFound',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidSecurity',
  'ExpiredToken',
  'InvalidToken',
]);
const NOT_FOUND = new Set(['NotFound', 'NoSuchKey']);
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

export function createS3Store(opts: S3StoreOptions): BackupStore {
  const { bucket } = opts;
  const prefix = (opts.prefix ?? '').replace(/\/+$/, '');
  if (prefix !== '') checkKey(prefix);
  const root = prefix === '' ? '' : `${prefix}/`;
  const endpoint = new URL(opts.endpoint);
  // Whatever the endpoint carried besides where it is (user info, a query) stays out of messages.
  const where = `${endpoint.protocol}//${endpoint.host}${endpoint.pathname.replace(/\/$/, '')}`;
  const location = `s3://${bucket}/${root} at ${where}`;
  const partBytes = opts.tuning?.partBytes ?? 16 * MiB;
  const copyPartBytes = opts.tuning?.copyPartBytes ?? 512 * MiB;
  const singleCopyMaxBytes = opts.tuning?.singleCopyMaxBytes ?? 5 * 1024 * MiB;
  const client = s3Client(opts);

  /** An S3 failure as a message that says what to do; the SDK error (with its request) is not kept. */
  function failure(op: string, key: string, err: unknown): Error {
    if (err instanceof ChecksumMismatchError || err instanceof InvalidKeyError || err instanceof S3StoreError) return err;
    const e = err as Error & { Code?: string; code?: string; $metadata?: { httpStatusCode?: number } };
    // The SDK keeps a network error's code, except across realms (jest's sandbox), where only its text remains.
    const net = e.code ?? /\b(E[A-Z_]+)\b/.exec(e.message ?? '')?.[1] ?? '';
    const unreachable = NETWORK_ERRORS.has(net);
    // Not an S3 answer nor the network: the caller's own (a missing local file, a failing source stream).
    if (!e.$metadata && !unreachable) return e;
    const code = e.Code ?? (unreachable ? net : e.name || 'Error');
    const scrub = (s: string): string => [opts.secretAccessKey, opts.accessKeyId].reduce((acc, secret) => (secret ? acc.split(secret).join('***') : acc), s);
    const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : '';
    if (AUTH_ERRORS.has(code))
      return new S3StoreError(
        `${op} "${key}" in ${location}: the S3 server refused the credentials (${code}${status}); check backups.store.accessKeyId and secretAccessKey (S3_ACCESS_KEY/S3_SECRET_KEY on the local stack)`,
        code,
      );
    if (code === 'NoSuchBucket')
      return new S3StoreError(`${op} "${key}": bucket "${bucket}" does not exist at ${where}; create it or fix backups.store.bucket`, code);
    const why = unreachable ? `is the S3 server at ${where} running?` : scrub(e.message || code);
    return new S3StoreError(`${op} "${key}" in ${location} failed: ${code}${status}: ${why}`, code);
  }

  async function call<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw failure(op, key, err);
    }
  }

  /** The object key of a store key; keys in our staging area are refused. */
  const objectKey = (key: string): string => {
    checkKey(key);
    if (key === STAGING || key.startsWith(`${STAGING}/`))
      throw new InvalidKeyError(`backup key "${key.slice(0, 200)}" is in "${STAGING}/", where the s3 store keeps unfinished uploads`);
    return root + key;
  };

  const valid = (key: string): boolean => {
    try {
      return objectKey(key) !== undefined;
    } catch {
      return false;
    }
  };

  const checkPrefix = (p: string): string => {
    if (p !== '') objectKey(p.endsWith('/') ? p.slice(0, -1) : p);
    return root + p;
  };

  /** Size and recorded checksum; undefined when absent or written without one (not by a store). */
  async function head(key: string, k = objectKey(key)): Promise<FileRef | undefined> {
    try {
      const h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: k }));
      const sha256 = h.Metadata?.sha256;
      return sha256 ? { key, bytes: h.ContentLength ?? 0, sha256 } : undefined;
    } catch (err) {
      if (NOT_FOUND.has((err as Error).name)) return undefined;
      throw failure('stat', key, err);
    }
  }

  const mismatch = (key: string, want: string, got: string) =>
    new ChecksumMismatchError(`backup object "${key}" in ${location} is corrupt: sha256 ${got}, expected ${want}; do not restore from it`);

  /** Opens an object for reading, with the checksum it must have (its own, and the caller's when given). */
  async function open(ref: FileRef | string): Promise<{ key: string; sha256: string; body: Readable }> {
    const key = typeof ref === 'string' ? ref : ref.key;
    const k = objectKey(key);
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: k })).catch((err: unknown) => {
      if (NOT_FOUND.has((err as Error).name)) throw new S3StoreError(`backup object "${key}" is not in ${location}`, 'NoSuchKey');
      throw failure('read', key, err);
    });
    const body = got.Body as Readable;
    const sha256 = got.Metadata?.sha256;
    const refuse = (err: Error): never => {
      body.destroy();
      throw err;
    };
    if (!sha256) refuse(new ChecksumMismatchError(`backup object "${key}" in ${location} has no recorded sha256: it was not written by the backup store`));
    if (typeof ref !== 'string' && ref.sha256 !== sha256)
      refuse(new ChecksumMismatchError(`backup object "${key}" in ${location}: its stored checksum ${sha256} differs from the recorded ${ref.sha256}`));
    return { key, sha256: sha256!, body };
  }

  async function upload(key: string, body: Readable | Buffer, sha256: string | undefined): Promise<void> {
    const up = new Upload({
      client,
      params: { Bucket: bucket, Key: key, Body: body, ...(sha256 ? { Metadata: { sha256 } } : {}) },
      partSize: partBytes,
      queueSize: 4,
      leavePartsOnError: false,
    });
    try {
      await up.done();
    } catch (err) {
      if (body instanceof Readable) body.destroy();
      throw err;
    }
  }

  /** Server-side copy of a staged object to its key with the checksum; multipart above S3's 5 GiB copy limit. */
  async function publish(from: string, to: string, bytes: number, sha256: string): Promise<void> {
    const source = `${bucket}/${from.split('/').map(encodeURIComponent).join('/')}`;
    if (bytes <= singleCopyMaxBytes) {
      await client.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: source, MetadataDirective: 'REPLACE', Metadata: { sha256 } }));
      return;
    }
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: to, Metadata: { sha256 } }));
    try {
      const parts: Array<{ ETag: string; PartNumber: number }> = [];
      for (let start = 0, n = 1; start < bytes; start += copyPartBytes, n++) {
        const end = Math.min(start + copyPartBytes, bytes) - 1;
        const r = await client.send(
          new UploadPartCopyCommand({ Bucket: bucket, Key: to, UploadId, PartNumber: n, CopySource: source, CopySourceRange: `bytes=${start}-${end}` }),
        );
        parts.push({ ETag: r.CopyPartResult!.ETag!, PartNumber: n });
      }
      await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId })).catch(() => undefined);
      throw err;
    }
  }

  /** Object keys under a full prefix, outside the staging area, sorted (S3 lists in byte order). */
  async function keysUnder(full: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: full, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key && !o.Key.startsWith(`${root}${STAGING}/`)) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  return {
    kind: 's3',
    location,

    put: (key, body) =>
      call('put', key, async () => {
        const k = objectKey(key);
        if (Buffer.isBuffer(body)) {
          const sha256 = createHash('sha256').update(body).digest('hex');
          await upload(k, body, sha256);
          await confirm(key, k, sha256);
          return { key, bytes: body.length, sha256 };
        }
        if (!(body instanceof Readable)) {
          // Hashed before and again while it is sent: a file that changes meanwhile is not stored under a wrong checksum.
          const sha256 = await sha256OfFile(body.file);
          const h = hashing(createReadStream(body.file));
          await upload(k, h, sha256);
          const sent = h.result();
          if (sent.sha256 !== sha256) {
            await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
            throw new ChecksumMismatchError(`local file ${body.file} changed while it was uploaded to "${key}"; nothing was stored`);
          }
          await confirm(key, k, sha256);
          return { key, bytes: sent.bytes, sha256 };
        }
        const staged = `${root}${STAGING}/${randomUUID()}`;
        try {
          const h = hashing(body);
          await upload(staged, h, undefined);
          const { sha256, bytes } = h.result();
          await publish(staged, k, bytes, sha256);
          await confirm(key, k, sha256);
          return { key, bytes, sha256 };
        } finally {
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: staged })).catch(() => undefined);
        }
      }),

    async download(ref, toFile) {
      const key = typeof ref === 'string' ? ref : ref.key;
      const want = await open(ref);
      const tmp = `${toFile}.tmp-${randomUUID().slice(0, 8)}`;
      const h = hasher();
      try {
        await pipeline(want.body, h, createWriteStream(tmp, { mode: 0o600 })).catch((err: unknown) => {
          throw failure('download', key, err);
        });
        const got = h.result();
        if (got.sha256 !== want.sha256) throw mismatch(key, want.sha256, got.sha256);
        await rename(tmp, toFile);
        return { key, bytes: got.bytes, sha256: got.sha256 };
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },

    async read(ref) {
      const key = typeof ref === 'string' ? ref : ref.key;
      const want = await open(ref);
      const chunks: Buffer[] = [];
      try {
        for await (const c of want.body) chunks.push(c as Buffer);
      } catch (err) {
        throw failure('read', key, err);
      }
      const data = Buffer.concat(chunks);
      const got = createHash('sha256').update(data).digest('hex');
      if (got !== want.sha256) throw mismatch(key, want.sha256, got);
      return data;
    },

    stat: head,

    list: (p) =>
      call('list', p, async () => {
        // Objects someone put there under keys the store would refuse are not the store's.
        const keys = (await keysUnder(checkPrefix(p))).map((k) => k.slice(root.length)).filter((k) => valid(k));
        // S3 lists no user metadata: one HEAD per object, a few at a time.
        const refs = new Array<FileRef | undefined>(keys.length);
        let next = 0;
        const worker = async (): Promise<void> => {
          for (let i = next++; i < keys.length; i = next++) refs[i] = await head(keys[i]!, root + keys[i]!);
        };
        await Promise.all(Array.from({ length: Math.min(8, keys.length) }, worker));
        return refs.filter((r): r is FileRef => r !== undefined);
      }),

    deletePrefix: (p) =>
      call('deletePrefix', p, async () => {
        const keys = await keysUnder(checkPrefix(p));
        let n = 0;
        for (let i = 0; i < keys.length; i += 1000) {
          const batch = keys.slice(i, i + 1000);
          const r = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
          if (r.Errors?.length) {
            const e = r.Errors[0]!;
            throw new S3StoreError(
              `deletePrefix "${p}" in ${location}: ${r.Errors.length} objects not deleted, e.g. "${e.Key}": ${e.Code} ${e.Message ?? ''}`,
              e.Code ?? 'Error',
            );
          }
          n += batch.length;
        }
        return n;
      }),
  };

  /** The object as S3 now has it carries our checksum (some servers drop metadata on copy). */
  async function confirm(key: string, k: string, sha256: string): Promise<void> {
    const h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: k }));
    if (h.Metadata?.sha256 !== sha256)
      throw new S3StoreError(`put "${key}" in ${location}: the server did not keep the sha256 metadata (got ${h.Metadata?.sha256 ?? 'none'})`, 'MetadataLost');
  }
}
