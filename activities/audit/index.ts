import type { Deps } from '../deps';
import type { AuditEvent, IncidentRecord } from './store';

export type AuditActivities = ReturnType<typeof createAuditActivities>;

export function createAuditActivities(deps: Deps) {
  return {
    /** Appends one event to the audit store (idempotent by key, so retries and replays never add a row twice). */
    async recordAudit(event: AuditEvent): Promise<void> {
      await deps.audit.record(event);
    },
    /** Opens an incident record (idempotent by key): the post-rollback "Incident Documentation". */
    async openIncident(incident: IncidentRecord): Promise<{ id: string; created: boolean }> {
      return deps.audit.openIncident(incident);
    },
  };
}
