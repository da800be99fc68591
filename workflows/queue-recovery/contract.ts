// The queue-recovery runbook's contract (seed 000 Job Queue Management, 004 Monitoring Queue Health): input
// schema, result, example input and the summary lines.
import { z } from 'zod';
import type {
  BullCleanResult,
  BullDrainResult,
  BullRetryResult,
  DrainResult,
  QueueReport,
  QueueStatus,
  RetryFailedResult,
  StuckResult,
} from '../../activities';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, duration, targetName } from '../lib/schema';

export const queueName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a queue name: 1-64 letters, digits, _ and -');

const count = z.number().int().min(0, 'must be a non-negative integer').max(100_000_000);

export const thresholdsSchema = z
  .object({
    warning: count.optional().describe('waiting jobs above this: warning'),
    critical: count.optional().describe('waiting jobs above this: critical'),
    failedWarning: count.optional().describe('failed jobs above this: warning'),
    failedCritical: count.optional().describe('failed jobs above this: critical'),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.warning !== undefined && t.critical !== undefined && t.warning > t.critical)
      ctx.addIssue({ code: 'custom', path: ['warning'], message: `must not be above critical (${t.critical})` });
    if (t.failedWarning !== undefined && t.failedCritical !== undefined && t.failedWarning > t.failedCritical)
      ctx.addIssue({ code: 'custom', path: ['failedWarning'], message: `must not be above failedCritical (${t.failedCritical})` });
  });

export const DEFAULT_CHUNK = 500;
export const DEFAULT_DRAIN_TIMEOUT = '10m';

export const queueRecoveryInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service whose queues to check or recover, e.g. "reports"'),
    mode: z
      .enum(['check', 'recover', 'drain', 'pause', 'resume'])
      .default('check')
      .describe(
        'check: report depths against thresholds, change nothing; recover: stuck and failed jobs back to work; drain: wait until nothing is waiting or active; pause / resume: BullMQ queues stop / start handing jobs to workers (jobs keep arriving)',
      ),
    queues: z
      .array(queueName)
      .min(1)
      .max(50)
      .refine((q) => new Set(q).size === q.length, 'must not name a queue twice')
      .optional()
      .describe('queue names (default all: the list-layout queue, e.g. report_jobs, and every BullMQ queue); an unknown name is refused, listing the known'),
    retryFailed: z.boolean().default(true).describe('recover: put failed jobs back (those failed when the run started; later failures stay)'),
    recoverStuck: z.boolean().default(true).describe('recover: put back jobs held in processing longer than stuckAfter (list layout)'),
    stuckAfter: duration('7d').optional().describe("recover: a job claimed longer ago than this is stuck (default the service's queue.stuckAfter)"),
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .max(100)
      .optional()
      .describe("recover: a stuck job put back this many times goes to failed instead (default the service's queue.maxAttempts)"),
    clean: z
      .object({
        completedOlderThan: duration('365d').optional().describe('remove completed BullMQ jobs that finished longer ago than this'),
        failedOlderThan: duration('365d')
          .optional()
          .describe('remove failed BullMQ jobs that failed longer ago than this (after the retry: only those not retried)'),
      })
      .strict()
      .refine((c) => c.completedOlderThan !== undefined || c.failedOlderThan !== undefined, 'must say completedOlderThan and/or failedOlderThan')
      .optional()
      .describe('recover, BullMQ only, destructive: the plan and a dry run show how many jobs it removes; needs approval outside local'),
    chunk: z.number().int().min(1).max(10_000).default(DEFAULT_CHUNK).describe('recover: jobs moved per atomic step'),
    chunkPauseMs: z.number().int().min(0).max(5000).default(0).describe('recover: pause between chunks, leaving Redis to the service on a large backlog'),
    drainTimeout: duration('4h').default(DEFAULT_DRAIN_TIMEOUT).describe('drain: give up waiting after this (the run then completes with a warning)'),
    thresholds: thresholdsSchema
      .optional()
      .describe("override the service's thresholds (seed 004: waiting > 500 warning, > 1000 critical; failed > 100, > 500)"),
  })
  .strict()
  .superRefine((i, ctx) => {
    if (i.clean !== undefined && i.mode !== 'recover') ctx.addIssue({ code: 'custom', path: ['clean'], message: 'applies to mode "recover" only' });
  });

export type QueueRecoveryInput = z.input<typeof queueRecoveryInputSchema>;
export type QueueRecoveryParams = z.output<typeof queueRecoveryInputSchema>;

/** Every job of one queue, before and after, and what the run did to it. */
export interface QueueAccount {
  queue: string;
  layout: 'list' | 'bullmq';
  before: Record<string, number>;
  after?: Record<string, number>;
  /** failed -> pending / waiting. */
  retried: number;
  /** Stuck: back to pending, or to failed at maxAttempts. */
  requeued: number;
  toFailed: number;
  /** Cleaned (deleted) BullMQ jobs. */
  removed: number;
}

export interface QueueRecoveryResult extends RunbookResult {
  service: string;
  mode: QueueRecoveryParams['mode'];
  /** pause / resume: the BullMQ queues switched. */
  switched?: string[];
  /** The worst status of the queues when the run looked first. */
  status: QueueStatus;
  before: QueueReport[];
  after?: QueueReport[];
  accounts: QueueAccount[];
  stuck?: StuckResult;
  retried?: RetryFailedResult;
  bullmqRetried: BullRetryResult[];
  cleaned: BullCleanResult[];
  drain?: { list?: DrainResult; bullmq?: BullDrainResult };
}

export function exampleQueueRecoveryInput(): QueueRecoveryInput {
  return { service: 'reports', requestedBy: 'bob', reason: 'failed jobs piled up after the outage', mode: 'recover', chunk: 500 };
}

export function countsOf(r: QueueReport): Record<string, number> {
  return r.layout === 'list'
    ? { pending: r.pending, processing: r.processing, failed: r.failed, stuck: r.stuck }
    : { waiting: r.waiting, active: r.active, delayed: r.delayed, prioritized: r.prioritized, failed: r.failed, completed: r.completed };
}

const counts = (c: Record<string, number>): string =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

export function describeReport(r: QueueReport): string {
  return `${r.name} (${r.layout === 'list' ? 'list' : `BullMQ${r.paused ? ', paused' : ''}`}): ${counts(countsOf(r))}: ${r.status}${r.reasons.length ? ` (${r.reasons.join('; ')})` : ''}`;
}

export function describeAccount(a: QueueAccount): string {
  const did = [
    a.retried ? `retried ${a.retried}` : '',
    a.requeued ? `stuck put back ${a.requeued}` : '',
    a.toFailed ? `stuck to failed ${a.toFailed}` : '',
    a.removed ? `cleaned ${a.removed}` : '',
  ].filter(Boolean);
  return `${a.queue}: before ${counts(a.before)}${a.after ? `; after ${counts(a.after)}` : ''}${did.length ? `; ${did.join(', ')}` : '; nothing moved'}`;
}

export function summarizeQueueRecovery(r: QueueRecoveryResult): string[] {
  if (r.mode === 'check' || !r.accounts.length) return [`${r.service} queues: ${r.status}`, ...r.before.map(describeReport)];
  const lines = [`${r.service} queues (${r.mode}), status before: ${r.status}`, ...r.accounts.map(describeAccount)];
  if (r.retried) lines.push(`list retry: ${r.retried.moved} of ${r.retried.total} moved in ${r.retried.chunks} chunk(s), ${(r.retried.ms / 1000).toFixed(1)}s`);
  if (r.drain?.list) lines.push(`list drain: ${r.drain.list.drained ? 'drained' : 'NOT drained'} after ${(r.drain.list.waitedMs / 1000).toFixed(1)}s`);
  if (r.switched) lines.push(`${r.mode === 'pause' ? 'paused' : 'resumed'}: ${r.switched.join(', ') || 'nothing'}`);
  if (r.drain?.bullmq) lines.push(`BullMQ drain: ${r.drain.bullmq.drained ? 'drained' : 'NOT drained'} after ${(r.drain.bullmq.waitedMs / 1000).toFixed(1)}s`);
  return lines;
}
