// The S3 backup store on the stack's real S3 server (versitygw, component s3): what goes in comes out
// byte for byte with its sha256, corruption is caught on every read, keys cannot escape the store, and
// refused credentials say so without the secret. Each run works under its own prefix and removes it.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ChecksumMismatchError, InvalidKeyError, type BackupStore } from '../../activities/backups/contract';
import { createBackupStore } from '../../activities/backups/store';
import { createS3Store, s3Client, S3StoreError, type S3StoreOptions } from '../../activities/backups/store-s3';
import { ConfigError, parseConfig } from '../../config/load';
import { S3_BUCKET, S3_REGION } from '../../scripts/stack/components/s3';
import { HOST, PORTS } from '../../scripts/stack/paths';
import { loadSecrets } from '../../scripts/stack/secrets';

const secrets = loadSecrets();
const prefix = `test-${randomUUID().slice(0, 8)}`;
const options: S3StoreOptions = {
  endpoint: `http://${HOST}:${PORTS.s3}`,
  region: S3_REGION,
  bucket: S3_BUCKET,
  prefix,
  accessKeyId: secrets.S3_ACCESS_KEY,
  secretAccessKey: secrets.S3_SECRET_KEY,
};
const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let store: BackupStore;
let raw: S3Client;
let dir: string;

/** Every object key under our prefix, as the server has them (staging area included). */
async function objectsOnServer(): Promise<string[]> {
  const r = await raw.send(new ListObjectsV2Command({ Bucket: S3_BUCKET, Prefix: `${prefix}/` }));
  return (r.Contents ?? []).map((o) => o.Key!.slice(prefix.length + 1)).sort();
}

beforeAll(() => {
  store = createS3Store(options);
  raw = s3Client(options);
  dir = mkdtempSync(path.join(tmpdir(), 'rbt-s3-'));
});

afterAll(async () => {
  await store.deletePrefix('');
  expect(await objectsOnServer()).toEqual([]);
  raw.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('its location names the bucket, prefix and endpoint, never a credential', () => {
  expect(store.kind).toBe('s3');
  expect(store.location).toBe(`s3://${S3_BUCKET}/${prefix}/ at http://${HOST}:${PORTS.s3}`);
  expect(store.location).not.toContain(secrets.S3_SECRET_KEY);
  expect(store.location).not.toContain(secrets.S3_ACCESS_KEY);
});

test('a buffer goes in and comes back byte for byte, its sha256 recorded as object metadata', async () => {
  const data = randomBytes(100_000);
  const ref = await store.put('buf/one.bin', data);
  expect(ref).toEqual({ key: 'buf/one.bin', bytes: data.length, sha256: sha256(data) });
  expect(await store.stat('buf/one.bin')).toEqual(ref);
  expect(Buffer.compare(await store.read(ref), data)).toBe(0);
  expect(Buffer.compare(await store.read('buf/one.bin'), data)).toBe(0);
  const to = path.join(dir, 'one.bin');
  expect(await store.download(ref, to)).toEqual(ref);
  expect(Buffer.compare(readFileSync(to), data)).toBe(0);
  expect(await store.stat('buf/absent.bin')).toBeUndefined();
});

test('a 50 MB stream is uploaded in parts while hashed, and published under its key only with its checksum', async () => {
  const hash = createHash('sha256');
  let sent = 0;
  async function* source() {
    for (let i = 0; i < 50; i++) {
      const chunk = randomBytes(MiB);
      hash.update(chunk);
      sent += chunk.length;
      yield chunk;
    }
  }
  const ref = await store.put('stream/big.bin', Readable.from(source()));
  const want = hash.digest('hex');
  expect(ref).toEqual({ key: 'stream/big.bin', bytes: 50 * MiB, sha256: want });
  expect(sent).toBe(50 * MiB);
  // Nothing left in the staging area; the object carries its checksum on the server itself.
  expect(await objectsOnServer()).toEqual(['buf/one.bin', 'stream/big.bin']);
  expect(await store.stat('stream/big.bin')).toEqual(ref);
  const to = path.join(dir, 'big.bin');
  expect(await store.download(ref, to)).toEqual(ref);
  expect(sha256(readFileSync(to))).toBe(want);
  expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
});

test('a stream above the single-copy limit is published by a multipart copy', async () => {
  // Small limits so 12 MiB takes the path a dump above S3's 5 GiB copy limit takes.
  const small = createS3Store({ ...options, tuning: { partBytes: 5 * MiB, singleCopyMaxBytes: MiB, copyPartBytes: 5 * MiB } });
  const data = randomBytes(12 * MiB);
  const ref = await small.put('stream/parts.bin', Readable.from([data.subarray(0, 7 * MiB), data.subarray(7 * MiB)]));
  expect(ref).toEqual({ key: 'stream/parts.bin', bytes: data.length, sha256: sha256(data) });
  expect(Buffer.compare(await store.read(ref), data)).toBe(0);
  expect((await objectsOnServer()).filter((k) => k.startsWith('.incomplete'))).toEqual([]);
});

test('a stream that fails midway stores nothing, not even its staged part', async () => {
  async function* failing() {
    for (let i = 0; i < 20; i++) yield randomBytes(MiB);
    throw new Error('pg_dump exited with code 1');
  }
  const small = createS3Store({ ...options, tuning: { partBytes: 5 * MiB } });
  await expect(small.put('broken/dump.bin', Readable.from(failing()))).rejects.toThrow('pg_dump exited with code 1');
  expect(await store.stat('broken/dump.bin')).toBeUndefined();
  expect((await objectsOnServer()).filter((k) => k.startsWith('broken/') || k.startsWith('.incomplete'))).toEqual([]);
});

test('a local file that is not there fails the put with the file system error', async () => {
  await expect(store.put('files/absent', { file: path.join(dir, 'absent.dump') })).rejects.toThrow(/ENOENT.*absent\.dump/);
});

test('an endpoint nobody answers gives an error that says where', async () => {
  const srv = createServer();
  const port = await new Promise<number>((r) => srv.listen(0, HOST, () => r((srv.address() as { port: number }).port)));
  await new Promise((r) => srv.close(r));
  const down = createS3Store({ ...options, endpoint: `http://${HOST}:${port}` });
  await expect(down.list('')).rejects.toThrow(`ECONNREFUSED: is the S3 server at http://${HOST}:${port} running?`);
});

test('a local file goes in and downloads to an equal file', async () => {
  const data = randomBytes(3 * MiB + 17);
  const from = path.join(dir, 'local.dump');
  writeFileSync(from, data);
  const ref = await store.put('files/local.dump', { file: from });
  expect(ref).toEqual({ key: 'files/local.dump', bytes: data.length, sha256: sha256(data) });
  const to = path.join(dir, 'local.copy');
  await store.download(ref, to);
  expect(Buffer.compare(readFileSync(to), data)).toBe(0);
});

test('list gives the keys under a prefix, sorted, with sizes and checksums; deletePrefix removes exactly those', async () => {
  const put = (k: string) => store.put(`sets/${k}`, Buffer.from(k));
  const refs = await Promise.all(['a/2', 'a/1', 'a/b/3', 'ab/4'].map(put));
  const byKey = Object.fromEntries(refs.map((r) => [r.key, r]));
  expect(await store.list('sets/a/')).toEqual([byKey['sets/a/1'], byKey['sets/a/2'], byKey['sets/a/b/3']]);
  expect((await store.list('sets/')).map((r) => r.key)).toEqual(['sets/a/1', 'sets/a/2', 'sets/a/b/3', 'sets/ab/4']);
  expect(await store.list('nothing/')).toEqual([]);

  expect(await store.deletePrefix('sets/a/')).toBe(3);
  expect(await store.list('sets/')).toEqual([byKey['sets/ab/4']]);
  expect((await objectsOnServer()).filter((k) => k.startsWith('sets/'))).toEqual(['sets/ab/4']);
  expect(await store.deletePrefix('sets/')).toBe(1);
  expect(await store.deletePrefix('sets/')).toBe(0);
});

describe('an object changed behind the store', () => {
  let ref: Awaited<ReturnType<BackupStore['put']>>;
  beforeAll(async () => {
    ref = await store.put('tamper/dump.bin', randomBytes(2 * MiB));
    // Other bytes of the same size, keeping the recorded checksum: what bit rot or a careless hand does.
    await raw.send(new PutObjectCommand({ Bucket: S3_BUCKET, Key: `${prefix}/tamper/dump.bin`, Body: randomBytes(2 * MiB), Metadata: { sha256: ref.sha256 } }));
  });

  test('fails read with ChecksumMismatchError', async () => {
    await expect(store.read(ref)).rejects.toThrow(ChecksumMismatchError);
    await expect(store.read('tamper/dump.bin')).rejects.toThrow(/is corrupt: sha256 [0-9a-f]{64}, expected/);
  });

  test('fails download with ChecksumMismatchError and leaves no file, not even a partial one', async () => {
    const to = path.join(dir, 'tampered.bin');
    await expect(store.download(ref, to)).rejects.toThrow(ChecksumMismatchError);
    expect(existsSync(to)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('tampered'))).toEqual([]);
  });

  test('a reference whose checksum differs from the stored one is refused before any byte is written', async () => {
    const to = path.join(dir, 'other.bin');
    const other = { ...ref, sha256: '0'.repeat(64) };
    await expect(store.download(other, to)).rejects.toThrow(/stored checksum .* differs from the recorded 0{64}/);
    await expect(store.read(other)).rejects.toThrow(ChecksumMismatchError);
    expect(existsSync(to)).toBe(false);
  });

  test('an object written without a checksum is not read', async () => {
    await raw.send(new PutObjectCommand({ Bucket: S3_BUCKET, Key: `${prefix}/tamper/foreign.bin`, Body: 'hello' }));
    await expect(store.read('tamper/foreign.bin')).rejects.toThrow(/no recorded sha256/);
    expect(await store.stat('tamper/foreign.bin')).toBeUndefined();
    expect((await store.list('tamper/')).map((r) => r.key)).toEqual(['tamper/dump.bin']);
  });
});

describe('keys that could escape the store', () => {
  let server: Server;
  let requests = 0;
  let guarded: BackupStore;
  beforeAll(async () => {
    // A server that only counts: a refused key must never reach any S3 server.
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => server.listen(0, HOST, r));
    guarded = createS3Store({ ...options, endpoint: `http://${HOST}:${(server.address() as { port: number }).port}` });
  });
  afterAll(() => new Promise((r) => server.close(r)));

  const bad = ['../x', 'a/../../x', '/abs', 'a//b', 'a\\b', 'a/./b', 'tab\there', 'nul\u0000', 'del\u007f', '', '.incomplete/x'];
  test.each(bad.map((k) => [JSON.stringify(k), k]))('%s is refused with InvalidKeyError before any request', async (_name, key) => {
    const to = path.join(dir, 'never');
    await expect(guarded.put(key, Buffer.from('x'))).rejects.toThrow(InvalidKeyError);
    await expect(guarded.put(key, Readable.from([Buffer.from('x')]))).rejects.toThrow(InvalidKeyError);
    await expect(guarded.read(key)).rejects.toThrow(InvalidKeyError);
    await expect(guarded.download({ key, bytes: 1, sha256: '0'.repeat(64) }, to)).rejects.toThrow(InvalidKeyError);
    await expect(guarded.stat(key)).rejects.toThrow(InvalidKeyError);
    if (key !== '') {
      await expect(guarded.list(`${key}/`)).rejects.toThrow(InvalidKeyError);
      await expect(guarded.deletePrefix(`${key}/`)).rejects.toThrow(InvalidKeyError);
    }
    expect(requests).toBe(0);
    expect(existsSync(to)).toBe(false);
  });

  test('a prefix that escapes is refused when the store is made', () => {
    expect(() => createS3Store({ ...options, prefix: '../other' })).toThrow(InvalidKeyError);
  });
});

describe('refused credentials', () => {
  test.each([
    ['a wrong secret key', { secretAccessKey: `wrong-${randomUUID()}` }],
    ['an unknown access key', { accessKeyId: `unknown${randomUUID().slice(0, 8)}`, secretAccessKey: `wrong-${randomUUID()}` }],
  ])('%s gives an error that says so, without the secret', async (_name, creds) => {
    const wrong = createS3Store({ ...options, ...creds });
    const err = (await wrong.put('creds/x', Buffer.from('x')).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(S3StoreError);
    expect(err.message).toMatch(/refused the credentials .*check backups\.store\.accessKeyId and secretAccessKey/);
    const seen = `${err.message} ${err.stack ?? ''} ${JSON.stringify(err)}`;
    expect(seen).not.toContain(creds.secretAccessKey);
    expect(seen).not.toContain(secrets.S3_SECRET_KEY);
    expect(await store.stat('creds/x')).toBeUndefined();
  });
});

describe('configured as backups.store', () => {
  const raw = (store: Record<string, unknown>) => ({
    services: {},
    audit: { url: 'postgres://127.0.0.1:1/x' },
    backups: { dir: '.data/backups', store },
  });
  const s3Config = {
    kind: 's3',
    endpoint: options.endpoint,
    bucket: S3_BUCKET,
    prefix: `${prefix}/configured/`,
    accessKeyId: '${S3_ACCESS_KEY}',
    secretAccessKey: '${S3_SECRET_KEY}',
  };

  test('{ kind: "s3" } with ${VAR} credentials gives the S3 store, which round-trips', async () => {
    const config = parseConfig(raw(s3Config), { S3_ACCESS_KEY: secrets.S3_ACCESS_KEY, S3_SECRET_KEY: secrets.S3_SECRET_KEY });
    expect(config.backups.store).toMatchObject({ kind: 's3', region: 'us-east-1' });
    const configured = createBackupStore(config.backups);
    expect(configured.kind).toBe('s3');
    expect(createBackupStore(config.backups)).toBe(configured);
    const ref = await configured.put('x/y.json', Buffer.from('{"ok":true}'));
    expect((await store.read(`configured/${ref.key}`)).toString()).toBe('{"ok":true}');
  });

  test('without a store, or with { kind: "fs" }, backups go to a directory', () => {
    const none = parseConfig({ ...raw({ kind: 'fs' }), backups: { dir: '.data/backups' } }, {});
    expect(createBackupStore(none.backups)).toMatchObject({ kind: 'fs', location: path.resolve('.data/backups') });
    const fs = parseConfig(raw({ kind: 'fs', dir: dir }), {});
    expect(createBackupStore(fs.backups)).toMatchObject({ kind: 'fs', location: dir });
  });

  test.each([
    ['a missing secret', {}, /environment variable S3_ACCESS_KEY is not set/],
    ['credentials in the endpoint', { S3_ACCESS_KEY: 'k', S3_SECRET_KEY: 's', endpoint: 'http://k:s@127.0.0.1:59000' }, /http\(s\) URL without credentials/],
    ['a prefix that escapes', { S3_ACCESS_KEY: 'k', S3_SECRET_KEY: 's', prefix: '../other' }, /backups\.store\.prefix: must be a relative path/],
    ['a bucket name S3 refuses', { S3_ACCESS_KEY: 'k', S3_SECRET_KEY: 's', bucket: 'Not_A_Bucket' }, /backups\.store\.bucket: must be an S3 bucket name/],
  ])('%s is a configuration error', (_what, change, message) => {
    const { S3_ACCESS_KEY, S3_SECRET_KEY, ...fields } = change as Record<string, string>;
    const env = S3_ACCESS_KEY ? { S3_ACCESS_KEY, S3_SECRET_KEY } : {};
    expect(() => parseConfig(raw({ ...s3Config, ...fields }), env)).toThrow(ConfigError);
    expect(() => parseConfig(raw({ ...s3Config, ...fields }), env)).toThrow(message);
  });
});
