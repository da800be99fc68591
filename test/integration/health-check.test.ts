// The health-check runbook on the real stack: a healthy service passes; a queue past its critical
// threshold fails the check and opens one incident (a second run tells the open one instead of opening
// another, and the incident's email reaches the SMTP server); a Redis nobody answers is critical P1; the
// weekly profile reports slow queries, hit rate and growth against the previous weekly run; bad input is
// refused naming the field.
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import type { WorkflowHandle } from '@temporalio/client';
import { createServer } from 'node:net';
import { runbookByName } from '../../client/registry';
import { healthIncidentId } from '../../workflows/incident/contract';
import type { HealthCheckInput, HealthCheckResult, HealthCheckResultReport } from '../../workflows/health-check/contract';
import { createTestEnv, eventually, workflowId, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { enqueue, failureOf } from '../helpers/runs';

jest.setTimeout(120_000);

// A service name of its own: the incident id is per service (incident-health-<service>), and other test
// files open incidents for "reports".
const SVC = `hc-${randomUUID().slice(0, 8)}`;
const DOWN = `${SVC}-down`;

let env: TestEnv;
const base = { service: SVC, requestedBy: 'alertmanager' } as const;

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  const srv = createServer();
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    }),
  );
}

beforeAll(async () => {
  const deadPort = await closedPort();
  env = await createTestEnv({
    configure: (raw) => {
      const r = raw.services.reports!;
      const queue = r.queue!;
      raw.services[SVC] = {
        ...structuredClone(r),
        queue: { ...queue, thresholds: { warning: 50, critical: 100, failedWarning: 5, failedCritical: 10 } },
        health: {
          dataDirs: [tmpdir()],
          thresholds: { slowQueryMs: 100 },
          jobs: [{ name: 'report-jobs', redisKey: `${queue.pending}:last-completed`, maxAge: '1h' }],
        },
      };
      // The same service with its queue's Redis at a port nobody answers.
      raw.redis!['dead-redis'] = { url: `redis://127.0.0.1:${deadPort}/0` };
      raw.services[DOWN] = { ...structuredClone(r), queue: { ...queue, redis: 'dead-redis' }, bullmq: undefined, cache: undefined };
    },
  });
  await env.startWorker();
});

afterAll(async () => {
  await env?.client.workflow
    .getHandle(healthIncidentId(SVC))
    .terminate('test cleanup')
    .catch(() => undefined);
  await env?.cleanup();
});

type Handle = WorkflowHandle<(input: unknown) => Promise<HealthCheckResultReport>>;

function start(input: HealthCheckInput): Promise<Handle> {
  return env.client.workflow.start<(input: unknown) => Promise<HealthCheckResultReport>>('healthCheck', {
    taskQueue: env.taskQueue,
    workflowId: workflowId('health-check'),
    args: [input],
  });
}

async function run(input: HealthCheckInput): Promise<{ h: Handle; r: HealthCheckResultReport }> {
  const h = await start(input);
  return { h, r: await h.result() };
}

const byId = (r: HealthCheckResultReport, id: string): HealthCheckResult => {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(', ')}`);
  return c;
};

test('a healthy service passes every daily check (or skips one that has nothing configured)', async () => {
  // A job completed by the service's processors (they record when), and a request its /metrics counts.
  await enqueue(env, 3, 'fresh');
  await eventually(() => env.redis.get(`${env.queue.pending}:last-completed`), 30_000, 'a job to complete');
  expect((await fetch(`${env.demo.url}/health`)).status).toBe(200);

  const { h, r } = await run({ ...base, profile: 'daily', requestedBy: 'scheduler' });
  expect(r.outcome).toBe('completed');
  expect(r.status).toBe('ok');
  expect(r.incident).toBeUndefined();
  const statuses = Object.fromEntries(r.checks.map((c) => [c.id, c.status]));
  expect(statuses).toEqual({
    http: 'ok',
    'postgres:reports-db': 'ok',
    'redis:reports-redis': 'ok',
    'mongo:reports-mongo': 'ok',
    'queue:report_jobs': 'ok',
    'queue:webhooks': 'ok',
    'queue:reports': 'ok',
    'queue:notifications': 'ok',
    'error-rate': 'ok',
    'job:report-jobs': 'ok',
    [`disk:${tmpdir()}`]: 'ok',
    // Documented skip: the test service has no certificate configured.
    certificates: 'skipped',
  });
  expect(byId(r, 'postgres:reports-db')).toMatchObject({ unit: '%', threshold: expect.stringMatching(/^< 80 %/) });
  expect(byId(r, 'postgres:reports-db').detail).toMatch(/^\d+ of max_connections \d+$/);
  expect(byId(r, 'job:report-jobs').value).toEqual(expect.any(Number));
  // No Prometheus configured for the test service: the service's own counters.
  expect(byId(r, 'error-rate').detail).toMatch(/answers 5xx since the service started/);
  expect(r.lines).toHaveLength(r.checks.length);
  expect(runbookByName('health-check').summarize(r)[0]).toMatch(new RegExp(`^${SVC} \\(daily\\): OK`));
  await saveHistoryIfRecording('health-check-ok', h);
});

test('a queue past its critical threshold fails the check and opens one incident; a second run tells it instead', async () => {
  const failed = Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: `dead-${i}`, reportId: 1 }));
  await env.redis.lpush(env.queue.failed, ...failed);
  try {
    const first = await run({ ...base, checks: ['http', 'queues'] });
    expect(first.r.status).toBe('critical');
    expect(first.r.outcome).toBe('completed-with-warnings');
    expect(byId(first.r, 'queue:report_jobs')).toMatchObject({ status: 'critical', severity: 'P2' });
    expect(byId(first.r, 'queue:report_jobs').detail).toMatch(/20 failed > 10 \(critical\)/);
    expect(first.r.incident).toEqual({ workflowId: healthIncidentId(SVC), severity: 'P2', action: 'opened' });
    // The warning ends with what to run about it, once.
    const recover = `echo '{"service":"${SVC}","mode":"recover","requestedBy":"<you>"}' | npm run runbook -- start queue-recovery --input -`;
    expect(first.r.warnings.join('\n').split(recover)).toHaveLength(2);
    await saveHistoryIfRecording('health-check-incident', first.h);

    const incident = env.client.workflow.getHandle(healthIncidentId(SVC));
    const opened = await incident.describe();
    expect(opened.type).toBe('incident');
    expect(opened.status.name).toBe('RUNNING');
    const [input] = (await incident.fetchHistory()).events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads!;
    expect(JSON.parse(Buffer.from(input!.data!).toString())).toMatchObject({
      severity: 'P2',
      service: SVC,
      requestedBy: 'alertmanager',
      source: { runbook: 'healthCheck', workflowId: first.h.workflowId },
      summary: expect.stringMatching(/queue report_jobs: .*20 failed/),
    });

    // Still failing: the same incident (same run) hears of it, no second one opens.
    const second = await run({ ...base, checks: ['queues'] });
    expect(second.r.incident).toEqual({ workflowId: healthIncidentId(SVC), severity: 'P2', action: 'updated' });
    expect(second.r.plan.find((s) => s.id === 'incident')?.detail).toMatch(/already open/);
    const after = await incident.describe();
    expect(after.runId).toBe(opened.runId);
    expect(after.status.name).toBe('RUNNING');
    // A signal reaching a workflow while its task runs is written after that task: poll the history.
    const signals = await eventually(
      async () => {
        const found = (await incident.fetchHistory()).events!.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'incidentAction');
        return found.length ? found : undefined;
      },
      30_000,
      'the incidentAction signal in the incident history',
    );
    expect(signals).toHaveLength(1);
    expect(JSON.parse(Buffer.from(signals[0]!.workflowExecutionSignaledEventAttributes!.input!.payloads![0]!.data!).toString())).toMatchObject({
      runbook: 'healthCheck',
      workflowId: second.h.workflowId,
      text: expect.stringMatching(/^still failing: queue report_jobs/),
    });

    // The incident's declaration reaches people by email (the incident runbook sends it).
    const mail = await env.mail.waitForMessage((m) => m.subject.includes('[INCIDENT]') && m.subject.includes(SVC), 60_000);
    expect(mail.text).toMatch(/queue report_jobs/);
  } finally {
    await env.redis.del(env.queue.failed);
  }
});

test('a Redis nobody answers is critical and maps to P1 (no incident when openIncident is false)', async () => {
  const { r } = await run({ service: DOWN, requestedBy: 'bob', checks: ['redis', 'queues', 'postgres'], openIncident: false });
  expect(r.status).toBe('critical');
  expect(byId(r, 'redis:dead-redis')).toMatchObject({ status: 'critical', severity: 'P1', value: null, detail: expect.stringMatching(/^down: /) });
  expect(byId(r, 'queues')).toMatchObject({ status: 'critical', severity: 'P2' });
  expect(byId(r, 'postgres:reports-db').status).toBe('ok');
  expect(r.incident).toBeUndefined();
  expect(r.plan.find((s) => s.id === 'incident')).toBeUndefined();
});

test('weekly: slow queries, cache hit rate and growth since the previous weekly run', async () => {
  const weekly: HealthCheckInput = { ...base, profile: 'weekly', checks: ['slow-queries', 'cache-hit-rate', 'growth'], openIncident: false };
  const first = await run(weekly);
  const growth1 = first.r.checks.filter((c) => c.check === 'growth');
  expect(growth1.map((c) => c.id).sort()).toEqual(['growth:mongo:reports-mongo', 'growth:postgres:reports-db', 'growth:redis:reports-redis']);
  for (const g of growth1) expect(g).toMatchObject({ status: 'skipped', detail: expect.stringMatching(/^skipped: no baseline/) });
  expect(byId(first.r, 'slow-queries:reports-db')).toMatchObject({ status: 'skipped', detail: expect.stringMatching(/not installed/) });

  // A week's worth of change: rows in Postgres, lookups in the cache.
  await env.pool.query('CREATE TABLE hc_growth AS SELECT g AS id, repeat(md5(g::text), 20) AS pad FROM generate_series(1, 20000) g');
  await env.redis.set(`rbt:${env.id}:analytics:1:task_totals`, '1');
  for (let i = 0; i < 5; i++) await env.redis.get(`rbt:${env.id}:analytics:1:task_totals`);
  // The stack's server preloads pg_stat_statements; the extension in this database makes it readable, and
  // two statements slower than the test's 100 ms threshold are what it must report.
  await env.pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  for (let i = 0; i < 2; i++) await env.pool.query('SELECT pg_sleep(0.25)');

  const second = await run(weekly);
  const pg = byId(second.r, 'growth:postgres:reports-db');
  expect(pg.value).toEqual(expect.any(Number));
  expect(pg.value as number).toBeGreaterThan(0);
  expect(pg.detail).toMatch(/^\d+ -> \d+ since /);
  expect(byId(second.r, 'growth:redis:reports-redis').status).not.toBe('skipped');
  const hit = byId(second.r, 'cache-hit-rate');
  expect(hit.value).toEqual(expect.any(Number));
  expect(hit.detail).toMatch(/^\d+ hits, \d+ misses since \d{4}-/);
  const slow = byId(second.r, 'slow-queries:reports-db');
  expect(slow).toMatchObject({ status: 'warning', detail: expect.stringMatching(/ms × 2: SELECT pg_sleep\(\$1\)/) });
  expect(slow.value as number).toBeGreaterThanOrEqual(1);
  // The snapshot is in the audit store, for next week.
  const rows = await env.pool.query(`SELECT data FROM runbook_audit WHERE kind = 'health-snapshot' AND workflow_id = $1`, [second.h.workflowId]);
  expect(rows.rows[0].data).toMatchObject({ service: SVC, snapshot: { postgres: { 'reports-db': { bytes: expect.any(Number) } } } });
  await saveHistoryIfRecording('health-check-weekly', second.h);
});

test('bad input is refused naming the field', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...base, service: 'nope' }, /service "nope" is not configured/],
    [{ ...base, checks: ['http', 'vibes'] }, /checks.*must be one of http, postgres/],
    [{ ...base, profile: 'hourly' }, /profile.*must be "daily" or "weekly"/],
    [{ ...base, checks: ['growth'] }, /checks.*belong to the weekly profile/],
  ];
  for (const [input, message] of cases) {
    const f = await failureOf(await start(input as HealthCheckInput));
    expect(f.type).toBe('InvalidInputError');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(message);
  }
  expect(runbookByName('health-check').parse({ ...base, profile: 'hourly' })).toMatchObject({ ok: false, error: expect.stringMatching(/profile/) });
});
