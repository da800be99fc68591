// The demo "reports" service (after the seeds' reports service): an HTTP API that queues report jobs in
// Redis, job processors that consume the queue and write to Postgres and Mongo, /health and /metrics,
// and an admin API the local platform adapter uses to scale the processors and switch maintenance mode.
// Runbooks act on it for real: scaling processors to 0 really stops consumption.
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { Pool } from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { seedMongo, seedPostgres } from './seed';

export interface DemoOptions {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  pgUrl: string;
  redisUrl: string;
  mongoUrl: string;
  mongoDb?: string;
  adminToken: string;
  queue?: { pending: string; processing: string; failed: string };
  /** Redis hash holding the platform state (replicas, maintenance), so it survives restarts. */
  stateKey?: string;
  /** Processors when the state hash is empty. */
  initialReplicas?: number;
  /** Simulated work per job. */
  jobMs?: number;
  version?: string;
  seed?: boolean;
  logger?: boolean;
}

export interface DemoService {
  url: string;
  app: FastifyInstance;
  replicas(): number;
  close(): Promise<void>;
}

interface Job {
  id: string;
  reportId: number;
  fail?: boolean;
}

export async function startDemo(opts: DemoOptions): Promise<DemoService> {
  const queue = opts.queue ?? { pending: 'report_jobs_queue', processing: 'report_jobs_processing', failed: 'report_jobs_failed' };
  const stateKey = opts.stateKey ?? 'reports:platform';
  const jobMs = opts.jobMs ?? 25;
  const pool = new Pool({ connectionString: opts.pgUrl, max: 8 });
  pool.on('error', () => undefined);
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 2 });
  redis.on('error', () => undefined);
  const mongoClient = new MongoClient(opts.mongoUrl, { serverSelectionTimeoutMS: 3000 });
  const mongo: Db = mongoClient.db(opts.mongoDb ?? 'reports');
  if (opts.seed !== false) {
    await seedPostgres(pool);
    await seedMongo(mongo);
  }

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const processed = new Counter({ name: 'reports_jobs_processed_total', help: 'jobs done', registers: [registry] });
  const failedJobs = new Counter({ name: 'reports_jobs_failed_total', help: 'jobs that failed', registers: [registry] });
  const jobSeconds = new Histogram({ name: 'reports_job_duration_seconds', help: 'job duration', registers: [registry] });
  const httpRequests = new Counter({ name: 'reports_http_requests_total', help: 'HTTP requests', labelNames: ['route', 'code'], registers: [registry] });
  new Gauge({
    name: 'reports_queue_depth',
    help: 'jobs per list',
    labelNames: ['list'],
    registers: [registry],
    async collect() {
      const [p, w, f] = await Promise.all([redis.llen(queue.pending), redis.llen(queue.processing), redis.llen(queue.failed)]);
      this.set({ list: 'pending' }, p);
      this.set({ list: 'processing' }, w);
      this.set({ list: 'failed' }, f);
    },
  });
  const replicasGauge = new Gauge({ name: 'reports_worker_replicas', help: 'job processors running', registers: [registry] });
  new Gauge({ name: 'reports_maintenance_mode', help: '1 in maintenance mode', registers: [registry], collect() { this.set(maintenance ? 1 : 0); } });

  // ---- job processors ----
  let maintenance = false;
  let busy = 0;
  const loops: Array<{ stop: boolean; done: Promise<void> }> = [];
  const everyLoop = new Set<Promise<void>>();

  async function processJob(raw: string): Promise<void> {
    const job = JSON.parse(raw) as Job;
    const end = jobSeconds.startTimer();
    try {
      if (job.fail) throw new Error(`job ${job.id} asked to fail`);
      await new Promise((r) => setTimeout(r, jobMs));
      await pool.query(
        `INSERT INTO report_runs (report_id, status, started_at, finished_at, rows_out)
         VALUES ($1, 'done', now() - make_interval(secs => $2::float / 1000), now(), 1)`,
        [job.reportId, jobMs],
      );
      await mongo.collection('report_audit_logs').insertOne({ reportId: job.reportId, actor: 'worker', action: 'generated', jobId: job.id, createdAt: new Date() });
      processed.inc();
    } finally {
      end();
    }
  }

  function startLoop(): void {
    const conn = redis.duplicate();
    conn.on('error', () => undefined);
    const me = { stop: false, done: Promise.resolve() };
    me.done = (async () => {
      while (!me.stop) {
        let raw: string | null = null;
        try {
          raw = await conn.blmove(queue.pending, queue.processing, 'RIGHT', 'LEFT', 0.5);
        } catch {
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        if (!raw) continue;
        if (me.stop) {
          // Scaled down while waiting: hand the job back untouched, to the end it is popped from next.
          await redis.multi().lrem(queue.processing, 1, raw).rpush(queue.pending, raw).exec();
          break;
        }
        busy++;
        try {
          await processJob(raw);
        } catch {
          failedJobs.inc();
          await redis.lpush(queue.failed, raw).catch(() => undefined);
        } finally {
          await redis.lrem(queue.processing, 1, raw).catch(() => undefined);
          busy--;
        }
      }
      conn.disconnect();
    })();
    everyLoop.add(me.done);
    void me.done.finally(() => everyLoop.delete(me.done));
    loops.push(me);
  }

  /**
   * Scale to exactly n processors. Returns once the stopped ones have finished their current job (or
   * handed back the one they were just given), so "scaled to 0" means nothing consumes any more.
   */
  async function scaleTo(n: number): Promise<number> {
    const previous = loops.length;
    while (loops.length < n) startLoop();
    const stopping = loops.splice(n);
    for (const l of stopping) l.stop = true;
    replicasGauge.set(loops.length);
    await redis.hset(stateKey, 'replicas', String(n));
    await Promise.all(stopping.map((l) => l.done));
    return previous;
  }

  const saved = await redis.hgetall(stateKey);
  maintenance = saved.maintenance === 'true';
  await scaleTo(saved.replicas !== undefined ? Number(saved.replicas) : (opts.initialReplicas ?? 2));

  // ---- HTTP ----
  // Strict request validation: unknown fields are an error, not silently dropped; no type coercion.
  const app = Fastify({ logger: opts.logger ?? false, ajv: { customOptions: { removeAdditional: false, coerceTypes: false } } });
  app.addHook('onResponse', async (req, reply) => {
    httpRequests.inc({ route: req.routeOptions.url ?? 'unknown', code: String(reply.statusCode) });
  });

  app.get('/health', async (_req, reply) => {
    const check = async (fn: () => Promise<unknown>): Promise<string> => {
      try {
        await fn();
        return 'ok';
      } catch (err) {
        return `error: ${(err as Error).message}`;
      }
    };
    const checks = {
      postgres: await check(() => pool.query('SELECT 1')),
      redis: await check(() => redis.ping()),
      mongo: await check(() => mongo.command({ ping: 1 })),
    };
    const ok = Object.values(checks).every((c) => c === 'ok');
    return reply.code(ok ? 200 : 503).send({
      status: ok ? (maintenance ? 'maintenance' : 'ok') : 'degraded',
      version: opts.version ?? 'v1',
      checks,
      workers: { replicas: loops.length, busy },
    });
  });

  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  app.post<{ Body: { reportId?: number; fail?: boolean } }>(
    '/reports',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { reportId: { type: 'integer', minimum: 1, maximum: 200 }, fail: { type: 'boolean' } },
        },
      },
    },
    async (req, reply) => {
      if (maintenance) return reply.code(503).header('retry-after', '600').send({ error: 'the reports service is in maintenance; try again later' });
      const job: Job = { id: `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, reportId: req.body?.reportId ?? 1, ...(req.body?.fail ? { fail: true } : {}) };
      await redis.lpush(queue.pending, JSON.stringify(job));
      return reply.code(202).send({ queued: job.id });
    },
  );

  // The admin API lives in its own plugin, so its token check runs on whatever path the router matched
  // (a hook testing the raw URL is bypassed by an encoded path such as /%61dmin).
  const token = Buffer.from(opts.adminToken);
  await app.register(
    async (admin) => {
      admin.addHook('onRequest', async (req, reply) => {
        const got = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer /, ''));
        if (got.length !== token.length || !timingSafeEqual(got, token)) {
          await reply.code(401).send({ error: 'admin API needs a valid bearer token' });
        }
      });
      admin.get('/state', async () => ({ replicas: loops.length, busy, maintenance }));

      admin.put<{ Body: { replicas: number } }>(
        '/workers',
        { schema: { body: { type: 'object', required: ['replicas'], additionalProperties: false, properties: { replicas: { type: 'integer', minimum: 0, maximum: 32 } } } } },
        async (req) => ({ previous: await scaleTo(req.body.replicas), replicas: req.body.replicas }),
      );

      admin.put<{ Body: { enabled: boolean } }>(
        '/maintenance',
        { schema: { body: { type: 'object', required: ['enabled'], additionalProperties: false, properties: { enabled: { type: 'boolean' } } } } },
        async (req) => {
          const previous = maintenance;
          maintenance = req.body.enabled;
          await redis.hset(stateKey, 'maintenance', String(maintenance));
          return { previous, enabled: maintenance };
        },
      );
    },
    { prefix: '/admin' },
  );

  const address = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port });

  return {
    url: address,
    app,
    replicas: () => loops.length,
    async close() {
      await app.close();
      for (const l of loops) l.stop = true;
      await Promise.all(everyLoop);
      redis.disconnect();
      await Promise.allSettled([pool.end(), mongoClient.close()]);
    },
  };
}
