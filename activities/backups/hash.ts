// A pass-through stream that hashes (sha256) and counts what flows through it: both stores use it to
// record an object's checksum while writing it and to check it while reading it.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export type Hasher = Transform & { result(): { sha256: string; bytes: number } };

export function hasher(): Hasher {
  const h = createHash('sha256');
  let bytes = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  }) as Hasher;
  t.result = () => ({ sha256: h.digest('hex'), bytes });
  return t;
}
