// Pre-change backups of MongoDB collections (seed 001 "Backup Current State": mongodump of reporttemplates
// and reportschedules): every document as canonical Extended JSON, one per line, so types (ObjectId, dates)
// survive a restore. Verified before anything changes: the file is read back and must hold as many
// documents as were written, and its checksum is recorded beside it. A retry reuses a verified file.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { BSON } from 'mongodb';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { withHeartbeat } from '../heartbeat';

const { EJSON } = BSON;

export interface MongoBackupInfo {
  target: string;
  file: string;
  bytes: number;
  sha256: string;
  /** Documents per collection. */
  documents: Record<string, number>;
  reused: boolean;
}

const safe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 150);

async function readBack(file: string): Promise<{ sha256: string; documents: Record<string, number> }> {
  const h = createHash('sha256');
  const documents: Record<string, number> = {};
  const stream = createReadStream(file);
  stream.on('data', (c) => h.update(c as Buffer));
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    if (!line) continue;
    const { collection } = EJSON.parse(line, { relaxed: false }) as { collection: string };
    documents[collection] = (documents[collection] ?? 0) + 1;
  }
  return { sha256: h.digest('hex'), documents };
}

export type MongoBackupActivities = ReturnType<typeof createMongoBackupActivities>;

export function createMongoBackupActivities(deps: Deps) {
  return {
    async backupMongoCollections(input: { target: string; collections: string[]; name: string }): Promise<MongoBackupInfo> {
      if (!deps.config.mongo[input.target]) throw new InvalidTargetError(`mongo target "${input.target}" is not configured`);
      const dir = path.resolve(deps.config.backups.dir);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, `${safe(`${input.name}-${input.target}`)}.ejson`);
      const sumFile = `${file}.sha256`;
      const existing = await readFile(sumFile, 'utf8').catch(() => undefined);
      if (existing) {
        const back = await readBack(file).catch(() => undefined);
        if (back && back.sha256 === existing.trim()) {
          return { target: input.target, file, bytes: (await stat(file)).size, sha256: back.sha256, documents: back.documents, reused: true };
        }
      }
      const tmp = `${file}.partial`;
      const db = deps.mongo(input.target);
      const written: Record<string, number> = {};
      await withHeartbeat(
        async () => {
          const out = createWriteStream(tmp, { mode: 0o600 });
          try {
            for (const collection of input.collections) {
              written[collection] = 0;
              for await (const doc of db.collection(collection).find({}).sort({ _id: 1 })) {
                const line = `${EJSON.stringify({ collection, doc }, { relaxed: false })}\n`;
                if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
                written[collection]++;
              }
            }
          } finally {
            await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
          }
        },
        () => ({ exporting: input.collections }),
      ).catch(async (err: Error) => {
        await rm(tmp, { force: true });
        throw new Error(`export of ${input.collections.join(', ')} from ${input.target} failed: ${err.message}`);
      });
      const back = await readBack(tmp);
      for (const c of input.collections) {
        if ((back.documents[c] ?? 0) !== written[c]) {
          throw new Error(`backup of ${c} is incomplete: wrote ${written[c]} documents, read back ${back.documents[c] ?? 0}; refusing to continue`);
        }
      }
      await chmod(tmp, 0o600);
      await rename(tmp, file);
      await writeFile(sumFile, `${back.sha256}\n`, { mode: 0o600 });
      return { target: input.target, file, bytes: (await stat(file)).size, sha256: back.sha256, documents: written, reused: false };
    },
  };
}
