// Pre-change backups with pg_dump (custom format), verified before any change may proceed: pg_restore must
// read its table of contents and find the tables, and the checksum is recorded beside the file. Names are
// deterministic, so a retried backup reuses a verified file instead of dumping again.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Deps } from '../deps';
import { Context } from '@temporalio/activity';
import { withHeartbeat } from '../heartbeat';
import { InvalidTargetError } from '../errors';

const run = promisify(execFile);

/** A verified dump: restorable (pg_restore read its contents), with its checksum beside it. */
export interface BackupInfo {
  database: string;
  file: string;
  bytes: number;
  sha256: string;
  tables: number;
  /** True when a verified file from an earlier attempt was reused instead of dumping again. */
  reused: boolean;
}

export function pgConnectionArgs(url: string): { args: string[]; env: Record<string, string> } {
  const u = new URL(url);
  const args = ['--host', u.hostname, '--port', u.port || '5432', '--dbname', decodeURIComponent(u.pathname.slice(1))];
  if (u.username) args.push('--username', decodeURIComponent(u.username));
  // The password goes through the environment of the child only: never argv (visible in ps) or logs.
  return { args, env: u.password ? { PGPASSWORD: decodeURIComponent(u.password) } : {} };
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A file name from any run name; long names keep a hash of the whole so two runs never share a file. */
export function safeFileName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '_');
  return safe.length <= 180 ? safe : `${safe.slice(0, 150)}-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}

export type BackupActivities = ReturnType<typeof createBackupActivities>;

export function createBackupActivities(deps: Deps) {
  const bin = (tool: string): string => (deps.config.backups.pgBinDir ? path.join(deps.config.backups.pgBinDir, tool) : tool);

  async function verify(file: string): Promise<{ tables: number }> {
    const { stdout } = await run(bin('pg_restore'), ['--list', file], { maxBuffer: 64 * 1024 * 1024 });
    const tables = stdout.split('\n').filter((l) => / TABLE DATA /.test(l)).length;
    return { tables };
  }

  return {
    /** `tables` ('schema.table'): dump only those (a pre-rollback backup of what it touches); default the whole database. */
    async backupPostgres(input: { database: string; name: string; tables?: string[] }): Promise<BackupInfo> {
      for (const t of input.tables ?? []) {
        if (!/^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$/.test(t)) throw new InvalidTargetError(`tables: "${t}" is not a schema.table name`);
      }
      const target = deps.config.postgres[input.database];
      if (!target) throw new InvalidTargetError(`postgres target "${input.database}" is not configured`);
      const dir = path.resolve(deps.config.backups.dir);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // The database is part of the name: the same run name for another database never reuses this dump.
      const file = path.join(dir, `${safeFileName(`${input.name}-${input.database}`)}.dump`);
      const sumFile = `${file}.sha256`;

      const existing = await readFile(sumFile, 'utf8').catch(() => undefined);
      if (existing) {
        const sum = await sha256(file).catch(() => '');
        if (sum && sum === existing.trim()) {
          const { tables } = await verify(file);
          return { database: input.database, file, bytes: (await stat(file)).size, sha256: sum, tables, reused: true };
        }
      }

      // One temp file per attempt: a pg_dump orphaned by a killed worker must not write into the retry's file.
      const attempt = Context.current().info.attempt;
      const tmp = `${file}.partial-${attempt}`;
      // Partial files of earlier attempts (a killed worker) are never used: remove them.
      for (let i = 1; i < attempt; i++) await rm(`${file}.partial-${i}`, { force: true });
      const conn = pgConnectionArgs(target.url);
      await withHeartbeat(
        (signal) =>
          run(bin('pg_dump'), ['--format=custom', '--no-owner', '--file', tmp, ...(input.tables ?? []).flatMap((t) => ['--table', t]), ...conn.args], {
            env: { ...process.env, ...conn.env },
            maxBuffer: 16 * 1024 * 1024,
            signal,
          }),
        () => ({ dumping: input.database }),
      ).catch(async (err: Error & { stderr?: string }) => {
        await rm(tmp, { force: true });
        throw new Error(`pg_dump of ${input.database} failed: ${(err.stderr || err.message).trim().slice(0, 500)}`);
      });
      const { tables } = await verify(tmp);
      if (tables === 0) throw new Error(`backup of ${input.database} holds no table data; refusing to continue`);
      const sum = await sha256(tmp);
      // A dump holds the whole database: readable by the worker's user only, whatever the folder allows.
      await chmod(tmp, 0o600);
      await rename(tmp, file);
      await writeFile(sumFile, `${sum}\n`, { mode: 0o600 });
      return { database: input.database, file, bytes: (await stat(file)).size, sha256: sum, tables, reused: false };
    },
  };
}
