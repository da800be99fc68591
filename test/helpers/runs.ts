// Helpers every runbook test shares: start a run on the test env's task queue, wait for its gate, read the
// demo service's platform state, put jobs on its queue, and read how a run failed.
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { pendingApprovals } from '../../workflows/lib/approval';
import { plan } from '../../workflows/lib/progress';
import type { PlanStep, RunbookResult } from '../../workflows/lib/result';
import { eventually, workflowId, type TestEnv } from './env';

export type RunHandle<R extends RunbookResult = RunbookResult> = WorkflowHandle<(input: unknown) => Promise<R>>;

export function startRun<R extends RunbookResult>(env: TestEnv, type: string, input: unknown, id = workflowId(type)): Promise<RunHandle<R>> {
  return env.client.workflow.start<(input: unknown) => Promise<R>>(type, { taskQueue: env.taskQueue, workflowId: id, args: [input] });
}

export async function gateOpen(h: WorkflowHandle, timeoutMs = 20_000): Promise<void> {
  await eventually(async () => (await h.query(pendingApprovals)).status === 'pending', timeoutMs, `the approval gate of ${h.workflowId} to open`);
}

export async function stepReaches(h: WorkflowHandle, id: string, status: PlanStep['status'], timeoutMs = 20_000): Promise<PlanStep> {
  return eventually(
    async () => (await h.query(plan)).find((s) => s.id === id && s.status === status),
    timeoutMs,
    `step ${id} of ${h.workflowId} to be ${status}`,
  );
}

export interface DemoState {
  replicas: number;
  maintenance: boolean;
  busy: number;
  generation?: number;
  wedged?: number;
  rollout?: { status: string; generation: number; updated: number; total: number };
}

/** The bearer token of the env's demo admin API (the local platform adapter's secret). */
export function adminToken(env: TestEnv): string {
  return (env.rawConfig.services.reports!.platform as { token: string }).token;
}

export async function admin(env: TestEnv, method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<Response> {
  return fetch(`${env.demo.url}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken(env)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

export async function platform(env: TestEnv): Promise<DemoState> {
  return (await (await admin(env, 'GET', '/state')).json()) as DemoState;
}

/** Puts the demo service back as every test expects to find it: 2 processors, maintenance off. */
export async function resetPlatform(env: TestEnv): Promise<void> {
  await admin(env, 'PUT', '/maintenance', { enabled: false });
  await admin(env, 'PUT', '/workers', { replicas: 2 });
}

export async function enqueue(env: TestEnv, n: number, prefix = 'seed'): Promise<void> {
  const jobs = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${prefix}-${i}`, reportId: 1 + (i % 200) }));
  await env.redis.lpush(env.queue.pending, ...jobs);
}

export async function failureOf(h: WorkflowHandle): Promise<ApplicationFailure> {
  const err = await h.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof WorkflowFailedError)) throw new Error(`expected ${h.workflowId} to fail, it ended with ${String(err)}`);
  if (!(err.cause instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(err.cause)}`);
  return err.cause;
}
