// S3: versitygw, an S3-compatible server, with its posix backend (a bucket is a folder, an object a file,
// its metadata extended attributes) under .data/s3. It holds backup sets when backups.store is
// { kind: 's3' }, and the backup store tests run on it. Loopback only; the root credentials come from the
// stack secrets through its environment, never its command line (which any local user can read).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../../../activities/backups/store-s3';
import type { Component, StackContext } from '../component';
import { BIN, DATA, HOST, PORTS, ROOT } from '../paths';
import { portOpen, startProcess } from '../process';

/** The bucket created at start: where the stack's backup sets (and the tests' own prefixes) go. */
export const S3_BUCKET = 'runbook-backups';
export const S3_REGION = 'us-east-1';

export function s3({ secrets, urls }: StackContext): Component<'s3'> {
  return {
    name: 's3',
    address: `${urls.s3}   (bucket ${S3_BUCKET}, keys S3_ACCESS_KEY/S3_SECRET_KEY in ${path.relative(ROOT, path.join(DATA, 'secrets.env'))})`,
    startTimeoutMs: 15_000,
    async ready() {
      if (!(await portOpen(PORTS.s3))) return false;
      return (await fetch(`${urls.s3}/health`, { signal: AbortSignal.timeout(2000) })).ok;
    },
    async start() {
      const dir = path.join(DATA, 's3', 'data');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      startProcess('s3', BIN.versitygw, ['--port', `${HOST}:${PORTS.s3}`, '--region', S3_REGION, '--health', '/health', '--quiet', 'posix', dir], {
        env: { ...process.env, ROOT_ACCESS_KEY: secrets.S3_ACCESS_KEY, ROOT_SECRET_KEY: secrets.S3_SECRET_KEY },
      });
    },
    async after() {
      const client = s3Client({ endpoint: urls.s3, region: S3_REGION, accessKeyId: secrets.S3_ACCESS_KEY, secretAccessKey: secrets.S3_SECRET_KEY });
      try {
        await client.send(new CreateBucketCommand({ Bucket: S3_BUCKET }));
      } catch (err) {
        const name = (err as Error).name;
        // Created by an earlier start: what we want.
        if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return;
        if (['XAdminUserNotFound', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied'].includes(name))
          throw new Error(
            `the S3 server on ${urls.s3} refuses S3_ACCESS_KEY/S3_SECRET_KEY of .data/secrets.env (${name}): it was started with other keys; stop it (npm stop) and start the stack again`,
          );
        throw err;
      } finally {
        client.destroy();
      }
    },
  };
}
