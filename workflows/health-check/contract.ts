// The health-check runbook's contract (seed 002 "Daily Health Check" and "Weekly" tasks, 004 "Morning
// Checklist"): the checks, the input, the structured report and its summary lines. Pure (zod only), shared
// by the workflow, the CLI and the API (the report's shapes are in common/health-check.ts, for the activities).
import { z } from 'zod';
import {
  DAILY_CHECKS,
  HEALTH_CHECKS,
  WEEKLY_CHECKS,
  type CheckStatus,
  type HealthCheckKind,
  type HealthCheckResult,
  type HealthSeverity,
} from '../../common/health-check';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, targetName } from '../lib/schema';

export { DAILY_CHECKS, HEALTH_CHECKS, WEEKLY_CHECKS };
export type { CheckStatus, HealthCheckKind, HealthCheckResult, HealthSnapshot } from '../../common/health-check';

export const CHECK_TITLES: Record<HealthCheckKind, string> = {
  http: 'HTTP health endpoint answers 2xx',
  postgres: 'Postgres answers; connections below the share of max_connections',
  redis: 'Redis answers PING; used memory below the share of maxmemory',
  mongo: 'MongoDB answers ping',
  queues: 'job queue depths against their thresholds',
  'error-rate': 'share of 5xx answers (Prometheus, else the service’s /metrics)',
  jobs: 'background jobs completed recently',
  disk: 'disk usage of the data directories',
  certificates: 'days until the served certificates expire',
  'slow-queries': 'slow statements (pg_stat_statements)',
  'cache-hit-rate': 'cache hit rate since last week',
  growth: 'growth of the data stores since last week',
};

export const healthCheckInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service to check, e.g. "reports"'),
    profile: z
      .enum(['daily', 'weekly'], { message: 'must be "daily" or "weekly"' })
      .default('daily')
      .describe('daily: the morning checklist; weekly adds slow queries, cache hit rate and growth since last week'),
    checks: z
      .array(z.enum(HEALTH_CHECKS, { message: `must be one of ${HEALTH_CHECKS.join(', ')}` }))
      .min(1)
      .refine((c) => new Set(c).size === c.length, 'must not name a check twice')
      .optional()
      .describe("run only these of the profile's checks (weekly checks need profile weekly)"),
    openIncident: z.boolean().default(true).describe('a critical check opens an incident (or adds to the one already open)'),
  })
  .strict()
  .superRefine((i, ctx) => {
    const weeklyOnly = (i.checks ?? []).filter((c) => (WEEKLY_CHECKS as readonly string[]).includes(c));
    if (i.profile !== 'weekly' && weeklyOnly.length)
      ctx.addIssue({ code: 'custom', path: ['checks'], message: `${weeklyOnly.join(', ')} belong to the weekly profile (set profile "weekly")` });
  });

export type HealthCheckInput = z.input<typeof healthCheckInputSchema>;
export type HealthCheckParams = z.output<typeof healthCheckInputSchema>;

/** The checks a run does, in report order. */
export function checksOf(input: Pick<HealthCheckParams, 'profile' | 'checks'>): HealthCheckKind[] {
  const profile: readonly HealthCheckKind[] = input.profile === 'weekly' ? HEALTH_CHECKS : DAILY_CHECKS;
  return profile.filter((c) => !input.checks || input.checks.includes(c));
}

export interface HealthIncident {
  workflowId: string;
  severity: HealthSeverity;
  /** opened: this run started it; updated: one was open already and was told "still failing". */
  action: 'opened' | 'updated';
}

export interface HealthCheckResultReport extends RunbookResult {
  service: string;
  profile: 'daily' | 'weekly';
  /** Worst of the checks (skipped counts as ok). */
  status: 'ok' | 'warning' | 'critical';
  checks: HealthCheckResult[];
  incident?: HealthIncident;
  /** Readable lines, one per check. */
  lines: string[];
}

export function exampleHealthCheckInput(): HealthCheckInput {
  return { service: 'reports', profile: 'daily', requestedBy: 'scheduler' };
}

const RANK: Record<CheckStatus, number> = { skipped: 0, ok: 0, warning: 1, critical: 2 };

export function worstOf(checks: HealthCheckResult[]): 'ok' | 'warning' | 'critical' {
  const worst = Math.max(0, ...checks.map((c) => RANK[c.status]));
  return worst === 2 ? 'critical' : worst === 1 ? 'warning' : 'ok';
}

/** P1 before P2 before P3: the most severe of the critical checks. */
export function severityOf(checks: HealthCheckResult[]): HealthSeverity | undefined {
  const s = checks.filter((c) => c.status === 'critical').map((c) => c.severity ?? 'P3');
  return s.length ? [...s].sort()[0] : undefined;
}

export function describeCheck(c: HealthCheckResult): string {
  const value = c.value === null ? '-' : `${c.value}${c.unit ? ` ${c.unit}` : ''}`;
  return `${c.status.toUpperCase().padEnd(8)} ${c.name}: ${value}${c.threshold ? ` (threshold ${c.threshold})` : ''}${c.detail ? ` — ${c.detail}` : ''}`;
}

export function summarizeHealthCheck(r: HealthCheckResultReport): string[] {
  const counts = (['ok', 'warning', 'critical', 'skipped'] as const).map((s) => `${r.checks.filter((c) => c.status === s).length} ${s}`).join(', ');
  const lines = [`${r.service} (${r.profile}): ${r.status.toUpperCase()} — ${counts}`, ...r.lines];
  if (r.incident)
    lines.push(
      r.incident.action === 'opened'
        ? `incident ${r.incident.workflowId} opened (${r.incident.severity})`
        : `incident ${r.incident.workflowId} was already open: told it the checks still fail`,
    );
  return lines;
}
