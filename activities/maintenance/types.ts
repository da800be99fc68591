// What a maintenance task is, as the activities that run it understand it. The maintenance-window
// runbook's input schema produces these (workflows import this type; activities never import workflows).
export type MaintenanceTask =
  | { kind: 'vacuum-analyze'; table: string; database?: string }
  | { kind: 'analyze'; table: string; database?: string }
  | { kind: 'reindex-table'; table: string; database?: string }
  | { kind: 'refresh-materialized-view'; view: string; database?: string }
  | { kind: 'mongo-rebuild-indexes'; collection: string; database?: string };

export type TaskKind = MaintenanceTask['kind'];

export interface ResolvedTask {
  index: number;
  task: MaintenanceTask;
  /** The postgres or mongo target the task runs on (the service's first when the input named none). */
  database: string;
  description: string;
}
