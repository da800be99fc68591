// Durability of the emergency rollback: the real worker process is SIGKILLed mid-rollback and a new one
// takes over. Each step takes effect once: one rollback revision on the platform, each database step's
// rows saved and changed once (never saved again after the change), one incident, one audit record each.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EmergencyRollbackResult } from '../../workflows/emergency-rollback/contract';
import { createTestEnv, eventually, type TestEnv } from '../helpers/env';
import { admin, startRun } from '../helpers/runs';
import { exited, startWorkerProcess } from '../helpers/worker-process';

let env: TestEnv;
let dir: string;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv({ initialVersions: ['v1.4.2', 'v1.5.0'] });
  dir = mkdtempSync(path.join(tmpdir(), 'rbt-rollback-crash-'));
});

afterAll(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  await env?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('SIGKILL of the worker mid-rollback: a new worker finishes it, every step took effect once', async () => {
  const first = await startWorkerProcess(env, dir);
  workers.push(first.child);
  const h = await startRun<EmergencyRollbackResult>(env, 'emergencyRollback', { service: 'reports', requestedBy: 'bob', verifyWindow: '1s' });
  const audit = async (kind: string) => (await env.deps.audit.forWorkflow(h.workflowId)).filter((a) => a.kind === kind);
  // Killed the moment the deployment is rolled back: the database steps are next, or in flight.
  await eventually(async () => (await audit('deployment-rolled-back')).length > 0, 60_000, 'the deployment to be rolled back');
  first.child.kill('SIGKILL');
  expect(await exited(first.child)).toBeNull();

  const second = await startWorkerProcess(env, dir);
  workers.push(second.child);
  const r = await h.result();
  expect(r.outcome).toBe('completed');

  const d = (await (await admin(env, 'GET', '/deployment')).json()) as { current: { version: string }; history: Array<{ cause: string }> };
  expect(d.current.version).toBe('v1.4.2');
  expect(d.history.map((x) => x.cause)).toEqual(['deploy', 'deploy', 'rollback']);
  expect(await audit('deployment-rolled-back')).toHaveLength(1);
  for (const step of r.data) {
    expect((await audit('data-rolled-back')).filter((a) => (a.data as { id: string }).id === step.id)).toHaveLength(1);
    // What was saved for the undo is what was counted before any change: saved once, never re-saved.
    expect([step.id, step.saved ?? 0]).toEqual([step.id, step.count]);
  }
  const saved = await env.pool.query<{ n: string }>('SELECT count(*) AS n FROM runbook_saved_rows');
  const savedDocs = await env.mongo.collection('runbook_saved_documents').countDocuments();
  expect(Number(saved.rows[0]!.n) + savedDocs).toBe(r.data.reduce((n, s) => n + s.count, 0));
  expect(await env.deps.audit.incidents('reports')).toHaveLength(1);
  expect(r.integrity?.ok).toBe(true);

  second.child.kill('SIGTERM');
  expect(await exited(second.child)).toBe(0);
});
