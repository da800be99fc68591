// The health-check runbook's activities: what a run will check, one activity per kind of check (run in
// parallel by the workflow), and last week's snapshot from the audit store for the weekly trends.
import { Client } from 'pg';
import type { HealthCheckKind, HealthCheckResult, HealthSnapshot } from '../../common/health-check';
import type { Deps } from '../deps';
import { createChecks, redisTargetsOf, type Baseline } from './checks';

export type { Baseline };

export interface HealthCheckTargets {
  service: string;
  environment: string;
  postgres: string[];
  redis: string[];
  mongo: string[];
  queues: string[];
  dataDirs: string[];
  jobs: string[];
  certificates: string[];
}

export type HealthCheckActivities = ReturnType<typeof createHealthCheckActivities>;

export function createHealthCheckActivities(deps: Deps) {
  const c = createChecks(deps);

  return {
    /** What the service has to check (an InvalidTargetError for an unknown service). */
    async resolveHealthCheck(input: { service: string }): Promise<HealthCheckTargets> {
      const svc = deps.service(input.service);
      return {
        service: input.service,
        environment: svc.environment,
        postgres: svc.postgres,
        redis: redisTargetsOf(svc),
        mongo: svc.mongo,
        queues: [...(svc.queue ? [svc.queue.pending] : []), ...(svc.bullmq?.queues ?? [])],
        dataDirs: svc.health.dataDirs,
        jobs: svc.health.jobs.map((j) => j.name),
        certificates: svc.health.certificates,
      };
    },

    /**
     * One kind of check. Unhealthy is a result; only configuration errors throw. The weekly `growth` check
     * also returns this week's snapshot, which the run records for next week.
     */
    async runHealthCheck(input: {
      service: string;
      check: HealthCheckKind;
      baseline?: Baseline;
    }): Promise<{ results: HealthCheckResult[]; snapshot?: HealthSnapshot }> {
      const svc = deps.service(input.service);
      switch (input.check) {
        case 'http':
          return { results: await c.http(svc) };
        case 'postgres':
          return { results: await c.postgres(svc) };
        case 'redis':
          return { results: await c.redis(svc) };
        case 'mongo':
          return { results: await c.mongo(svc) };
        case 'queues':
          return { results: await c.queueDepths(input.service, svc) };
        case 'error-rate':
          return { results: await c.errorRate(svc) };
        case 'jobs':
          return { results: await c.jobs(svc) };
        case 'disk':
          return { results: await c.disk(svc) };
        case 'certificates':
          return { results: await c.certificates(svc) };
        case 'slow-queries':
          return { results: await c.slowQueries(svc) };
        case 'cache-hit-rate':
          return { results: await c.cacheHitRate(svc, input.baseline) };
        case 'growth': {
          const { snap, errors } = await c.snapshot(svc);
          return { results: c.growth(svc, snap, errors, input.baseline), snapshot: snap };
        }
      }
    },

    /** The snapshot the newest earlier weekly run of the service recorded (audit kind `health-snapshot`), if any. */
    async healthBaseline(input: { service: string; workflowId: string }): Promise<Baseline | undefined> {
      // A short-lived connection: the audit store's pool is its own, and this runs once a week.
      const pg = new Client({ connectionString: deps.config.audit.url, connectionTimeoutMillis: 5000 });
      await pg.connect();
      try {
        const res = await pg.query<{ at: Date; workflow_id: string; data: { service: string; snapshot: HealthSnapshot } }>(
          `SELECT at, workflow_id, data FROM runbook_audit
           WHERE kind = 'health-snapshot' AND data->>'service' = $1 AND workflow_id <> $2
           ORDER BY id DESC LIMIT 1`,
          [input.service, input.workflowId],
        );
        const row = res.rows[0];
        return row ? { at: row.data.snapshot.at ?? row.at.toISOString(), workflowId: row.workflow_id, snapshot: row.data.snapshot } : undefined;
      } catch (err) {
        // No audit table yet: no earlier run recorded anything.
        if ((err as { code?: string }).code === '42P01') return undefined;
        throw err;
      } finally {
        await pg.end().catch(() => undefined);
      }
    },
  };
}
