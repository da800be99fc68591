// The admin API the local platform adapter and runbooks use: platform state, scaling, maintenance mode,
// restarts of the processors, deployments (deploy, rollback, history), feature flags and fault injection.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { Deployments } from './deployments';
import { FLAG_NAME_PATTERN, type FeatureFlags } from './flags';
import type { Processors } from './processors';
import type { RestartMode, Restarts } from './restarts';
import type { PlatformStore } from './state';

export interface AdminOptions {
  token: string;
  store: PlatformStore;
  processors: Processors;
  restarts: Restarts;
  deployments: Deployments;
  flags: FeatureFlags;
}

const requestId = { type: 'string', minLength: 1, maxLength: 200 } as const;

// Register with a prefix: as its own plugin, its token check runs on whatever path the router matched
// (a hook testing the raw URL is bypassed by an encoded path such as /%61dmin).
export const adminApi: FastifyPluginAsync<AdminOptions> = async (admin, { token, store, processors, restarts, deployments, flags }) => {
  const expected = Buffer.from(token);
  admin.addHook('onRequest', async (req, reply) => {
    const got = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      await reply.code(401).send({ error: 'admin API needs a valid bearer token' });
    }
  });

  admin.get('/state', async () => ({
    replicas: processors.replicas,
    busy: processors.busy,
    maintenance: store.maintenance,
    version: deployments.current.version,
    generation: processors.generation,
    wedged: processors.wedged,
    rollout: processors.rolloutState(),
  }));

  admin.put<{ Body: { replicas: number } }>(
    '/workers',
    {
      schema: {
        body: { type: 'object', required: ['replicas'], additionalProperties: false, properties: { replicas: { type: 'integer', minimum: 0, maximum: 32 } } },
      },
    },
    async (req) => {
      const { previous, stopping } = await processors.scaleTo(req.body.replicas);
      return { previous, replicas: req.body.replicas, stopping };
    },
  );

  admin.post<{ Body: { mode: RestartMode; requestId: string } }>(
    '/workers/restart',
    {
      schema: {
        body: {
          type: 'object',
          required: ['mode', 'requestId'],
          additionalProperties: false,
          properties: { mode: { type: 'string', enum: ['graceful', 'force'] }, requestId },
        },
      },
    },
    async (req, reply) => {
      const { code, body } = await restarts.apply(req.body.mode, req.body.requestId);
      return reply.code(code).send(body);
    },
  );

  admin.get('/deployment', async () => deployments.state());

  // 201 for a new revision, 200 for a request id applied before (the recorded answer, repeated: true).
  admin.post<{ Body: { version: string; requestId: string } }>(
    '/deployment',
    {
      schema: {
        body: {
          type: 'object',
          required: ['version', 'requestId'],
          additionalProperties: false,
          properties: { version: { type: 'string', minLength: 1, maxLength: 100 }, requestId },
        },
      },
    },
    async (req, reply) => {
      const { code, body } = await deployments.deploy(req.body.version, req.body.requestId);
      return reply.code(code).send(body);
    },
  );

  admin.post<{ Body: { requestId: string; toRevision?: number } }>(
    '/deployment/rollback',
    {
      schema: {
        body: {
          type: 'object',
          required: ['requestId'],
          additionalProperties: false,
          properties: { requestId, toRevision: { type: 'integer', minimum: 1 } },
        },
      },
    },
    async (req, reply) => {
      const { code, body } = await deployments.rollback(req.body.requestId, req.body.toRevision);
      return reply.code(code).send(body);
    },
  );

  admin.get('/flags', async () => ({ flags: flags.all() }));

  admin.put<{ Body: { flags: Record<string, boolean> } }>(
    '/flags',
    {
      schema: {
        body: {
          type: 'object',
          required: ['flags'],
          additionalProperties: false,
          properties: {
            flags: {
              type: 'object',
              minProperties: 1,
              maxProperties: 32,
              propertyNames: { pattern: FLAG_NAME_PATTERN },
              additionalProperties: { type: 'boolean' },
            },
          },
        },
      },
    },
    async (req) => flags.set(req.body.flags),
  );

  admin.put<{ Body: { enabled: boolean } }>(
    '/maintenance',
    { schema: { body: { type: 'object', required: ['enabled'], additionalProperties: false, properties: { enabled: { type: 'boolean' } } } } },
    async (req) => ({ previous: await store.setMaintenance(req.body.enabled), enabled: req.body.enabled }),
  );

  // false wedges nothing more but un-wedges nothing either: like a hung call, only a force restart ends it.
  admin.put<{ Body: { wedged?: boolean; errorRate?: number } }>(
    '/faults',
    {
      schema: {
        body: {
          type: 'object',
          minProperties: 1,
          additionalProperties: false,
          properties: { wedged: { type: 'boolean' }, errorRate: { type: 'number', minimum: 0, maximum: 1 } },
        },
      },
    },
    async (req) => {
      if (req.body.errorRate !== undefined) store.errorRate = req.body.errorRate;
      return { wedged: req.body.wedged ? processors.wedgeAll() : processors.wedged, errorRate: store.errorRate };
    },
  );
};
