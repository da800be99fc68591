// The append-only audit store: every step, vote, notification and outcome of every run, besides workflow
// history (which a namespace's retention eventually deletes). A trigger refuses UPDATE, DELETE and
// TRUNCATE, so the table can only grow. Writes are idempotent by event key, so activity retries and
// replays never duplicate a row.
import type { Pool } from 'pg';

export interface AuditEvent {
  /** Unique per event; a second write with the same key is ignored. */
  key: string;
  workflowId: string;
  runId?: string;
  runbook?: string;
  kind: string;
  actor?: string;
  data?: Record<string, unknown>;
}

export interface AuditRow extends Required<Omit<AuditEvent, 'runId' | 'runbook' | 'actor'>> {
  id: string;
  at: Date;
  runId: string | null;
  runbook: string | null;
  actor: string | null;
}

export const AUDIT_TABLE = 'runbook_audit';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runbook_audit (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  workflow_id text NOT NULL,
  run_id      text,
  runbook     text,
  kind        text NOT NULL,
  actor       text,
  event_key   text NOT NULL UNIQUE,
  data        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS runbook_audit_workflow ON runbook_audit (workflow_id, id);
CREATE OR REPLACE FUNCTION runbook_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'runbook_audit is append-only: % refused', TG_OP;
END $$;
DROP TRIGGER IF EXISTS runbook_audit_no_change ON runbook_audit;
CREATE TRIGGER runbook_audit_no_change BEFORE UPDATE OR DELETE ON runbook_audit
  FOR EACH ROW EXECUTE FUNCTION runbook_audit_append_only();
DROP TRIGGER IF EXISTS runbook_audit_no_truncate ON runbook_audit;
CREATE TRIGGER runbook_audit_no_truncate BEFORE TRUNCATE ON runbook_audit
  FOR EACH STATEMENT EXECUTE FUNCTION runbook_audit_append_only();
CREATE TABLE IF NOT EXISTS runbook_incidents (
  id          bigserial PRIMARY KEY,
  opened_at   timestamptz NOT NULL DEFAULT now(),
  incident_key text NOT NULL UNIQUE,
  service     text NOT NULL,
  severity    text NOT NULL,
  status      text NOT NULL DEFAULT 'open',
  title       text NOT NULL,
  workflow_id text NOT NULL,
  data        jsonb NOT NULL DEFAULT '{}'::jsonb
);
`;

/** An incident opened by a runbook (a rollback is always an incident): the start of its post-mortem. */
export interface IncidentRecord {
  /** Unique per incident; opening it again returns the first one. */
  key: string;
  service: string;
  severity: 'critical' | 'major' | 'minor';
  title: string;
  workflowId: string;
  data?: Record<string, unknown>;
}

export class AuditStore {
  constructor(private readonly pool: Pool) {}

  /** Creates the table and its guards. Safe to run from many workers at once. */
  async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [AUDIT_TABLE]);
      await client.query(SCHEMA);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Appends an event; returns false when an event with this key was already there. */
  async record(e: AuditEvent): Promise<boolean> {
    return this.selfHealing(() => this.insert(e));
  }

  /**
   * The audit database may have been rebuilt empty under a running worker (disaster recovery of the
   * server it shares): a missing table is created again, once, instead of failing every run's audit.
   */
  private async selfHealing<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: string }).code !== '42P01') throw err;
      await this.migrate();
      return fn();
    }
  }

  private async insert(e: AuditEvent): Promise<boolean> {
    const res = await this.pool.query(
      `INSERT INTO runbook_audit (workflow_id, run_id, runbook, kind, actor, event_key, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_key) DO NOTHING`,
      [e.workflowId, e.runId ?? null, e.runbook ?? null, e.kind, e.actor ?? null, e.key, JSON.stringify(e.data ?? {})],
    );
    return res.rowCount === 1;
  }

  /** Opens an incident once per key; returns its id and whether this call created it. */
  async openIncident(i: IncidentRecord): Promise<{ id: string; created: boolean }> {
    return this.selfHealing(() => this.insertIncident(i));
  }

  private async insertIncident(i: IncidentRecord): Promise<{ id: string; created: boolean }> {
    const res = await this.pool.query<{ id: string; created: boolean }>(
      `INSERT INTO runbook_incidents (incident_key, service, severity, title, workflow_id, data) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (incident_key) DO UPDATE SET incident_key = EXCLUDED.incident_key
       RETURNING id::text AS id, (xmax = 0) AS created`,
      [i.key, i.service, i.severity, i.title, i.workflowId, JSON.stringify(i.data ?? {})],
    );
    return res.rows[0]!;
  }

  async incidents(service: string): Promise<Array<IncidentRecord & { id: string; status: string; openedAt: Date }>> {
    const res = await this.pool.query(
      `SELECT id::text AS id, incident_key AS key, service, severity, status, title, workflow_id AS "workflowId", data, opened_at AS "openedAt"
       FROM runbook_incidents WHERE service = $1 ORDER BY id`,
      [service],
    );
    return res.rows as Array<IncidentRecord & { id: string; status: string; openedAt: Date }>;
  }

  async find(key: string): Promise<AuditRow | undefined> {
    const res = await this.pool.query(`${SELECT} WHERE event_key = $1`, [key]);
    return res.rows[0] as AuditRow | undefined;
  }

  async forWorkflow(workflowId: string): Promise<AuditRow[]> {
    const res = await this.pool.query(`${SELECT} WHERE workflow_id = $1 ORDER BY id`, [workflowId]);
    return res.rows as AuditRow[];
  }
}

const SELECT = `SELECT id, at, workflow_id AS "workflowId", run_id AS "runId", runbook, kind, actor,
  event_key AS key, data FROM runbook_audit`;
