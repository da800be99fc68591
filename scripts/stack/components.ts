// The servers of the local stack, each with how to tell it is up, how to start it and what to do once it
// is. `ensure` reuses a server that already answers (started by `npm start`, or an earlier test run).
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { Client as PgClient, escapeIdentifier } from 'pg';
import { LOCAL_NAMESPACES } from '../../temporal-config/connection';
import { setupTemporal } from '../../temporal-config/setup';
import { BIN, DATA, HOST, PORTS, ROOT, postgresDataDir, postgresOwner } from './paths';
import { logFile, portOpen, readPid, startProcess, stopProcess, waitFor } from './process';
import { loadSecrets, stackUrls, type StackSecrets } from './secrets';

export type ComponentName = 'postgres' | 'redis' | 'ferretdb' | 'temporal' | 'demo' | 'worker';

export interface Component {
  name: ComponentName;
  /** What a person uses to reach it. */
  address: string;
  ready(): Promise<boolean>;
  start(): Promise<void>;
  /** Runs after it is ready, whether started now or reused. */
  after?(): Promise<void>;
  startTimeoutMs: number;
}

async function pgQuery(url: string, sql: string, params: unknown[] = []): Promise<unknown[]> {
  const c = new PgClient({ connectionString: url, connectionTimeoutMillis: 2000 });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as unknown[];
  } finally {
    await c.end();
  }
}

export function stackEnv(s: StackSecrets): NodeJS.ProcessEnv {
  const urls = stackUrls(s);
  return {
    ...process.env,
    ...s,
    TEMPORAL_ADDRESS: urls.temporal,
    RUNBOOK_CONFIG: process.env.RUNBOOK_CONFIG ?? path.join(ROOT, 'config', 'local.json'),
    DEMO_PORT: String(PORTS.demo),
    DEMO_PG_URL: urls.pg('reports'),
    DEMO_REDIS_URL: urls.redis,
    DEMO_MONGO_URL: urls.mongo,
    WORKER_METRICS_ADDRESS: `${HOST}:${PORTS.workerMetrics}`,
    WORKER_SDK_METRICS_ADDRESS: `${HOST}:${PORTS.workerSdkMetrics}`,
  };
}

export function components(secrets: StackSecrets = loadSecrets()): Record<ComponentName, Component> {
  const urls = stackUrls(secrets);
  const tsx = ['--import', 'tsx'];

  const postgres: Component = {
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
          [
            '',
            '# set by scripts/stack (address and port are given on the command line)',
            'max_connections = 200',
            "log_min_messages = 'warning'",
            '',
          ].join('\n'),
        );
      }
      // Loopback TCP only, on the configured port (command-line settings win over postgresql.conf).
      const args = ['-D', dir, '-p', String(PORTS.postgres), '-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories='];
      startProcess('postgres', bin('postgres'), args, { cwd: path.dirname(dir), ...(owner ? { owner } : {}) });
    },
    async after() {
      for (const db of ['reports', 'runbooks']) {
        const rows = await pgQuery(urls.pgAdmin, 'SELECT 1 FROM pg_database WHERE datname = $1', [db]);
        if (rows.length === 0) await pgQuery(urls.pgAdmin, `CREATE DATABASE ${escapeIdentifier(db)}`);
      }
    },
  };

  const redis: Component = {
    name: 'redis',
    address: `${HOST}:${PORTS.redis}`,
    startTimeoutMs: 15_000,
    async ready() {
      if (!(await portOpen(PORTS.redis))) return false;
      const r = new Redis(urls.redis, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await r.connect();
        return (await r.ping()) === 'PONG';
      } finally {
        r.disconnect();
      }
    },
    async start() {
      const dir = path.join(DATA, 'redis');
      mkdirSync(dir, { recursive: true });
      const conf = path.join(dir, 'redis.conf');
      writeFileSync(
        conf,
        [`bind ${HOST}`, `port ${PORTS.redis}`, `dir ${dir}`, 'appendonly yes', 'save ""', 'protected-mode yes', `requirepass ${secrets.REDIS_PASSWORD}`, ''].join('\n'),
        { mode: 0o600 },
      );
      startProcess('redis', BIN.redis, [conf]);
    },
  };

  const ferretdb: Component = {
    name: 'ferretdb',
    address: `${HOST}:${PORTS.ferretdb}`,
    startTimeoutMs: 20_000,
    async ready() {
      if (!(await portOpen(PORTS.ferretdb))) return false;
      const m = new MongoClient(urls.mongo, { serverSelectionTimeoutMS: 1500 });
      try {
        await m.db('admin').command({ ping: 1 });
        return true;
      } finally {
        await m.close();
      }
    },
    async start() {
      const dir = path.join(DATA, 'ferretdb');
      mkdirSync(dir, { recursive: true });
      startProcess('ferretdb', BIN.ferretdb, [
        '--handler=sqlite',
        `--sqlite-url=file:${dir}/`,
        `--state-dir=${dir}`,
        `--listen-addr=${HOST}:${PORTS.ferretdb}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=warn',
      ]);
    },
  };

  const temporal: Component = {
    name: 'temporal',
    address: `${HOST}:${PORTS.temporal} (Web UI http://${HOST}:${PORTS.temporalUi})`,
    startTimeoutMs: 60_000,
    async ready() {
      if (!(await portOpen(PORTS.temporal)) || !(await portOpen(PORTS.temporalUi))) return false;
      const c = await Connection.connect({ address: urls.temporal, connectTimeout: 2000 });
      try {
        await c.workflowService.getSystemInfo({});
        return true;
      } finally {
        await c.close();
      }
    },
    async start() {
      const dir = path.join(DATA, 'temporal');
      mkdirSync(dir, { recursive: true });
      startProcess('temporal', BIN.temporal, [
        'server',
        'start-dev',
        '--db-filename',
        path.join(dir, 'temporal.db'),
        '--ip',
        HOST,
        '--port',
        String(PORTS.temporal),
        '--ui-ip',
        HOST,
        '--ui-port',
        String(PORTS.temporalUi),
        '--log-level',
        'warn',
        ...LOCAL_NAMESPACES.flatMap((ns) => ['--namespace', ns]),
      ]);
    },
    async after() {
      const c = await Connection.connect({ address: urls.temporal });
      try {
        await setupTemporal(c, LOCAL_NAMESPACES);
      } finally {
        await c.close();
      }
    },
  };

  const env = stackEnv(secrets);
  const demo: Component = {
    name: 'demo',
    address: `http://${HOST}:${PORTS.demo}`,
    startTimeoutMs: 30_000,
    ready: async () => (await portOpen(PORTS.demo)) && (await fetch(`http://${HOST}:${PORTS.demo}/health`)).status > 0,
    async start() {
      startProcess('demo', process.execPath, [...tsx, path.join(ROOT, 'demo', 'main.ts')], { env, cwd: ROOT });
    },
  };

  const worker: Component = {
    name: 'worker',
    address: `metrics http://${HOST}:${PORTS.workerMetrics}/metrics`,
    startTimeoutMs: 90_000,
    ready: async () => (await portOpen(PORTS.workerMetrics)) && (await fetch(`http://${HOST}:${PORTS.workerMetrics}/healthz`)).ok,
    async start() {
      startProcess('worker', process.execPath, [...tsx, path.join(ROOT, 'workers', 'main.ts')], { env, cwd: ROOT });
    },
  };

  return { postgres, redis, ferretdb, temporal, demo, worker };
}

export const ORDER: ComponentName[] = ['postgres', 'redis', 'ferretdb', 'temporal', 'demo', 'worker'];
export const SERVERS: ComponentName[] = ['postgres', 'redis', 'ferretdb', 'temporal'];

export interface EnsureReport {
  name: ComponentName;
  address: string;
  state: 'started' | 'reused';
  ms: number;
}

/** Makes sure each named component is up, starting the missing ones in order. */
export async function ensure(names: ComponentName[], onEvent: (r: EnsureReport) => void = () => undefined): Promise<EnsureReport[]> {
  const all = components();
  const reports: EnsureReport[] = [];
  for (const name of ORDER.filter((n) => names.includes(n))) {
    const c = all[name];
    const started = Date.now();
    let state: EnsureReport['state'] = 'reused';
    const up = await c.ready().catch(() => false);
    if (!up) {
      const pid = readPid(name);
      // A server of ours that is still starting (another `npm start` or test run) is waited for, not doubled.
      if (!pid) {
        await c.start();
        state = 'started';
      }
      try {
        await waitFor(name, () => c.ready(), c.startTimeoutMs, logFile(name));
      } catch (err) {
        // Do not leave a server behind that never became usable.
        if (state === 'started') await stopProcess(name, name === 'postgres' ? 'SIGINT' : 'SIGTERM');
        throw err;
      }
    }
    await c.after?.();
    const r = { name, address: c.address, state, ms: Date.now() - started };
    reports.push(r);
    onEvent(r);
  }
  return reports;
}

/** Stops the named components (reverse order), by their pid files. */
export async function stop(names: ComponentName[], onEvent: (name: ComponentName, how: string) => void = () => undefined): Promise<void> {
  for (const name of [...ORDER].reverse().filter((n) => names.includes(n))) {
    // Postgres: SIGINT is its "fast" shutdown (SIGTERM would wait for every client to leave).
    const how = await stopProcess(name, name === 'postgres' ? 'SIGINT' : 'SIGTERM', name === 'worker' ? 40_000 : 20_000);
    onEvent(name, how);
  }
}
