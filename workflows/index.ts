// Every workflow type, for the worker's workflowsPath and the replay tests. Export workflow functions
// only: each export becomes a workflow type.
export { backup } from './backup/workflow';
export { cacheInvalidate } from './cache-invalidate/workflow';
export { cacheWarm } from './cache-warm/workflow';
export { certificateRenewal } from './certificate-renewal/workflow';
export { disasterRecovery } from './disaster-recovery/workflow';
export { emergencyRollback } from './emergency-rollback/workflow';
export { gradualRollback } from './gradual-rollback/workflow';
export { incident } from './incident/workflow';
export { healthCheck } from './health-check/workflow';
export { maintenanceWindow } from './maintenance-window/workflow';
export { queueRecovery } from './queue-recovery/workflow';
export { restartWorkers } from './restart-workers/workflow';
export { restoreDrill } from './restore-drill/workflow';
export { restore } from './restore/workflow';
export { undoDataRollback } from './undo-data-rollback/workflow';
export { targetLock } from './lib/target-lock';
