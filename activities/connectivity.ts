import type { Deps } from './deps';

export interface ConnectivityResult {
  target: string;
  kind: 'postgres' | 'mongo' | 'redis';
  ok: boolean;
  latencyMs: number;
  error?: string;
}

async function timed(target: string, kind: ConnectivityResult['kind'], fn: () => Promise<unknown>): Promise<ConnectivityResult> {
  const started = Date.now();
  try {
    await fn();
    return { target, kind, ok: true, latencyMs: Date.now() - started };
  } catch (err) {
    return { target, kind, ok: false, latencyMs: Date.now() - started, error: (err as Error).message.slice(0, 300) };
  }
}

export type ConnectivityActivities = ReturnType<typeof createConnectivityActivities>;

export function createConnectivityActivities(deps: Deps) {
  return {
    /** Pings every database, cache and queue store the service owns. */
    async checkConnectivity(input: { service: string }): Promise<ConnectivityResult[]> {
      const svc = deps.service(input.service);
      return Promise.all([
        ...svc.postgres.map((t) => timed(t, 'postgres', () => deps.pg(t).query('SELECT 1'))),
        ...svc.mongo.map((t) => timed(t, 'mongo', () => deps.mongo(t).command({ ping: 1 }))),
        ...(svc.queue ? [timed(svc.queue.redis, 'redis', () => deps.redis(svc.queue!.redis).ping())] : []),
      ]);
    },
  };
}
