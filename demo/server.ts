// The demo "reports" service (after the seeds' reports service): an HTTP API that queues report jobs in
// Redis, job processors that consume the queue and write to Postgres and Mongo, /health and /metrics,
// and an admin API the local platform adapter and runbooks use to scale and restart the processors,
// switch maintenance mode, deploy and roll back versions (versions.ts), set feature flags and inject faults.
// Runbooks act on it for real: scaling processors to 0 really stops consumption, deploying v1.5.0 really
// fails report requests. This file wires the parts together; each concern lives in its own module.
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { Pool } from 'pg';
import { adminApi } from './admin';
import { analyticsApi } from './analytics';
import { api } from './api';
import { BullQueues, type BullmqOptions } from './bullmq';
import { Deployments } from './deployments';
import { FeatureFlags } from './flags';
import { DEFAULT_QUEUE, type QueueNames } from './jobs';
import { DemoMetrics } from './metrics';
import { Probes } from './probes';
import { Processors } from './processors';
import { Restarts } from './restarts';
import { seedMongo, seedPostgres } from './seed';
import { PlatformStore } from './state';
import { DEFAULT_INITIAL_VERSIONS, VERSIONS, checkVersions, type VersionCatalog } from './versions';

export interface DemoOptions {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  pgUrl: string;
  redisUrl: string;
  mongoUrl: string;
  mongoDb?: string;
  adminToken: string;
  queue?: QueueNames;
  /**
   * Redis hash holding the platform state (replicas, maintenance, generation), so it survives restarts;
   * the deployment history and feature flags live in keys beside it (`${stateKey}:deploy`, `:flags`, ...).
   */
  stateKey?: string;
  /** Processors when the state hash is empty. */
  initialReplicas?: number;
  /** Simulated work per job. */
  jobMs?: number;
  /**
   * The deployment history when the state key has none yet: one revision per version, oldest first, the
   * last one current. Default ['v1.4.2']. Ignored once a history exists: the deployed version is the truth.
   */
  initialVersions?: readonly string[];
  /** The deployable versions and how each behaves. Default: VERSIONS (versions.ts). */
  versions?: VersionCatalog;
  /** Key prefix of the per-user analytics cache: `<prefix><userId>:<metric>`. Default 'analytics:'. */
  cachePrefix?: string;
  /** TTL of a key the analytics endpoint computes. Default 7 hours. */
  cacheTtlSeconds?: number;
  seed?: boolean;
  logger?: boolean;
  /** BullMQ queues with a worker each (seed 004); their workers pause while the processors are scaled to 0. */
  bullmq?: BullmqOptions;
}

export interface DemoService {
  url: string;
  app: FastifyInstance;
  /** Processors running now. */
  replicas(): number;
  /** Generation of the newest processors: 1, then +1 per restart. */
  generation(): number;
  /** The deployed version (the current revision's). */
  version(): string;
  close(): Promise<void>;
}

export async function startDemo(opts: DemoOptions): Promise<DemoService> {
  const catalog = opts.versions ?? VERSIONS;
  const initialVersions = opts.initialVersions ?? DEFAULT_INITIAL_VERSIONS;
  // Before connecting to anything: a typo in the versions is the caller's to fix.
  checkVersions(catalog, initialVersions, 'initial versions of the demo');
  const queue = opts.queue ?? DEFAULT_QUEUE;
  const stateKey = opts.stateKey ?? 'reports:platform';
  const pool = new Pool({ connectionString: opts.pgUrl, max: 8 });
  pool.on('error', () => undefined);
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 2 });
  redis.on('error', () => undefined);
  const mongoClient = new MongoClient(opts.mongoUrl, { serverSelectionTimeoutMS: 3000 });
  const mongo = mongoClient.db(opts.mongoDb ?? 'reports');
  if (opts.seed !== false) {
    await seedPostgres(pool);
    await seedMongo(mongo);
  }

  const store = new PlatformStore(redis, stateKey);
  const saved = await store.load();
  const metrics = new DemoMetrics();
  const probes = new Probes(redis, queue, stateKey);
  const bull = opts.bullmq ? new BullQueues(opts.redisUrl, opts.bullmq, Math.min(opts.jobMs ?? 25, 5)) : undefined;
  const processors = new Processors(
    { redis, pool, mongo, queue, metrics, probes, store, jobMs: opts.jobMs ?? 25, ...(bull ? { onScale: (n: number) => bull.scale(n) } : {}) },
    saved.generation,
  );
  const restarts = new Restarts(store, processors);
  const deployments = new Deployments(redis, stateKey, catalog, processors, restarts);
  await deployments.load(initialVersions);
  const flags = new FeatureFlags(redis, stateKey);
  await flags.load();
  metrics.watchDeployment(() => deployments.current);
  metrics.watch({
    queueDepth: async () => {
      const [pending, processing, failed] = await Promise.all([redis.llen(queue.pending), redis.llen(queue.processing), redis.llen(queue.failed)]);
      return { pending, processing, failed };
    },
    running: () => processors.runningCount,
    maintenance: () => store.maintenance,
    generation: () => processors.generation,
    wedged: () => processors.wedged,
  });
  await processors.scaleTo(saved.replicas ?? opts.initialReplicas ?? 2);

  // Strict request validation: unknown fields are an error, not silently dropped; no type coercion.
  // maxParamLength: a probe id may be 200 characters (Fastify answers 414 above its default of 100).
  const app = Fastify({
    logger: opts.logger ?? false,
    routerOptions: { maxParamLength: 256 },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequests.inc({ route: req.routeOptions.url ?? 'unknown', code: String(reply.statusCode) });
  });
  await app.register(api, { pool, redis, mongo, queue, store, processors, probes, metrics, deployments, flags, ...(bull ? { bull } : {}) });
  await app.register(analyticsApi, { pool, redis, metrics, keyPrefix: opts.cachePrefix ?? 'analytics:', ttlSeconds: opts.cacheTtlSeconds ?? 7 * 3600 });
  await app.register(adminApi, { prefix: '/admin', token: opts.adminToken, store, processors, restarts, deployments, flags });

  const address = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port });

  return {
    url: address,
    app,
    replicas: () => processors.runningCount,
    generation: () => processors.generation,
    version: () => deployments.current.version,
    async close() {
      await app.close();
      await processors.close();
      await bull?.close();
      redis.disconnect();
      await Promise.allSettled([pool.end(), mongoClient.close()]);
    },
  };
}
