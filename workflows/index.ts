// Every runbook workflow, for the worker's workflowsPath and the replay tests. Export workflow functions
// only: each export becomes a workflow type.
export { maintenanceWindow } from './maintenance-window';
