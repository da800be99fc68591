// The job format shared by whoever enqueues (the public API, probes) and the processors that consume it.
import { randomBytes } from 'node:crypto';

export interface QueueNames {
  pending: string;
  processing: string;
  failed: string;
}

export const DEFAULT_QUEUE: QueueNames = { pending: 'report_jobs_queue', processing: 'report_jobs_processing', failed: 'report_jobs_failed' };

export interface Job {
  id: string;
  reportId: number;
  fail?: boolean;
  /** Set on an operator's probe job: its status is tracked under this id (see probes.ts). */
  probe?: string;
  /** Times queue recovery put the job back after a processor held it too long (stuck). */
  attempts?: number;
}

/**
 * The hash beside the processing list: job id -> when a processor took it (ms). Queue recovery reads it to
 * tell a stuck job from a busy one; an entry is removed when its job leaves the processing list.
 */
export const claimsKey = (q: QueueNames): string => `${q.processing}:claims`;

/**
 * When a processor last completed a job (ms since the epoch), beside the queue: the health check's
 * background-job freshness reads it (services.<svc>.health.jobs).
 */
export const lastCompletedKey = (q: QueueNames): string => `${q.pending}:last-completed`;

export function newJobId(): string {
  return `${Date.now()}-${randomBytes(3).toString('hex')}`;
}

/** A job read back from Redis; undefined when someone pushed something that is not one. */
export function parseJob(raw: string): Job | undefined {
  try {
    const job = JSON.parse(raw) as unknown;
    return typeof job === 'object' && job !== null ? (job as Job) : undefined;
  } catch {
    return undefined;
  }
}
