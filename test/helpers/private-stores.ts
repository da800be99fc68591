// Private PostgreSQL and FerretDB servers for tests that destroy a store's data directory (disaster
// recovery): their own data directories on free loopback ports, never the shared stack's. `lose()` is the
// disaster: the server is killed, its data directory deleted, and it is started again empty.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { Client as PgClient } from 'pg';
import { BIN, HOST, postgresOwner } from '../../scripts/stack/paths';

export interface PrivateStore {
  port: number;
  dataDir: string;
  /** Connection URL (Postgres: of `database`). */
  url(database?: string): string;
  /** Kill the server, delete its data directory, start it again empty. */
  lose(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function until(what: string, ms: number, probe: () => Promise<unknown>): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      await probe();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${what} did not come up in ${ms} ms: ${(last as Error)?.message}`);
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

function handle(
  port: number,
  dataDir: string,
  base: string,
  url: PrivateStore['url'],
  start: () => Promise<void>,
  child: () => ChildProcess | undefined,
): PrivateStore {
  return {
    port,
    dataDir,
    url,
    async lose() {
      await kill(child());
      rmSync(dataDir, { recursive: true, force: true });
      await start();
    },
    async stop() {
      await kill(child());
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** A private PostgreSQL cluster (initdb) under /var/tmp (the postgres user must reach it when we are root). */
export async function privatePostgres(): Promise<PrivateStore> {
  const owner = postgresOwner();
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  mkdirSync('/var/tmp/temporal-runbooks', { recursive: true, mode: 0o755 });
  const base = mkdtempSync('/var/tmp/temporal-runbooks/dr-test-');
  const dataDir = path.join(base, 'pgdata');
  let child: ChildProcess | undefined;
  const bin = (t: string) => path.join(BIN.pgDir, t);
  const ids = owner ? { uid: owner.uid, gid: owner.gid } : {};
  if (owner) chownSync(base, owner.uid, owner.gid);

  const start = async () => {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pw = path.join(base, 'pw');
    writeFileSync(pw, `${password}\n`, { mode: 0o600 });
    if (owner) {
      chownSync(dataDir, owner.uid, owner.gid);
      chownSync(pw, owner.uid, owner.gid);
    }
    const init = spawnSync(
      bin('initdb'),
      ['-D', dataDir, '-U', 'postgres', '--auth-host=scram-sha-256', '--auth-local=peer', `--pwfile=${pw}`, '-E', 'UTF8', '--no-instructions'],
      {
        encoding: 'utf8',
        cwd: base,
        ...ids,
      },
    );
    rmSync(pw, { force: true });
    if (init.status !== 0) throw new Error(`initdb: ${init.stderr}`);
    child = spawn(bin('postgres'), ['-D', dataDir, '-p', String(port), '-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories=', '-c', 'fsync=off'], {
      cwd: base,
      stdio: 'ignore',
      ...ids,
    });
    await until(`private postgres on ${port}`, 30_000, async () => {
      const c = new PgClient({ connectionString: url('postgres'), connectionTimeoutMillis: 1000 });
      await c.connect();
      await c.end();
    });
  };
  const url = (database = 'postgres') => `postgres://postgres:${password}@${HOST}:${port}/${database}`;
  await start();
  return handle(port, dataDir, base, url, start, () => child);
}

/** A private FerretDB over its own SQLite directory. */
export async function privateFerretDB(): Promise<PrivateStore> {
  const port = await freePort();
  const base = mkdtempSync(path.join(tmpdir(), 'rbt-dr-ferret-'));
  const dataDir = path.join(base, 'data');
  let child: ChildProcess | undefined;
  const url = () => `mongodb://${HOST}:${port}/`;
  const start = async () => {
    mkdirSync(dataDir, { recursive: true });
    child = spawn(
      BIN.ferretdb,
      [
        '--handler=sqlite',
        `--sqlite-url=file:${dataDir}/`,
        `--state-dir=${dataDir}`,
        `--listen-addr=${HOST}:${port}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=error',
      ],
      { stdio: 'ignore' },
    );
    await until(`private ferretdb on ${port}`, 20_000, async () => {
      const m = new MongoClient(url(), { serverSelectionTimeoutMS: 1000 });
      try {
        await m.db('admin').command({ ping: 1 });
      } finally {
        await m.close();
      }
    });
  };
  await start();
  return handle(port, dataDir, base, url, start, () => child);
}
