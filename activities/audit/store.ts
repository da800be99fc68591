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
`;

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
    const res = await this.pool.query(
      `INSERT INTO runbook_audit (workflow_id, run_id, runbook, kind, actor, event_key, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_key) DO NOTHING`,
      [e.workflowId, e.runId ?? null, e.runbook ?? null, e.kind, e.actor ?? null, e.key, JSON.stringify(e.data ?? {})],
    );
    return res.rowCount === 1;
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
