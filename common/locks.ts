// Names of the exclusive-target lock (workflows/lib/target-lock.ts), shared with the activity that asks
// for it with signal-with-start (activities/locks.ts). One lock workflow per target key.
export const LOCK_WORKFLOW_TYPE = 'targetLock';

export const LockSignal = {
  /** runbook -> lock: I want the target. */
  request: 'lockRequest',
  /** runbook -> lock: I am done with it. */
  release: 'lockRelease',
  /** lock -> runbook: it is yours. */
  granted: 'lockGranted',
  /** lock -> runbook: someone else holds it and you asked not to wait. */
  refused: 'lockRefused',
  /** lock -> runbook: someone else holds it; you are in line. */
  queued: 'lockQueued',
} as const;

/**
 * Workflow id of the lock of `key` on a task queue, e.g. lock:runbooks:service:reports. The lock runs on the
 * task queue of the runs that use it, so the same workers serve it; runs on different task queues do not
 * exclude each other.
 */
export function lockWorkflowId(taskQueue: string, key: string): string {
  return `lock:${taskQueue}:${key}`;
}

export interface LockRequest {
  key: string;
  /** Workflow id of the requesting run (continue-as-new keeps it, so the lock follows the run). */
  holder: string;
  runbook: string;
  /** Unique per request; a repeated request (a retried activity) is recognised by it. */
  requestId: string;
  mode: 'wait' | 'refuse';
}

export interface LockRelease {
  holder: string;
  requestId: string;
}

export interface LockNotice {
  key: string;
  requestId: string;
  /** Who holds the target (granted: the requester itself). */
  holder: string;
  holderRunbook: string;
  since: string;
  /** queued: place in line, 1 = next. */
  position?: number;
}

export interface LockWorkflowInput {
  key: string;
  /** How often the lock checks that its holder still runs: a terminated holder blocks at most this long. */
  checkEveryMs: number;
}
