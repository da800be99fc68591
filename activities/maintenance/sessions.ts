// Sessions of a Postgres target: the read-only health report (deadlocks, long-running queries, idle
// transactions, pg_stat_statements' top queries) and terminate-sessions. Both look only at the target's
// own database and never at the session asking.
import type { Pool } from 'pg';
import { durationMs } from '../../common/duration';
import type { DatabaseReportTask, TerminateSessionsTask } from './types';

export interface SessionRow {
  pid: number;
  usename: string | null;
  application: string;
  state: string;
  seconds: number;
  query: string;
}

const IDLE_IN_TX = `state IN ('idle in transaction', 'idle in transaction (aborted)')`;

/** The sessions terminate-sessions would end now (its dry-run list), as one SQL condition and its parameters. */
function candidates(task: TerminateSessionsTask): { sql: string; params: unknown[] } {
  return {
    sql: `SELECT pid, usename, coalesce(application_name, '') AS application, state,
            round(extract(epoch FROM now() - CASE WHEN state = 'active' THEN query_start ELSE state_change END))::int AS seconds,
            left(query, 120) AS query
          FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
            AND ((${IDLE_IN_TX} AND now() - state_change > make_interval(secs => $1::float8 / 1000))
              OR ($2::float8 IS NOT NULL AND state = 'active' AND now() - query_start > make_interval(secs => $2::float8 / 1000)))
            AND NOT (coalesce(usename::text, '') = ANY($3::text[]))
            AND NOT (coalesce(application_name, '') = ANY($4::text[]))`,
    params: [durationMs(task.idleInTransactionOver), task.queryOver ? durationMs(task.queryOver) : null, task.allowUsers, task.allowApplications],
  };
}

const describeSession = (s: SessionRow): string =>
  `pid ${s.pid} ${s.usename ?? '?'}${s.application ? `/${s.application}` : ''} ${s.state} ${s.seconds}s${s.query ? `: ${s.query.replace(/\s+/g, ' ').slice(0, 60)}` : ''}`;

export async function sessionsToTerminate(pool: Pool, task: TerminateSessionsTask): Promise<SessionRow[]> {
  const c = candidates(task);
  return (await pool.query<SessionRow>(`${c.sql} ORDER BY pid`, c.params)).rows;
}

export function listSessions(rows: SessionRow[]): string {
  return rows.length ? rows.map(describeSession).join('; ') : 'none';
}

/** Terminates in the same statement that selects, so a session that left its transaction meanwhile is spared. */
export async function terminateSessions(pool: Pool, task: TerminateSessionsTask): Promise<{ terminated: SessionRow[]; failed: SessionRow[] }> {
  const c = candidates(task);
  const { rows } = await pool.query<SessionRow & { ok: boolean }>(`SELECT s.*, pg_terminate_backend(s.pid) AS ok FROM (${c.sql}) s ORDER BY s.pid`, c.params);
  return { terminated: rows.filter((r) => r.ok), failed: rows.filter((r) => !r.ok) };
}

/** The report: one line per section, read-only. */
export async function databaseReport(pool: Pool, task: DatabaseReportTask): Promise<string> {
  const overMs = durationMs(task.over);
  const db = await pool.query<{ datname: string; deadlocks: string; conflicts: string; xact_rollback: string; stats_reset: Date | null }>(
    'SELECT datname, deadlocks, conflicts, xact_rollback, stats_reset FROM pg_stat_database WHERE datname = current_database()',
  );
  const d = db.rows[0];
  const since = d?.stats_reset ? ` since ${d.stats_reset.toISOString()}` : '';
  const lines = [`deadlocks: ${d?.deadlocks ?? '?'}${since} (conflicts ${d?.conflicts ?? '?'}, rolled-back transactions ${d?.xact_rollback ?? '?'})`];
  const sessions = await pool.query<SessionRow>(
    `SELECT pid, usename, coalesce(application_name, '') AS application, state,
       round(extract(epoch FROM now() - CASE WHEN state = 'active' THEN query_start ELSE state_change END))::int AS seconds,
       left(query, 120) AS query
     FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
       AND ((state = 'active' AND now() - query_start > make_interval(secs => $1::float8 / 1000))
         OR (${IDLE_IN_TX} AND now() - state_change > make_interval(secs => $1::float8 / 1000)))
     ORDER BY seconds DESC LIMIT 20`,
    [overMs],
  );
  const active = sessions.rows.filter((s) => s.state === 'active');
  const idle = sessions.rows.filter((s) => s.state !== 'active');
  lines.push(`queries running over ${task.over}: ${listSessions(active)}`);
  lines.push(`idle in transaction over ${task.over}: ${listSessions(idle)}`);
  const ext = await pool.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'");
  if (!ext.rowCount) {
    lines.push('pg_stat_statements: not installed');
  } else {
    try {
      const top = await pool.query<{ calls: string; total_ms: number; mean_ms: number; query: string }>(
        `SELECT calls, round(total_exec_time::numeric, 1)::float8 AS total_ms, round(mean_exec_time::numeric, 2)::float8 AS mean_ms, left(query, 100) AS query
         FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY total_exec_time DESC LIMIT $1`,
        [task.top],
      );
      lines.push(
        `pg_stat_statements top ${task.top} by total time: ` +
          (top.rows.map((r, i) => `${i + 1}. ${r.total_ms}ms total, ${r.calls} calls, ${r.mean_ms}ms mean: ${r.query.replace(/\s+/g, ' ')}`).join('; ') ||
            'no statements'),
      );
    } catch (err) {
      lines.push(`pg_stat_statements: installed but not readable (${(err as Error).message})`);
    }
  }
  return lines.join('\n');
}
