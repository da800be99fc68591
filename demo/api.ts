// The public HTTP API: health, metrics, report requests, and the probe jobs runbooks use to prove that
// jobs are processed. No token: this is what users and monitoring see. The deployed version's faults
// (versions.ts) and the REPORTS_MODULE_ENABLED flag apply to report requests only, never to probes or /health.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyPluginAsync } from 'fastify';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { Pool } from 'pg';
import type { BullQueues } from './bullmq';
import type { Deployments } from './deployments';
import type { FeatureFlags } from './flags';
import { newJobId, type Job, type QueueNames } from './jobs';
import type { DemoMetrics } from './metrics';
import type { Probes } from './probes';
import type { Processors } from './processors';
import type { PlatformStore } from './state';

export interface ApiOptions {
  pool: Pool;
  redis: Redis;
  mongo: Db;
  queue: QueueNames;
  store: PlatformStore;
  processors: Processors;
  probes: Probes;
  metrics: DemoMetrics;
  deployments: Deployments;
  flags: FeatureFlags;
  bull?: BullQueues;
}

const probeId = { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,200}$' } as const;

export const api: FastifyPluginAsync<ApiOptions> = async (app, { pool, redis, mongo, queue, store, processors, probes, metrics, deployments, flags, bull }) => {
  // Latency of this plugin's routes (the public API; the admin API is a plugin of its own).
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpSeconds.observe({ route: req.routeOptions.url ?? 'unknown' }, reply.elapsedTime / 1000);
  });

  const check = async (fn: () => Promise<unknown>): Promise<string> => {
    try {
      await fn();
      return 'ok';
    } catch (err) {
      return `error: ${(err as Error).message}`;
    }
  };
  const healthChecks = async () => ({
    postgres: await check(() => pool.query('SELECT 1')),
    redis: await check(() => redis.ping()),
    mongo: await check(() => mongo.command({ ping: 1 })),
  });
  // Ends the slow version's delays when the service closes, rather than holding the close up for them.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());

  const passes = (checks: Record<string, string>): boolean => Object.values(checks).every((c) => c === 'ok');
  // The same health check, as a metric (reports_health_up) for the "health check failing" rollback trigger.
  metrics.watchHealth(async () => passes(await healthChecks()));

  app.get('/health', async (_req, reply) => {
    const checks = await healthChecks();
    const ok = passes(checks);
    return reply.code(ok ? 200 : 503).send({
      status: ok ? (store.maintenance ? 'maintenance' : 'ok') : 'degraded',
      version: deployments.current.version,
      revision: deployments.current.revision,
      flags: flags.all(),
      checks,
      workers: { replicas: processors.runningCount, busy: processors.busy },
    });
  });

  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.post<{ Body: { reportId?: number; fail?: boolean } | undefined }>(
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
      if (store.maintenance) return reply.code(503).header('retry-after', '600').send({ error: 'the reports service is in maintenance; try again later' });
      if (!flags.enabled('REPORTS_MODULE_ENABLED')) {
        return reply.code(503).send({ error: 'the reports module is disabled (feature flag REPORTS_MODULE_ENABLED)' });
      }
      const release = deployments.behaviour();
      if (release.delayMs > 0) {
        const slept = await sleep(release.delayMs, true, { signal: closing.signal }).catch(() => false);
        if (!slept) return reply.code(503).send({ error: 'the reports service is shutting down; try again' });
      }
      if (store.injectError(release.errorRate)) {
        return reply.code(500).send({ error: `injected fault: release ${release.name} fails a share of report requests` });
      }
      const job: Job = { id: newJobId(), reportId: req.body?.reportId ?? 1, ...(req.body?.fail ? { fail: true } : {}) };
      await redis.lpush(queue.pending, JSON.stringify(job));
      return reply.code(202).send({ queued: job.id });
    },
  );

  // Accepted in maintenance mode too: a probe is an operator checking the processors, not user work, and
  // the runbook that restarts them may run during a maintenance window.
  app.post<{ Body: { probeId: string } }>(
    '/probes',
    { schema: { body: { type: 'object', required: ['probeId'], additionalProperties: false, properties: { probeId } } } },
    async (req, reply) => {
      const { created, status } = await probes.enqueue(req.body.probeId);
      return reply.code(created ? 202 : 200).send({ probeId: req.body.probeId, status });
    },
  );

  app.get<{ Params: { probeId: string } }>(
    '/probes/:probeId',
    { schema: { params: { type: 'object', required: ['probeId'], additionalProperties: false, properties: { probeId } } } },
    async (req, reply) => {
      const status = await probes.status(req.params.probeId);
      if (!status) return reply.code(404).send({ error: `no probe ${req.params.probeId} (unknown, or older than an hour)` });
      return { probeId: req.params.probeId, status };
    },
  );

  // Seed 004's /api/v1/queue/stats: the list layout's lengths and every BullMQ queue's counts.
  app.get('/queue/stats', async () => {
    const [pending, processing, failed] = await Promise.all([redis.llen(queue.pending), redis.llen(queue.processing), redis.llen(queue.failed)]);
    return { list: { pending, processing, failed }, bullmq: bull ? await bull.counts() : {} };
  });

  // Enqueues into a BullMQ queue. An id is a BullMQ job id: not all digits (BullMQ's own ids are), no colon.
  app.post<{ Params: { queue: string }; Body: { id?: string; fail?: boolean; data?: Record<string, unknown> } | undefined }>(
    '/queues/:queue/jobs',
    {
      schema: {
        params: {
          type: 'object',
          required: ['queue'],
          additionalProperties: false,
          properties: { queue: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            id: { type: 'string', pattern: '^(?![0-9]+$)[A-Za-z0-9_.-]{1,200}$' },
            fail: { type: 'boolean' },
            data: { type: 'object', maxProperties: 50 },
          },
        },
      },
    },
    async (req, reply) => {
      if (!bull?.has(req.params.queue))
        return reply.code(404).send({ error: `no queue ${req.params.queue}; known queues: ${bull?.names.join(', ') || '(none)'}` });
      const id = await bull.add(req.params.queue, req.body ?? {});
      return reply.code(202).send({ queue: req.params.queue, id });
    },
  );
};
