// Activity proxies with the retry policies runbooks share. Activities are imported as a type only.
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { NON_RETRYABLE_ERROR_TYPES } from './errors';

const retry = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 5,
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
};

/**
 * Short calls: lookups, health checks, notifications, platform calls, audit writes. Audit writes are
 * ordinary activities, not local ones: a local activity started from an update handler while the main
 * flow runs another completes in an order that replay cannot reproduce (a nondeterminism error the
 * replay test caught).
 */
export const quick = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry });

/** Work that may take long (backups, maintenance tasks): heartbeats, so a dead worker is noticed in 10s. */
export const long = proxyActivities<Activities>({
  startToCloseTimeout: '4h',
  heartbeatTimeout: '10s',
  retry: { ...retry, maximumAttempts: 3 },
});

/** A heartbeating wait bounded by `timeoutMs` (e.g. draining a queue). */
export function waiting(timeoutMs: number): Activities {
  const options: ActivityOptions = {
    startToCloseTimeout: timeoutMs + 60_000,
    heartbeatTimeout: '10s',
    retry: { ...retry, maximumAttempts: 3 },
  };
  return proxyActivities<Activities>(options);
}
