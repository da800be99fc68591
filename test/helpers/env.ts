// A private world per test file on the shared real servers: its own Postgres database (seeded with the
// demo schema and the audit table), Mongo database, Redis key prefix, demo service, webhook sink, Temporal
// task queue and worker. Nothing is mocked; cleanup drops what it made.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { Redis } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { Client as PgClient, Pool, escapeIdentifier } from 'pg';
import { createDeps, type Deps } from '../../activities';
import { parseConfig } from '../../config/load';
import type { Config, ConfigInput } from '../../config/schema';
import { startMailSink, type MailSink } from '../../demo/mail-sink';
import { startDemo, type DemoService } from '../../demo/server';
import { HOST, PORTS } from '../../scripts/stack/paths';
import { createRunbookWorker } from '../../workers/create-worker';
import { RunbookMetrics } from '../../workers/metrics';
import type { MaintenanceWindowInput } from '../../workflows/maintenance-window/contract';

export const NAMESPACE = 'runbooks-test';
export const TEMPORAL_ADDRESS = `${HOST}:${PORTS.temporal}`;

export function pgUrl(db: string): string {
  return `postgres://postgres:${encodeURIComponent(process.env.TEST_PG_PASSWORD ?? '')}@${HOST}:${PORTS.postgres}/${db}`;
}
export const redisUrl = (): string => `redis://:${encodeURIComponent(process.env.TEST_REDIS_PASSWORD ?? '')}@${HOST}:${PORTS.redis}/0`;
export const mongoUrl = `mongodb://${HOST}:${PORTS.ferretdb}/`;

export interface Notification {
  headers: Record<string, string | string[] | undefined>;
  body: { key: string; audience: string; severity: string; title: string; text: string; workflowId: string };
}

export interface TestEnv {
  id: string;
  dbName: string;
  pool: Pool;
  redis: Redis;
  mongo: Db;
  demo: DemoService;
  queue: { pending: string; processing: string; failed: string };
  config: Config;
  rawConfig: ConfigInput;
  deps: Deps;
  client: Client;
  taskQueue: string;
  notifications: Notification[];
  /** This env's SMTP server (notify.email sends to it) and hook catcher: read what people received. */
  mail: MailSink;
  backupDir: string;
  /** Runs a worker on this env's task queue until cleanup. */
  startWorker(): Promise<void>;
  cleanup(): Promise<void>;
}

async function admin(sql: string): Promise<void> {
  const c = new PgClient({ connectionString: pgUrl('postgres') });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function webhookSink(): Promise<{ server: Server; url: string; received: Notification[] }> {
  const received: Notification[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(body) as Notification['body'] });
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, HOST, () => {
      const addr = server.address() as { port: number };
      resolve({ server, url: `http://${HOST}:${addr.port}/hook`, received });
    });
  });
}

/** A loopback port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  const srv = createServer();
  return new Promise((resolve) =>
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    }),
  );
}

export const PEOPLE = {
  alice: { roles: ['sre-lead'], email: 'alice@example.test' },
  dave: { roles: ['dba', 'sre-lead'], email: 'dave@example.test' },
  erin: { roles: ['dba'], email: 'erin@example.test' },
  bob: { roles: ['developer'], email: 'bob@example.test' },
  carol: { roles: ['developer'], email: 'carol@example.test' },
  alertmanager: { roles: ['automation'] },
};

let runtimeInstalled = false;
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    // Only warnings and errors from workers in test output (LOG_LEVEL=INFO to see everything).
    Runtime.install({ logger: new DefaultLogger((process.env.LOG_LEVEL as 'INFO' | undefined) ?? 'WARN') });
  } catch {
    // Already installed in this process.
  }
}

export interface TestEnvOptions {
  /** The demo's deployment history, oldest first (default its own: v1.4.2 only). */
  initialVersions?: string[];
  /** Changes the config before it is parsed (a test's own policies, steps or metrics). */
  configure?: (raw: ConfigInput & { services: Record<string, ConfigInput['services'][string]> }, ctx: { mail: MailSink }) => void;
}

/** The reviewed database rollback steps of the reports service, as shipped in config/local.json. */
export function shippedDataRollback(): NonNullable<ConfigInput['services'][string]['dataRollback']> {
  const local = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'config', 'local.json'), 'utf8')) as ConfigInput;
  return structuredClone(local.services.reports!.dataRollback!);
}

export async function createTestEnv(opts: TestEnvOptions = {}): Promise<TestEnv> {
  quietRuntime();
  const id = randomUUID().replace(/-/g, '').slice(0, 10);
  const dbName = `rbt_${id}`;
  await admin(`CREATE DATABASE ${escapeIdentifier(dbName)}`);
  const pool = new Pool({ connectionString: pgUrl(dbName), max: 4 });
  const redis = new Redis(redisUrl());
  const mongoClient = new MongoClient(mongoUrl);
  const mongo = mongoClient.db(dbName);
  const queue = { pending: `rbt:${id}:report_jobs_queue`, processing: `rbt:${id}:report_jobs_processing`, failed: `rbt:${id}:report_jobs_failed` };
  const adminToken = randomUUID();
  const demo = await startDemo({
    port: 0,
    pgUrl: pgUrl(dbName),
    redisUrl: redisUrl(),
    mongoUrl,
    mongoDb: dbName,
    adminToken,
    queue,
    stateKey: `rbt:${id}:platform`,
    cachePrefix: `rbt:${id}:analytics:`,
    initialReplicas: 2,
    jobMs: 5,
    bullmq: { prefix: `rbt:${id}:bull`, queues: ['webhooks', 'reports', 'notifications'] },
    ...(opts.initialVersions ? { initialVersions: opts.initialVersions } : {}),
  });
  const sink = await webhookSink();
  const mail = await startMailSink({ host: HOST, smtpPort: 0, httpPort: 0 });
  const backupDir = mkdtempSync(path.join(tmpdir(), 'rbt-backups-'));
  const rawConfig: ConfigInput = {
    services: {
      reports: {
        healthUrl: `${demo.url}/health`,
        platform: { kind: 'local', adminUrl: `${demo.url}/admin`, token: adminToken },
        queue: { redis: 'reports-redis', ...queue, probeUrl: `${demo.url}/probes` },
        bullmq: { redis: 'reports-redis', prefix: `rbt:${id}:bull`, queues: ['webhooks', 'reports', 'notifications'] },
        cache: {
          redis: 'reports-redis',
          postgres: 'reports-db',
          prefix: `rbt:${id}:analytics:`,
          protect: [`rbt:${id}:platform*`, `rbt:${id}:report_jobs_*`, `rbt:${id}:bull:*`],
        },
        postgres: ['reports-db'],
        mongo: ['reports-mongo'],
        environment: 'local',
        dataRollback: shippedDataRollback(),
        rollback: { pauseFlags: ['REPORTS_MODULE_ENABLED'], releaseFlags: ['REPORTS_V2_ENABLED'] },
        smoke: [
          { name: 'health', method: 'GET', url: `${demo.url}/health`, expectStatus: [200] },
          { name: 'request a report', method: 'POST', url: `${demo.url}/reports`, body: { reportId: 1 }, expectStatus: [202] },
        ],
      },
      // The same service seen through a health URL nobody answers: pre-checks must stop the run.
      'reports-down': {
        healthUrl: `http://${HOST}:${await closedPort()}/health`,
        platform: { kind: 'local', adminUrl: `${demo.url}/admin`, token: adminToken },
        postgres: ['reports-db'],
      },
    },
    postgres: { 'reports-db': { url: pgUrl(dbName) } },
    redis: { 'reports-redis': { url: redisUrl() } },
    mongo: { 'reports-mongo': { url: mongoUrl, database: dbName } },
    people: PEOPLE,
    notify: {
      webhooks: [{ name: 'test-sink', url: sink.url }],
      email: {
        host: HOST,
        port: mail.smtpPort,
        from: 'Runbooks <runbooks@example.test>',
        to: { stakeholders: ['alice', 'bob'], approvers: ['alice', 'dave'], escalation: ['alice', 'dave'] },
      },
    },
    audit: { url: pgUrl(dbName) },
    backups: { dir: backupDir },
    // A terminated run holding a target blocks others at most this long (the lock's holder check).
    locks: { holderCheck: '1s' },
  };
  opts.configure?.(rawConfig, { mail });
  const config = parseConfig(rawConfig, {});
  const client = new Client({ connection: await Connection.connect({ address: TEMPORAL_ADDRESS }), namespace: NAMESPACE });
  const deps = createDeps(config, { temporal: client });
  await deps.audit.migrate();
  const taskQueue = `test-${id}`;

  let nativeConnection: NativeConnection | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;

  return {
    id,
    dbName,
    pool,
    redis,
    mongo,
    demo,
    queue,
    config,
    rawConfig,
    deps,
    client,
    taskQueue,
    notifications: sink.received,
    mail,
    backupDir,
    async startWorker() {
      nativeConnection = await NativeConnection.connect({ address: TEMPORAL_ADDRESS });
      worker = await createRunbookWorker({
        connection: nativeConnection,
        namespace: NAMESPACE,
        taskQueue,
        deps,
        metrics: new RunbookMetrics(),
        workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! },
        shutdownGraceTimeMs: 2000,
      });
      running = worker.run();
    },
    async cleanup() {
      if (worker) {
        worker.shutdown();
        await running;
      }
      // What still runs on this task queue (the target's lock workflow, a run a failed test left at its
      // gate) would wait for a worker forever and clutter the Web UI: end it. Visibility may lag: best effort.
      for await (const w of client.workflow.list({ query: `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"` }))
        await client.workflow
          .getHandle(w.workflowId, w.runId)
          .terminate('test cleanup')
          .catch(() => undefined);
      await nativeConnection?.close();
      await client.connection.close();
      await demo.close();
      await new Promise((r) => sink.server.close(r));
      await mail.close();
      await deps.close();
      await pool.end();
      // As bytes: a test may write keys whose names are not UTF-8, which a string round trip would miss.
      const keys = await redis.keysBuffer(`rbt:${id}:*`);
      for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
      redis.disconnect();
      await mongo.dropDatabase().catch(() => undefined);
      await mongoClient.close();
      await admin(`DROP DATABASE IF EXISTS ${escapeIdentifier(dbName)} WITH (FORCE)`);
      rmSync(backupDir, { recursive: true, force: true });
    },
  };
}

/** A valid maintenance-window input for the test service: the window is open now for an hour. */
export function maintenanceInput(overrides: Partial<MaintenanceWindowInput> = {}): MaintenanceWindowInput {
  const now = Date.now();
  return {
    service: 'reports',
    requestedBy: 'bob',
    reason: 'test maintenance',
    window: { start: new Date(now - 60_000).toISOString(), end: new Date(now + 3600_000).toISOString() },
    tasks: [
      { kind: 'vacuum-analyze', table: 'public.reports' },
      { kind: 'analyze', table: 'public.report_runs' },
    ],
    approval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '1h' },
    monitoringPeriod: '2s',
    monitorInterval: '1s',
    drainTimeout: '30s',
    ...overrides,
  };
}

export function workflowId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
