import { Runtime, Worker, bundleWorkflowCode, type NativeConnection } from '@temporalio/worker';
import { createActivities, type Deps } from '../activities';
import type { RunbookSinks } from '../workflows/lib/progress';
import { RunbookMetrics } from './metrics';

export interface RunbookWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: Deps;
  metrics?: RunbookMetrics;
  /** A prebuilt bundle (tests build one per run); default: bundle workflows/ at start. */
  workflowBundle?: { codePath: string };
  identity?: string;
  /** How long running activities may finish after a shutdown signal (default 30s). */
  shutdownGraceTimeMs?: number;
}

/** Bundles workflows/ for the sandbox, passing on only webpack's warnings and errors (not its stats). */
async function bundleWorkflows(): Promise<{ code: string }> {
  const log = Runtime.instance().logger;
  const quiet = { trace() {}, debug() {}, info() {}, log() {}, warn: log.warn.bind(log), error: log.error.bind(log) };
  return bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quiet });
}

/** The runbook worker: every workflow in workflows/, every activity wired to the shared connections. */
export async function createRunbookWorker(opts: RunbookWorkerOptions): Promise<Worker> {
  const metrics = opts.metrics ?? new RunbookMetrics();
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: opts.workflowBundle ?? (await bundleWorkflows()),
    activities: createActivities(opts.deps),
    sinks: metrics.sinks(),
    ...(opts.identity ? { identity: opts.identity } : {}),
    // On SIGTERM/SIGINT: stop polling, let running activities finish for this long, then cancel them
    // (they heartbeat, so they see the cancellation and stop their work cleanly).
    shutdownGraceTime: opts.shutdownGraceTimeMs ?? 30_000,
    maxConcurrentActivityTaskExecutions: 20,
  });
}

export type { RunbookSinks };
