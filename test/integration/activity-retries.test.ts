// The retry branches of the activities, each run in a real activity Context (MockActivityEnvironment: attempt
// number, heartbeat details, cancellation) against the real servers of the test stack: Postgres, Redis,
// FerretDB, the demo service and the webhook sink. Only the activity context is simulated; every assertion
// reads the system the activity acted on (pg_stat_user_tables, listIndexes, the dump file, the sink, Redis,
// the audit table, the demo's platform state).
import { createHash, randomUUID } from 'node:crypto';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { AuditRow } from '../../activities/audit/store';
import { createBackupActivities } from '../../activities/backup-store/pg-dump';
import type { MaintenanceTask, ResolvedTask } from '../../activities/maintenance/types';
import { createMaintenanceLookupActivities } from '../../activities/maintenance/resolve';
import { createMaintenanceTaskActivities, type TaskRunInput } from '../../activities/maintenance/run-task';
import { toStored, type IndexSpec } from '../../activities/mongo/indexes';
import { createNotifyActivities, type Notification } from '../../activities/notify';
import { createPlatformActivities } from '../../activities/platform';
import { createQueueActivities } from '../../activities/redis/queue';
import { adminToken } from '../helpers/runs';
import { createTestEnv, eventually, workflowId, type TestEnv } from '../helpers/env';

let env: TestEnv;
let token: string;
beforeAll(async () => {
  env = await createTestEnv();
  token = adminToken(env);
});
afterAll(async () => env?.cleanup());

// The activities log through the context's logger: errors only (an expected failure is logged as a warning).
const logger = new DefaultLogger('ERROR');
const activityEnv = (info: Partial<Info> = {}): MockActivityEnvironment => new MockActivityEnvironment(info, { logger });

/** Runs `fn` (an activity call) in the activity context `mock`. */
const runIn = <R>(mock: MockActivityEnvironment, fn: () => Promise<R>): Promise<R> => mock.run<[], R, () => Promise<R>>(fn);
/** Runs `fn` as the attempt described by `info` (attempt number, heartbeat details of the previous one). */
const inAttempt = <R>(info: Partial<Info>, fn: () => Promise<R>): Promise<R> => runIn(activityEnv(info), fn);

const runbook = 'maintenance-window';

async function resolve(tasks: MaintenanceTask[]): Promise<ResolvedTask[]> {
  const lookup = createMaintenanceLookupActivities(env.deps);
  return inAttempt({}, () => lookup.resolveMaintenanceTasks({ service: 'reports', tasks }));
}

async function auditRows(id: string, kind?: string): Promise<AuditRow[]> {
  const rows = await env.deps.audit.forWorkflow(id);
  return kind ? rows.filter((r) => r.kind === kind) : rows;
}

// PostgreSQL 15 writes a VACUUM's counters straight into shared stats (pgstat_report_vacuum), and each query
// of the pool is its own transaction, so the count read here is current (no snapshot, no flush delay).
async function vacuumCount(table: string): Promise<number> {
  const r = await env.pool.query<{ n: string }>('SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relid = to_regclass($1)', [table]);
  return Number(r.rows[0]!.n);
}

/** name -> [field, direction][] plus unique/sparse, for the secondary indexes. */
function keysByName(specs: IndexSpec[]): Record<string, unknown> {
  return Object.fromEntries(
    specs.filter((s) => s.name !== '_id_').map((s) => [s.name, { key: Object.entries(s.key), unique: s.unique ?? false, sparse: s.sparse ?? false }]),
  );
}

const sha256 = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

async function adminPut(path: string, body: unknown): Promise<Response> {
  return fetch(`${env.demo.url}/admin${path}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('runMaintenanceTask', () => {
  test('a first attempt records task-started with its attempt number, runs VACUUM for real and records task-completed', async () => {
    const [task] = await resolve([{ kind: 'vacuum-analyze', table: 'reports' }]);
    const input: TaskRunInput = { workflowId: workflowId('retry-vacuum'), runId: randomUUID(), runbook, task: task! };
    const before = await vacuumCount('public.reports');

    const res = await inAttempt({ attempt: 1 }, () => createMaintenanceTaskActivities(env.deps).runMaintenanceTask(input));

    expect(res).toMatchObject({ alreadyDone: false, detail: 'VACUUM (ANALYZE) "reports"' });
    expect(await vacuumCount('public.reports')).toBe(before + 1);
    const base = `${input.workflowId}:${input.runId}:task:0`;
    const rows = await auditRows(input.workflowId);
    expect(rows.map((r) => [r.kind, r.key])).toEqual([
      ['task-started', `${base}:started:1`],
      ['task-completed', `${base}:completed`],
    ]);
    expect(rows[0]!.data).toMatchObject({ index: 0, attempt: 1 });
    expect(rows[1]!.data).toMatchObject({ index: 0, detail: res.detail, durationMs: res.durationMs });
  });

  test('a retry of a task whose completion is already in the audit store does not run it again', async () => {
    const [task] = await resolve([{ kind: 'vacuum-analyze', table: 'reports' }]);
    const input: TaskRunInput = { workflowId: workflowId('retry-done'), runId: randomUUID(), runbook, task: task! };
    // The first attempt finished the task and recorded it; the worker died before reporting the result.
    await env.deps.audit.record({
      key: `${input.workflowId}:${input.runId}:task:0:completed`,
      workflowId: input.workflowId,
      runId: input.runId,
      runbook,
      kind: 'task-completed',
      actor: 'worker',
      data: { index: 0, description: task!.description, durationMs: 42, detail: 'VACUUM (ANALYZE) "reports"' },
    });
    const before = await vacuumCount('public.reports');

    const res = await inAttempt({ attempt: 2 }, () => createMaintenanceTaskActivities(env.deps).runMaintenanceTask(input));

    expect(res).toEqual({ alreadyDone: true, durationMs: 42, detail: 'VACUUM (ANALYZE) "reports" (recorded earlier; not run again)' });
    expect(await vacuumCount('public.reports')).toBe(before);
    // Nothing was started by the retry: the only row of the run is the completion written above.
    expect((await auditRows(input.workflowId)).map((r) => r.kind)).toEqual(['task-completed']);
  });

  test('a first mongo-rebuild-indexes attempt checkpoints the original index specs and rebuilds every index with the same keys', async () => {
    const coll = env.mongo.collection('report_audit_logs');
    const original = ((await coll.listIndexes().toArray()) as IndexSpec[]).filter((i) => i.name !== '_id_');
    expect(original.map((i) => i.name).sort()).toEqual(['actor', 'report_created']);
    const [task] = await resolve([{ kind: 'mongo-rebuild-indexes', collection: 'report_audit_logs' }]);
    const input: TaskRunInput = { workflowId: workflowId('retry-mongo-first'), runId: randomUUID(), runbook, task: task! };

    const res = await inAttempt({ attempt: 1 }, () => createMaintenanceTaskActivities(env.deps).runMaintenanceTask(input));

    expect(res.alreadyDone).toBe(false);
    expect(res.detail).toMatch(/^rebuilt 2 index\(es\): /);
    const [checkpoint] = await auditRows(input.workflowId, 'task-checkpoint');
    expect(checkpoint!.key).toBe(`${input.workflowId}:${input.runId}:task:0:mongo-index-specs`);
    expect((checkpoint!.data as { specs: unknown[] }).specs).toEqual(original.map(toStored));
    const after = (await coll.listIndexes().toArray()) as IndexSpec[];
    expect(keysByName(after)).toEqual(keysByName(original));
  });

  test('a retry after a crash between drop and recreate recreates every index from the saved specs', async () => {
    const coll = env.mongo.collection('report_audit_logs');
    const all = (await coll.listIndexes().toArray()) as IndexSpec[];
    const original = all.filter((i) => i.name !== '_id_');
    const [task] = await resolve([{ kind: 'mongo-rebuild-indexes', collection: 'report_audit_logs' }]);
    const input: TaskRunInput = { workflowId: workflowId('retry-mongo-crash'), runId: randomUUID(), runbook, task: task! };
    const base = `${input.workflowId}:${input.runId}:task:0`;
    // Attempt 1, as the activity does it: started, specs saved, then the first index dropped... and the
    // worker dies before creating it again.
    const ev = { workflowId: input.workflowId, runId: input.runId, runbook, actor: 'worker' };
    await env.deps.audit.record({ ...ev, key: `${base}:started:1`, kind: 'task-started', data: { index: 0, description: task!.description, attempt: 1 } });
    await env.deps.audit.record({ ...ev, key: `${base}:mongo-index-specs`, kind: 'task-checkpoint', data: { specs: original.map(toStored) } });
    await coll.dropIndex('report_created');
    expect(((await coll.listIndexes().toArray()) as IndexSpec[]).map((i) => i.name).sort()).toEqual(['_id_', 'actor']);

    const res = await inAttempt({ attempt: 2 }, () => createMaintenanceTaskActivities(env.deps).runMaintenanceTask(input));

    expect(res.alreadyDone).toBe(false);
    expect(res.detail).toMatch(/^rebuilt 2 index\(es\): /);
    const after = (await coll.listIndexes().toArray()) as IndexSpec[];
    expect(after.map((i) => i.name).sort()).toEqual(all.map((i) => i.name).sort());
    // Same keys in the same order (a compound index's key order is the index) and the same options.
    expect(keysByName(after)).toEqual(keysByName(original));
    expect((await auditRows(input.workflowId)).map((r) => r.key)).toEqual([
      `${base}:started:1`,
      `${base}:mongo-index-specs`,
      `${base}:started:2`,
      `${base}:completed`,
    ]);
  });
});

describe('backupPostgres', () => {
  test('a retry with the same name reuses the verified dump: same checksum, file untouched', async () => {
    const backups = createBackupActivities(env.deps);
    const input = { database: 'reports-db', name: `retry-reuse-${randomUUID()}` };

    const first = await inAttempt({ attempt: 1 }, () => backups.backupPostgres(input));
    expect(first).toMatchObject({ reused: false, database: 'reports-db' });
    expect(first.tables).toBeGreaterThan(0);
    const mtime = (await stat(first.file)).mtimeMs;

    const second = await inAttempt({ attempt: 2 }, () => backups.backupPostgres(input));

    expect(second).toEqual({ ...first, reused: true });
    expect((await stat(first.file)).mtimeMs).toBe(mtime);
    // A dump holds the whole database: only the worker's user may read it.
    expect((await stat(first.file)).mode & 0o777).toBe(0o600);
    expect(await sha256(first.file)).toBe(first.sha256);
    expect((await readFile(`${first.file}.sha256`, 'utf8')).trim()).toBe(first.sha256);
  });

  test('a corrupted dump is not reused: the retry dumps again and the checksum file matches the new file', async () => {
    const backups = createBackupActivities(env.deps);
    const input = { database: 'reports-db', name: `retry-corrupt-${randomUUID()}` };
    const first = await inAttempt({ attempt: 1 }, () => backups.backupPostgres(input));
    // Flip one byte in the middle of the dump.
    const fh = await open(first.file, 'r+');
    try {
      const at = Math.floor(first.bytes / 2);
      const { buffer } = await fh.read(Buffer.alloc(1), 0, 1, at);
      await fh.write(Buffer.from([buffer[0]! ^ 0xff]), 0, 1, at);
    } finally {
      await fh.close();
    }
    const corrupted = await sha256(first.file);
    expect(corrupted).not.toBe(first.sha256);

    const retry = await inAttempt({ attempt: 2 }, () => backups.backupPostgres(input));

    expect(retry).toMatchObject({ reused: false, file: first.file, tables: first.tables });
    const now = await sha256(retry.file);
    expect(now).toBe(retry.sha256);
    expect(now).not.toBe(corrupted);
    expect((await readFile(`${retry.file}.sha256`, 'utf8')).trim()).toBe(now);
    // The attempt's temporary file was renamed into place, not left behind.
    expect((await readdir(env.backupDir)).filter((f) => f.includes(input.name)).sort()).toEqual([
      `${input.name}-reports-db.dump`,
      `${input.name}-reports-db.dump.sha256`,
    ]);
  });
});

describe('notify', () => {
  test('a retry of a notification the webhook already took does not post it again', async () => {
    const activities = createNotifyActivities(env.deps);
    const n: Notification = {
      key: `retry-notice-${randomUUID()}`,
      workflowId: workflowId('retry-notify'),
      runbook,
      severity: 'info',
      audience: 'stakeholders',
      title: 'Maintenance of reports',
      text: 'starts in 10 minutes',
    };

    const first = await inAttempt({ attempt: 1 }, () => activities.notify(n));
    const second = await inAttempt({ attempt: 2 }, () => activities.notify(n));

    expect(first).toEqual({ delivered: ['test-sink', 'email'], failed: [] });
    expect(second).toEqual({ delivered: ['test-sink', 'email'], failed: [] });
    expect(env.mail.messages().filter((m) => m.text.includes('starts in 10 minutes'))).toHaveLength(1);
    const received = env.notifications.filter((x) => x.body.key === n.key);
    expect(received).toHaveLength(1);
    expect(received[0]!.headers['idempotency-key']).toBe(n.key);
    const delivered = await auditRows(n.workflowId, 'notification-delivered');
    // Channels are tried at once: their records may land in either order.
    expect(delivered.map((r) => [r.key, r.data]).sort()).toEqual([
      [`notify:${n.key}:email`, { channel: 'email' }],
      [`notify:${n.key}:test-sink`, { channel: 'test-sink' }],
    ]);
    expect(await auditRows(n.workflowId, 'notification')).toHaveLength(1);
  });
});

describe('waitForQueueDrain', () => {
  test("a retry goes on with the first attempt's clock from heartbeat details and gives up at once when it has run out", async () => {
    const queue = createQueueActivities(env.deps);
    expect((await adminPut('/workers', { replicas: 0 })).status).toBe(200);
    try {
      await env.redis.lpush(env.queue.pending, JSON.stringify({ id: 'x', reportId: 1 }));
      const startedAt = Date.now() - 10_000;
      const retry = activityEnv({ attempt: 2, heartbeatDetails: { startedAt } });
      const beats: unknown[] = [];
      retry.on('heartbeat', (d: unknown) => beats.push(d));

      const t0 = Date.now();
      const res = await runIn(retry, () => queue.waitForQueueDrain({ service: 'reports', timeoutMs: 5000, pollMs: 2000 }));

      expect(Date.now() - t0).toBeLessThan(1500); // not one poll: the 5 s ran out during the first attempt
      expect(res).toMatchObject({ drained: false, pending: 1, processing: 0 });
      expect(res.waitedMs).toBeGreaterThanOrEqual(10_000);
      // The retry heartbeats the original start, so a third attempt would resume the same clock.
      expect(beats[0]).toMatchObject({ startedAt, pending: 1 });

      // A first attempt (no heartbeat details) starts its own clock and waits its whole timeout.
      const fresh = await inAttempt({ attempt: 1 }, () => queue.waitForQueueDrain({ service: 'reports', timeoutMs: 300, pollMs: 50 }));
      expect(fresh).toMatchObject({ drained: false, pending: 1 });
      expect(fresh.waitedMs).toBeGreaterThanOrEqual(300);
      expect(fresh.waitedMs).toBeLessThan(5000);
      expect(await env.redis.llen(env.queue.pending)).toBe(1);
    } finally {
      expect((await adminPut('/workers', { replicas: 2 })).status).toBe(200);
    }
    await eventually(async () => (await env.redis.llen(env.queue.pending)) + (await env.redis.llen(env.queue.processing)) === 0, 10_000, 'the queue to drain');
  });
});

describe('resolveMaintenanceTasks', () => {
  test('a table that does not exist is an InvalidTargetError naming the field tasks[0].table', async () => {
    const err = await resolve([{ kind: 'vacuum-analyze', table: 'public.no_such_table' }]).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('InvalidTargetError');
    expect(err?.message).toBe('tasks[0].table: relation "public.no_such_table" does not exist in reports-db');
  });

  test("a task naming no database runs on the service's first postgres (or mongo) target", async () => {
    const resolved = await resolve([
      { kind: 'analyze', table: 'public.report_runs' },
      { kind: 'mongo-rebuild-indexes', collection: 'report_audit_logs' },
    ]);
    const svc = env.config.services.reports!;
    expect(svc.postgres[0]).toBe('reports-db');
    expect(resolved.map((t) => [t.index, t.database, t.task.database])).toEqual([
      [0, svc.postgres[0], svc.postgres[0]],
      [1, svc.mongo[0], svc.mongo[0]],
    ]);
  });
});

describe('restartWorkers', () => {
  test('the same requestId twice restarts once: the second answer is repeated and the generation stays', async () => {
    const platform = createPlatformActivities(env.deps);
    const input = { service: 'reports', mode: 'force' as const, requestId: randomUUID() };
    const before = env.demo.generation();

    const first = await inAttempt({ attempt: 1 }, () => platform.restartWorkers(input));
    expect(first).toMatchObject({ repeated: false, generation: before + 1, requestId: input.requestId });
    expect(env.demo.generation()).toBe(before + 1);

    // The reply was lost; the retry sends the same request id.
    const second = await inAttempt({ attempt: 2 }, () => platform.restartWorkers(input));

    expect(second).toEqual({ ...first, repeated: true });
    expect(env.demo.generation()).toBe(before + 1);
    expect((await inAttempt({}, () => platform.platformState({ service: 'reports' }))).generation).toBe(before + 1);
    await eventually(async () => env.demo.replicas() === 2, 5000, 'two processors again');
  });
});
