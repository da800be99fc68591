// The backup store in a local directory. Each object is a file with its sha256 beside it (`<file>.sha256`,
// in sha256sum's format, so `sha256sum -c` works there too). A write goes to a temporary file that is
// renamed into place, checksum last: an object without its checksum does not exist for readers. Every read
// checks the checksum (and the one the caller recorded), and a failed download leaves no file behind.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkKey, ChecksumMismatchError, InvalidKeyError, type BackupStore, type FileRef } from './contract';
import { hasher } from './hash';

const SUM = '.sha256';
const TMP = '.tmp-';

export function createFsStore(dir: string): BackupStore {
  const root = path.resolve(dir);

  /** The file of a key; keys that would collide with our own sidecar or temporary files are refused. */
  const fileOf = (key: string): string => {
    checkKey(key);
    const last = key.slice(key.lastIndexOf('/') + 1);
    if (last.endsWith(SUM) || last.includes(TMP))
      throw new InvalidKeyError(`backup key "${key.slice(0, 200)}" ends in "${SUM}" or contains "${TMP}": the fs store uses those names itself`);
    return path.join(root, ...key.split('/'));
  };

  const checkPrefix = (prefix: string): void => {
    if (prefix === '') return;
    checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  };

  async function recorded(file: string): Promise<string | undefined> {
    const text = await readFile(file + SUM, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    return text?.trim().split(/\s+/)[0];
  }

  async function statKey(key: string): Promise<FileRef | undefined> {
    const file = fileOf(key);
    const sha256 = await recorded(file);
    if (!sha256) return undefined;
    const st = await stat(file).catch(() => undefined);
    return st?.isFile() ? { key, bytes: st.size, sha256 } : undefined;
  }

  /** The checksum a read must match: the stored one, and the caller's (a manifest's) when given. */
  async function expected(ref: FileRef | string): Promise<{ key: string; sha256: string }> {
    const key = typeof ref === 'string' ? ref : ref.key;
    const file = fileOf(key);
    const sha256 = await recorded(file);
    if (!sha256) throw new Error(`backup object "${key}" is not in ${root} (no file with its checksum)`);
    if (typeof ref !== 'string' && ref.sha256 !== sha256)
      throw new ChecksumMismatchError(`backup object "${key}": its stored checksum ${sha256} differs from the recorded ${ref.sha256}`);
    return { key, sha256 };
  }

  const mismatch = (key: string, want: string, got: string) =>
    new ChecksumMismatchError(`backup object "${key}" is corrupt: sha256 ${got}, expected ${want}; do not restore from it`);

  /** Every file below `dirPath`, as paths relative to the root with `/`. */
  async function walk(dirPath: string): Promise<string[]> {
    const entries = await readdir(dirPath, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
      throw err;
    });
    const out: string[] = [];
    for (const e of entries) {
      const p = path.join(dirPath, e.name);
      if (e.isDirectory()) out.push(...(await walk(p)));
      else if (e.isFile()) out.push(path.relative(root, p).split(path.sep).join('/'));
    }
    return out;
  }

  /** The directory to walk for a prefix: its last complete folder. */
  const baseOf = (prefix: string): string => {
    const slash = prefix.lastIndexOf('/');
    return slash < 0 ? root : path.join(root, ...prefix.slice(0, slash).split('/'));
  };

  return {
    kind: 'fs',
    location: root,

    async put(key, body) {
      const file = fileOf(key);
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}${TMP}${randomUUID().slice(0, 8)}`;
      const h = hasher();
      try {
        const source = Buffer.isBuffer(body) ? Readable.from([body]) : body instanceof Readable ? body : createReadStream(body.file);
        await pipeline(source, h, createWriteStream(tmp, { mode: 0o600 }));
        await chmod(tmp, 0o600);
        const { sha256, bytes } = h.result();
        await writeFile(`${tmp}${SUM}`, `${sha256}  ${path.basename(file)}\n`, { mode: 0o600 });
        // Data first, then its checksum: until the checksum is in place, readers do not see the object.
        await rm(file + SUM, { force: true });
        await rename(tmp, file);
        await rename(`${tmp}${SUM}`, file + SUM);
        return { key, bytes, sha256 };
      } catch (err) {
        await rm(tmp, { force: true });
        await rm(`${tmp}${SUM}`, { force: true });
        throw err;
      }
    },

    async download(ref, toFile) {
      const want = await expected(ref);
      const tmp = `${toFile}${TMP}${randomUUID().slice(0, 8)}`;
      const h = hasher();
      try {
        await pipeline(createReadStream(fileOf(want.key)), h, createWriteStream(tmp, { mode: 0o600 }));
        const got = h.result();
        if (got.sha256 !== want.sha256) throw mismatch(want.key, want.sha256, got.sha256);
        await rename(tmp, toFile);
        return { key: want.key, bytes: got.bytes, sha256: got.sha256 };
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },

    async localFile(ref) {
      const want = await expected(ref);
      const file = fileOf(want.key);
      const h = hasher();
      await pipeline(createReadStream(file), h, new Writable({ write: (_c: Buffer, _e: BufferEncoding, done: () => void) => done() }));
      const got = h.result();
      if (got.sha256 !== want.sha256) throw mismatch(want.key, want.sha256, got.sha256);
      return file;
    },

    async read(ref) {
      const want = await expected(ref);
      const data = await readFile(fileOf(want.key));
      const got = createHash('sha256').update(data).digest('hex');
      if (got !== want.sha256) throw mismatch(want.key, want.sha256, got);
      return data;
    },

    stat: statKey,

    async list(prefix) {
      checkPrefix(prefix);
      const out: FileRef[] = [];
      for (const rel of (await walk(baseOf(prefix))).sort()) {
        if (!rel.startsWith(prefix) || rel.endsWith(SUM) || rel.includes(TMP)) continue;
        const ref = await statKey(rel);
        if (ref) out.push(ref);
      }
      return out;
    },

    async deletePrefix(prefix) {
      checkPrefix(prefix);
      const base = baseOf(prefix);
      let n = 0;
      // Checksums first: an object being deleted stops existing for readers before its data goes.
      const files = (await walk(base)).filter((rel) => rel.startsWith(prefix));
      for (const rel of files.filter((r) => r.endsWith(SUM))) await rm(path.join(root, rel), { force: true });
      for (const rel of files.filter((r) => !r.endsWith(SUM))) {
        await rm(path.join(root, rel), { force: true });
        if (!rel.includes(TMP)) n++;
      }
      // Folders left empty by the deletion (never the root).
      const dirs = [...new Set(files.map((rel) => path.dirname(path.join(root, rel))))].sort((a, b) => b.length - a.length);
      for (let d of dirs) {
        while (d.startsWith(root + path.sep) && d.length > base.length - 1) {
          const removed = await rmdir(d).then(
            () => true,
            () => false,
          );
          if (!removed) break;
          d = path.dirname(d);
        }
      }
      return n;
    },
  };
}
