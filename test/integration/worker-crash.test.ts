// Durability: the real worker process (workers/main.ts) is SIGKILLed mid-run and a new one takes over.
// The run completes and the audit store shows every task completed exactly once, and the finished task
// was not started again. The new worker's /metrics serves runbook metrics and the SDK's own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { MaintenanceWindowInput, MaintenanceWindowResult } from '../../workflows/maintenance-window/contract';
import { castVote } from '../../client/runbooks';
import { pendingApprovals } from '../../workflows/lib/approval';
import { createTestEnv, eventually, maintenanceInput, workflowId, type TestEnv } from '../helpers/env';
import { exited, startWorkerProcess as startWorker } from '../helpers/worker-process';

let env: TestEnv;
let dir: string;
const workers: ChildProcess[] = [];

async function startWorkerProcess(): Promise<Awaited<ReturnType<typeof startWorker>>> {
  const w = await startWorker(env, dir);
  workers.push(w.child);
  return w;
}

beforeAll(async () => {
  env = await createTestEnv();
  dir = mkdtempSync(path.join(tmpdir(), 'rbt-worker-'));
  await env.pool.query('CREATE MATERIALIZED VIEW slow_stats AS SELECT 1 AS id, pg_sleep(2)::text AS slept');
  await env.pool.query('CREATE UNIQUE INDEX slow_stats_id ON slow_stats (id)');
});

afterAll(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  await env?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('SIGKILL of the worker mid-run: a new worker finishes it, each task completed exactly once', async () => {
  const first = await startWorkerProcess();
  const input: MaintenanceWindowInput = maintenanceInput({
    tasks: [
      { kind: 'vacuum-analyze', table: 'reports' },
      { kind: 'refresh-materialized-view', view: 'slow_stats' },
      { kind: 'analyze', table: 'report_runs' },
      { kind: 'mongo-rebuild-indexes', collection: 'report_audit_logs' },
    ],
  });
  const h = await env.client.workflow.start<(i: MaintenanceWindowInput) => Promise<MaintenanceWindowResult>>('maintenanceWindow', {
    taskQueue: env.taskQueue,
    workflowId: workflowId('mw-crash'),
    args: [input],
  });
  await eventually(async () => (await h.query(pendingApprovals)).status === 'pending', 30_000, 'the approval gate');
  await castVote(env.client, h.workflowId, { approver: 'dave', decision: 'approve' });

  // Kill the moment the first task is recorded done: the slow second task is then in flight.
  await eventually(async () => env.deps.audit.find(`${h.workflowId}:${(await h.describe()).runId}:task:0:completed`), 60_000, 'task 0 to complete');
  first.child.kill('SIGKILL');
  expect(await exited(first.child)).toBeNull();

  const second = await startWorkerProcess();
  const result = await h.result();
  expect(result.outcome).toBe('completed');
  expect(result.tasks.map((t) => t.status)).toEqual(['done', 'done', 'done', 'done']);

  const audit = await env.deps.audit.forWorkflow(h.workflowId);
  const count = (kind: string, index: number): number => audit.filter((r) => r.kind === kind && (r.data as { index?: number }).index === index).length;
  for (const i of [0, 1, 2, 3]) expect(count('task-completed', i)).toBe(1);
  // The task finished before the kill was not started again by the new worker.
  expect(count('task-started', 0)).toBe(1);
  expect(await env.redis.llen(env.queue.pending)).toBe(0);

  // The new worker's /metrics: it finished the run, it did not count the start again (replayed), and
  // the Temporal SDK's metrics are served alongside.
  const metrics = await (await fetch(`${second.metricsUrl}/metrics`)).text();
  expect(metrics).toMatch(/^runbook_runs_completed_total\{runbook="maintenanceWindow",outcome="completed"\} 1$/m);
  expect(metrics).not.toMatch(/^runbook_runs_started_total\{/m);
  expect(metrics).toMatch(/^runbook_approvals_pending \d+$/m);
  expect(metrics).toMatch(/^runbook_step_duration_seconds_count\{runbook="maintenanceWindow",kind="task",status="done"\} \d+$/m);
  expect(metrics).toMatch(/^temporal_workflow_completed\{/m);

  // Graceful shutdown: SIGTERM lets the worker drain and exit 0.
  second.child.kill('SIGTERM');
  expect(await exited(second.child)).toBe(0);
});
