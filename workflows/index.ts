// Every workflow type, for the worker's workflowsPath and the replay tests. Export workflow functions
// only: each export becomes a workflow type.
export { maintenanceWindow } from './maintenance-window/workflow';
export { restartWorkers } from './restart-workers/workflow';
export { targetLock } from './lib/target-lock';
