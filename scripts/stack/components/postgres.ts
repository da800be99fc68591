// PostgreSQL: the demo's `reports` database and the runbooks' own `runbooks` database (audit store).
import { appendFileSync, chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client as PgClient, escapeIdentifier } from 'pg';
import type { Component, StackContext } from '../component';
import { BIN, HOST, PORTS, postgresDataDir, postgresOwner } from '../paths';
import { portOpen, startProcess } from '../process';

async function pgQuery(url: string, sql: string, params: unknown[] = []): Promise<unknown[]> {
  const c = new PgClient({ connectionString: url, connectionTimeoutMillis: 2000 });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as unknown[];
  } finally {
    await c.end();
  }
}

export function postgres({ secrets, urls }: StackContext): Component<'postgres'> {
  return {
    name: 'postgres',
    address: `${HOST}:${PORTS.postgres}`,
    startTimeoutMs: 30_000,
    ready: async () => (await portOpen(PORTS.postgres)) && (await pgQuery(urls.pgAdmin, 'SELECT 1')).length === 1,
    async start() {
      const dir = postgresDataDir();
      const owner = postgresOwner();
      const bin = (t: string): string => path.join(BIN.pgDir, t);
      if (!existsSync(path.join(dir, 'PG_VERSION'))) {
        // Parents must be enterable by the postgres user; the cluster itself is private to it.
        mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const pw = path.join(path.dirname(dir), '.initdb-pw');
        rmSync(pw, { force: true });
        // 'wx': create, never follow or overwrite something already there.
        writeFileSync(pw, `${secrets.PG_PASSWORD}\n`, { mode: 0o600, flag: 'wx' });
        if (owner) {
          chownSync(dir, owner.uid, owner.gid);
          chownSync(pw, owner.uid, owner.gid);
        }
        const { spawnSync } = await import('node:child_process');
        const init = spawnSync(
          bin('initdb'),
          ['-D', dir, '-U', 'postgres', '--auth-host=scram-sha-256', '--auth-local=peer', `--pwfile=${pw}`, '-E', 'UTF8', '--no-instructions'],
          // cwd: the checkout may be where the postgres user cannot enter (e.g. under /root).
          { encoding: 'utf8', cwd: path.dirname(dir), ...(owner ? { uid: owner.uid, gid: owner.gid } : {}) },
        );
        rmSync(pw, { force: true });
        if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
        appendFileSync(
          path.join(dir, 'postgresql.conf'),
          ['', '# set by scripts/stack (address and port are given on the command line)', 'max_connections = 200', "log_min_messages = 'warning'", ''].join(
            '\n',
          ),
        );
      }
      // Loopback TCP only, on the configured port (command-line settings win over postgresql.conf).
      // pg_stat_statements preloaded: the weekly health check reads slow statements (seed 002) where a
      // database has the extension (reports does; a test database creates it when it wants it).
      const args = [
        ...['-D', dir, '-p', String(PORTS.postgres), '-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories='],
        ...['-c', 'shared_preload_libraries=pg_stat_statements'],
      ];
      startProcess('postgres', bin('postgres'), args, { cwd: path.dirname(dir), ...(owner ? { owner } : {}) });
    },
    async after() {
      for (const db of ['reports', 'runbooks']) {
        const rows = await pgQuery(urls.pgAdmin, 'SELECT 1 FROM pg_database WHERE datname = $1', [db]);
        if (rows.length === 0) await pgQuery(urls.pgAdmin, `CREATE DATABASE ${escapeIdentifier(db)}`);
      }
      // Only where the server preloads it (a cluster started by an older checkout does not until restarted).
      const preload = await pgQuery(urls.pgAdmin, `SELECT current_setting('shared_preload_libraries') AS libs`);
      if (String((preload[0] as { libs?: string } | undefined)?.libs ?? '').includes('pg_stat_statements')) {
        await pgQuery(urls.pg('reports'), 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      }
    },
  };
}
