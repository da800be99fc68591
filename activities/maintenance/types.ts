// What a maintenance task is, as the activities that run it understand it. The maintenance-window
// runbook's input schema produces these (workflows import this type; activities never import workflows).
export type MaintenanceTask =
  | { kind: 'vacuum-analyze'; table: string; database?: string }
  | { kind: 'analyze'; table: string; database?: string }
  | { kind: 'reindex-table'; table: string; database?: string }
  | { kind: 'refresh-materialized-view'; view: string; database?: string }
  | { kind: 'mongo-rebuild-indexes'; collection: string; database?: string }
  | ReindexIfBloatedTask
  | DatabaseReportTask
  | TerminateSessionsTask
  | ArchiveRowsTask
  | MongoRetentionTask;

/** REINDEX TABLE CONCURRENTLY only when the estimated index bloat is at least `minBloatRatio`. */
export interface ReindexIfBloatedTask {
  kind: 'reindex-if-bloated';
  table: string;
  /** 0..1: the share of the indexes' pages estimated to be waste. */
  minBloatRatio: number;
  database?: string;
}

/** Read-only: deadlocks, long-running and idle-in-transaction sessions, pg_stat_statements' top queries. */
export interface DatabaseReportTask {
  kind: 'report';
  /** How many of pg_stat_statements' queries (by total time) to list. */
  top: number;
  /** A duration: queries running, and transactions idle, longer than this are listed. */
  over: string;
  database?: string;
}

/** pg_terminate_backend of sessions idle in a transaction (or running a query) for too long. */
export interface TerminateSessionsTask {
  kind: 'terminate-sessions';
  /** A duration: sessions idle in a transaction longer than this are terminated. */
  idleInTransactionOver: string;
  /** A duration: sessions running one query longer than this are terminated too. */
  queryOver?: string;
  allowUsers: string[];
  allowApplications: string[];
  database?: string;
}

/** Moves rows older than a cutoff to an archive table, one transaction per batch. */
export interface ArchiveRowsTask {
  kind: 'archive-rows';
  table: string;
  archiveTable: string;
  timeColumn: string;
  /** A duration ('2y') or an ISO time: rows with timeColumn before it are moved. */
  olderThan: string;
  batchSize: number;
  database?: string;
}

/** Deletes documents older than a cutoff (and matching `filter`, equality only) in batches of _ids. */
export interface MongoRetentionTask {
  kind: 'mongo-retention';
  collection: string;
  timeField: string;
  /** A duration ('1y', '7d') or an ISO time. */
  olderThan: string;
  filter?: Record<string, string | number | boolean>;
  batchSize: number;
  database?: string;
}

export type TaskKind = MaintenanceTask['kind'];

/** Tasks on a Mongo target; every other kind runs on a Postgres target. */
export const MONGO_KINDS: ReadonlySet<TaskKind> = new Set<TaskKind>(['mongo-rebuild-indexes', 'mongo-retention']);

/** Tasks that delete data: refused unless a verified backup newer than `backups.requireVerifiedWithin` exists. */
export const GUARDED_KINDS: ReadonlySet<TaskKind> = new Set<TaskKind>(['archive-rows', 'mongo-retention']);

export interface ResolvedTask {
  index: number;
  task: MaintenanceTask;
  /** The postgres or mongo target the task runs on (the service's first when the input named none). */
  database: string;
  description: string;
  /** Retention tasks: the cutoff as an ISO time, fixed when the run was planned (retries use the same one). */
  cutoff?: string;
  /** What the task would do, measured read-only when the run was planned (shown by a dry run). */
  preview?: string;
  /** The service and its environment (the backup guard and the production check of terminate-sessions). */
  service?: string;
  environment?: string;
}
