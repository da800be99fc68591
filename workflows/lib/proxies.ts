// Activity proxies, one per capability, each with its timeouts and retry policy defined once here.
// Activities are imported as types only: workflow code never loads activity code.
import { proxyActivities, type ActivityOptions, type RetryPolicy } from '@temporalio/workflow';
import type {
  AuditActivities,
  BackupActivities,
  BackupSetActivities,
  CacheInvalidateActivities,
  CacheStatsActivities,
  CacheWarmActivities,
  CertificateActivities,
  ConnectivityActivities,
  DataRollbackActivities,
  HealthActivities,
  HealthCheckActivities,
  IncidentActivities,
  LockActivities,
  MaintenanceLookupActivities,
  MaintenanceTaskActivities,
  MongoBackupActivities,
  NotifyActivities,
  PlatformActivities,
  RecoveryActivities,
  ProbeActivities,
  QueueActivities,
  QueueRecoveryActivities,
  RestoreActivities,
  RestoreLiveActivities,
  RollbackActivities,
  ServedCertificateActivities,
  TargetActivities,
  VerifyActivities,
} from '../../activities';
import { NON_RETRYABLE_ERROR_TYPES } from './errors';

const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 5,
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
};

const quick: ActivityOptions = { startToCloseTimeout: '30s', retry };

/** Read-only lookups of configured targets, approvers and what a run's input names. */
export const lookups = proxyActivities<TargetActivities & MaintenanceLookupActivities & RollbackActivities>(quick);

/** An incident's settings (severity, ladder, people) read from configuration when it is declared. */
export const incidentLookups = proxyActivities<IncidentActivities>(quick);

/** Health and connectivity probes: unhealthy is a result, so these fail only when they cannot ask. */
export const health = proxyActivities<HealthActivities & ConnectivityActivities>(quick);

/** The health-check runbook's checks: each bounded to seconds inside the activity (a hung server is a result). */
export const healthChecks = proxyActivities<HealthCheckActivities>({ startToCloseTimeout: '2m', retry });

/**
 * Audit writes. Ordinary activities, not local ones: a local activity started from an update handler
 * while the main flow runs another completes in an order that replay cannot reproduce (a nondeterminism
 * error the replay test caught).
 */
export const audit = proxyActivities<AuditActivities>(quick);

/** Notifications: several webhooks in turn, each with an idempotency key. */
export const notifier = proxyActivities<NotifyActivities>({ startToCloseTimeout: '1m', retry });

/**
 * The platform port: scale, maintenance mode, restart. Every call is idempotent (to-N, request ids). The
 * heartbeat timeout bounds how long a call of a worker that died goes unnoticed (a scale heartbeats while it
 * waits for ready replicas; the other calls answer within seconds), and a retry is safe.
 */
export const platform = proxyActivities<PlatformActivities>({ startToCloseTimeout: '1m', heartbeatTimeout: '20s', retry });

/** Queue depth and probe jobs (the waits are in `waits`). */
export const queues = proxyActivities<QueueActivities & ProbeActivities>(quick);

/** Smoke requests and Prometheus checks after a change. */
export const verify = proxyActivities<VerifyActivities>({ startToCloseTimeout: '2m', retry });

/** Database rollback steps: each saves what it changes in the same transaction, so a retry changes nothing twice. */
export const dataRollback = proxyActivities<DataRollbackActivities>({ startToCloseTimeout: '10m', heartbeatTimeout: '30s', retry });

/** Target locks: signal-with-start of the lock workflow, and whether a holder still runs. */
export const locks = proxyActivities<LockActivities>(quick);

/** Work that may take long (backups, maintenance tasks): heartbeats, so a dead worker is noticed in 10s. */
const long: ActivityOptions = { startToCloseTimeout: '4h', heartbeatTimeout: '10s', retry: { ...retry, maximumAttempts: 3 } };
export const backups = proxyActivities<BackupActivities & MongoBackupActivities>(long);
export const maintenanceTasks = proxyActivities<MaintenanceTaskActivities>(long);
/** Backup sets (the backup runbook): dumps streamed into the backup store, manifest, verification, retention. */
export const backupSets = proxyActivities<BackupSetActivities>(long);
/** Restores into scratch copies, their comparison with the manifest and their cleanup (restore drills). */
export const restores = proxyActivities<RestoreActivities>(long);
/** Restores over live data (the restore runbook): plan and check, safety set, replace, verify against a manifest. */
export const liveRestores = proxyActivities<RestoreLiveActivities>(long);
/** Disaster recovery in place: what each store holds, waiting for servers, whole stores rebuilt from a set. */
export const recovery = proxyActivities<RecoveryActivities>(long);

/** Redis's own counters and the hit rate over a window (the activity waits the window out, heartbeating). */
export const cacheStats = proxyActivities<CacheStatsActivities>({ startToCloseTimeout: '15m', heartbeatTimeout: '10s', retry });
/**
 * Cache warming: one long activity that heartbeats its progress, so a retry resumes where a dead worker
 * stopped. A blown error budget is final: a retry would only make more errors.
 */
export const cacheWarming = proxyActivities<CacheWarmActivities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '10s',
  retry: { ...retry, maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES, 'ErrorBudgetExceeded'] },
});

/**
 * Cache invalidation: counting (read-only), unlinking and TTL hygiene, each one SCAN over the keyspace that
 * heartbeats its cursor; a retried unlink resumes from it.
 */
export const cacheInvalidation = proxyActivities<CacheInvalidateActivities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '10s',
  retry: { ...retry, maximumAttempts: 3 },
});

/** Queue recovery: reading queues (quick) and moving jobs, chunk by chunk with heartbeats (long). */
export const queueChecks = proxyActivities<Pick<QueueRecoveryActivities, 'resolveQueueRecovery' | 'checkQueues' | 'bullmqPause' | 'bullmqResume'>>(quick);
export const queueMoves = proxyActivities<QueueRecoveryActivities>(long);
/** Waiting for BullMQ queues to drain, bounded by `timeoutMs` (the list layout's wait is in `waits`). */
export function bullmqWaits(timeoutMs: number): Pick<QueueRecoveryActivities, 'waitForBullmqDrain'> {
  return proxyActivities<QueueRecoveryActivities>({
    startToCloseTimeout: timeoutMs + 60_000,
    heartbeatTimeout: '10s',
    retry: { ...retry, maximumAttempts: 3 },
  });
}

/** A heartbeating wait bounded by `timeoutMs` (a queue draining, workers recovering, a rollout). */
export function waits(
  timeoutMs: number,
): Pick<QueueActivities & ProbeActivities & PlatformActivities, 'waitForQueueDrain' | 'waitForRecovery' | 'waitForRollout'> {
  return proxyActivities<QueueActivities & ProbeActivities & PlatformActivities>({
    startToCloseTimeout: timeoutMs + 60_000,
    heartbeatTimeout: '10s',
    retry: { ...retry, maximumAttempts: 3 },
  });
}

/** TLS certificate renewal: openssl and nginx calls take seconds; the TLS verification polls, with heartbeats. */
export const certificates = proxyActivities<CertificateActivities & ServedCertificateActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '20s',
  retry,
});
