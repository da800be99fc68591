// All activities, grouped by the capability they give; each group is a factory taking the worker's shared
// connections and exports its type, which workflows import as a type only (workflows/lib/proxies.ts).
import { createAuditActivities } from './audit';
import { createMongoBackupActivities } from './backup-store/mongo-export';
import { createBackupSetActivities } from './backups/backup';
import { createBackupActivities } from './backup-store/pg-dump';
import { createRestoreActivities } from './backups/restore';
import { createRestoreLiveActivities } from './backups/restore-live';
import { createRecoveryActivities } from './backups/recover';
import { createCacheInvalidateActivities } from './cache/invalidate';
import { createCacheStatsActivities } from './cache/stats';
import { createCacheWarmActivities } from './cache/warm';
import { createConnectivityActivities } from './connectivity';
import { createDataRollbackActivities } from './data-rollback';
import type { Deps } from './deps';
import { createHealthActivities } from './http/health';
import { createHealthCheckActivities } from './health';
import { createIncidentActivities } from './incident';
import { createProbeActivities } from './http/probe';
import { createLockActivities } from './locks';
import { createMaintenanceLookupActivities } from './maintenance/resolve';
import { createMaintenanceTaskActivities } from './maintenance/run-task';
import { createNotifyActivities } from './notify';
import { createPlatformActivities } from './platform';
import { createQueueActivities } from './redis/queue';
import { createQueueRecoveryActivities } from './queues/recovery';
import { createRollbackActivities } from './rollback';
import { createTargetActivities } from './targets';
import { createCertificateActivities } from './tls/renew';
import { createServedCertificateActivities } from './tls/served';
import { createVerifyActivities } from './verify';

export function createActivities(deps: Deps) {
  return {
    ...createTargetActivities(deps),
    ...createMaintenanceLookupActivities(deps),
    ...createConnectivityActivities(deps),
    ...createHealthActivities(deps),
    ...createHealthCheckActivities(deps),
    ...createNotifyActivities(deps),
    ...createIncidentActivities(deps),
    ...createAuditActivities(deps),
    ...createBackupActivities(deps),
    ...createMongoBackupActivities(deps),
    ...createBackupSetActivities(deps),
    ...createRestoreActivities(deps),
    ...createRestoreLiveActivities(deps),
    ...createRecoveryActivities(deps),
    ...createPlatformActivities(deps),
    ...createQueueActivities(deps),
    ...createQueueRecoveryActivities(deps),
    ...createCacheStatsActivities(deps),
    ...createCacheInvalidateActivities(deps),
    ...createCacheWarmActivities(deps),
    ...createProbeActivities(deps),
    ...createMaintenanceTaskActivities(deps),
    ...createLockActivities(deps),
    ...createDataRollbackActivities(deps),
    ...createRollbackActivities(deps),
    ...createVerifyActivities(deps),
    ...createServedCertificateActivities(deps),
    ...createCertificateActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { AuditActivities } from './audit';
export type { IncidentActivities, IncidentLevel, IncidentSettings } from './incident';
export type { BackupActivities, BackupInfo } from './backup-store/pg-dump';
export type { MongoBackupActivities, MongoBackupInfo } from './backup-store/mongo-export';
export type {
  BackupSetActivities,
  BackupStoreName,
  BackupTargets,
  RedisBackupMode,
  RetentionOverride,
  RetentionResult,
  SourceResult,
  VerifyResult,
} from './backups/backup';
export type { BackupSetSummary } from './backups/sets';
export type { ComparisonResult, DrillSet, FindSetResult, RestoreActivities, RestoreResult, Scratch, SourceComparison } from './backups/restore';
export type { LiveItem, LiveRestorePlan, LiveSelection, LiveTargets, RestoreLiveActivities, SafetySetResult } from './backups/restore-live';
export type { AssessResult, RecoveredStore, RecoveryActivities, RecoveryPlan, StoreState } from './backups/recover';
export type { CacheStats, CacheStatsActivities, HitRate } from './cache/stats';
export type { CacheInvalidateActivities, InvalidateResult, InvalidationPlan, PatternPlan, TtlHygieneResult } from './cache/invalidate';
export type { CacheWarmActivities, CacheWarmTarget, RefreshedView, VerifyWarmResult, WarmCacheResult } from './cache/warm';
export type { CacheMetric } from './cache/metrics';
export type { ConnectivityActivities, ConnectivityResult } from './connectivity';
export type {
  DataIntegrityCheck,
  DataIntegrityResult,
  DataRollbackActivities,
  DataRollbackApplyResult,
  DataRollbackCount,
  DataRollbackStepInput,
  DataRollbackUndoResult,
} from './data-rollback';
export type { HealthActivities, HealthResult } from './http/health';
export type { Baseline, HealthCheckActivities, HealthCheckTargets } from './health';
export type { ProbeActivities, ProbeStatus, RecoveryResult } from './http/probe';
export type { LockActivities } from './locks';
export type { MaintenanceLookupActivities } from './maintenance/resolve';
export type { MaintenanceTaskActivities, TaskRunResult } from './maintenance/run-task';
export type { MaintenanceTask, ResolvedTask, TaskKind } from './maintenance/types';
export type { Audience, Notification, NotifyActivities, NotifyResult, Page, Severity } from './notify';
export type { PlatformActivities, PlatformState, RestartMode, RestartResult } from './platform';
export type { DeployResult, DeploymentState, Revision, RolloutStatus, RolloutWaitResult } from './platform';
export type { DrainResult, QueueActivities, QueueStats } from './redis/queue';
export type {
  BullCleanResult,
  BullDrainResult,
  BullQueueReport,
  BullRetryResult,
  ListQueueReport,
  QueueRecoveryActivities,
  QueueRecoveryTargets,
  QueueReport,
  QueueStatus,
  QueueThresholds,
  RetryFailedResult,
  StuckResult,
} from './queues/recovery';
export type { ResolvedService, TargetActivities } from './targets';
export type { RollbackActivities, RollbackRunInfo, RollbackSettings } from './rollback';
export type { MetricsCheck, SmokeResult, VerifyActivities } from './verify';
export type { CertificateActivities, CertificateTarget, StoredPair, VerifyServedResult } from './tls/renew';
export type { ServedCertificate, ServedCertificateActivities } from './tls/served';
export type { CertificatePolicy, PairInfo } from './tls/validate';
export type { Deps } from './deps';
export { createDeps } from './deps';
