// The health check's names and report shapes, shared by its activities (which build the report) and its
// workflow and contract (which read it). Pure types and constants.

/** Every check, in report order. The daily profile runs DAILY_CHECKS; weekly adds the trends. */
export const DAILY_CHECKS = ['http', 'postgres', 'redis', 'mongo', 'queues', 'error-rate', 'jobs', 'disk', 'certificates'] as const;
export const WEEKLY_CHECKS = ['slow-queries', 'cache-hit-rate', 'growth'] as const;
export const HEALTH_CHECKS = [...DAILY_CHECKS, ...WEEKLY_CHECKS] as const;
export type HealthCheckKind = (typeof HEALTH_CHECKS)[number];

export type CheckStatus = 'ok' | 'warning' | 'critical' | 'skipped';

/** The incident severities (config/incidents.ts), as a critical check maps to them. */
export type HealthSeverity = 'P0' | 'P1' | 'P2' | 'P3';

/** One line of the report. Unhealthy is a result: only a configuration error fails a check. */
export interface HealthCheckResult {
  /** Unique in the report: the kind, and the target when a kind checks several (`postgres:reports-db`). */
  id: string;
  check: HealthCheckKind;
  name: string;
  status: CheckStatus;
  value: number | string | null;
  threshold?: string;
  unit?: string;
  detail: string;
  /** For a critical check: the incident severity it maps to (service or database down P1, degraded P2, else P3). */
  severity?: HealthSeverity;
}

/** What a weekly run records (audit kind `health-snapshot`) for the next weekly run's growth and hit rate. */
export interface HealthSnapshot {
  at: string;
  postgres: Record<string, { bytes: number }>;
  redis: Record<string, { keys: number; usedMemory: number }>;
  mongo: Record<string, { dataSize: number }>;
  cache?: { hits: number; misses: number };
}
