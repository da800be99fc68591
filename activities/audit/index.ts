import type { Deps } from '../deps';
import type { AuditEvent } from './store';

export type AuditActivities = ReturnType<typeof createAuditActivities>;

export function createAuditActivities(deps: Deps) {
  return {
    /** Appends one event to the audit store (idempotent by key); run as a local activity by workflows. */
    async recordAudit(event: AuditEvent): Promise<void> {
      await deps.audit.record(event);
    },
  };
}
