import { Worker, type NativeConnection } from '@temporalio/worker';
import { createActivities, type Deps } from '../activities';
import type { RunbookSinks } from '../workflows/lib/runbook';
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

/** The runbook worker: every workflow in workflows/, every activity wired to the shared connections. */
export function createRunbookWorker(opts: RunbookWorkerOptions): Promise<Worker> {
  const metrics = opts.metrics ?? new RunbookMetrics();
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
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
