// The HTTP API in-process on a free loopback port, wired to a test env's Temporal client and task queue,
// with one token per role (and one with two roles) for the env's people.
import type { FastifyInstance } from 'fastify';
import { createApi } from '../../client/api/server';
import { parseConfig } from '../../config/load';
import type { TestEnv } from './env';

export const TOKENS = {
  bob: { name: 'bob-operator', token: 'tok-bob-operator-000000000000000', person: 'bob', roles: ['operator'] },
  carol: { name: 'carol-operator-approver', token: 'tok-carol-op-approver-0000000000', person: 'carol', roles: ['operator', 'approver'] },
  alice: { name: 'alice-approver', token: 'tok-alice-approver-00000000000000', person: 'alice', roles: ['approver'] },
  dave: { name: 'dave-admin', token: 'tok-dave-admin-000000000000000000', person: 'dave', roles: ['admin'] },
  alertmanager: { name: 'alertmanager-webhook', token: 'tok-alertmanager-webhook-0000000', person: 'alertmanager', roles: ['operator'] },
} as const;

export interface TestApi {
  app: FastifyInstance;
  url: string;
  /** fetch against the API; `as` picks a token (none: no Authorization header). */
  call(
    method: string,
    path: string,
    opts?: { as?: keyof typeof TOKENS; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startApi(env: TestEnv): Promise<TestApi> {
  const config = parseConfig({ ...env.rawConfig, api: { tokens: Object.values(TOKENS).map((t) => ({ ...t, roles: [...t.roles] })) } }, {});
  const app = await createApi({ client: env.client, config, taskQueue: env.taskQueue });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    url,
    async call(method, path, opts = {}) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(opts.as ? { authorization: `Bearer ${TOKENS[opts.as].token}` } : {}),
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      });
      const text = await res.text();
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = { text };
      }
      return { status: res.status, body };
    },
    close: () => app.close(),
  };
}
