// Resolves what a runbook will act on, read-only, before anything changes. Errors name the input field
// and are non-retryable (InvalidTargetError), so bad input fails fast.
import type { Deps } from './deps';
import { InvalidTargetError } from './errors';

export interface ResolvedService {
  service: string;
  postgres: string[];
  mongo: string[];
  /** Postgres target a pre-change backup dumps. */
  backupDatabase?: string;
  queue?: { redis: string; pending: string; processing: string; failed: string; probe: boolean };
  platform: string;
}

export type TargetActivities = ReturnType<typeof createTargetActivities>;

export function createTargetActivities(deps: Deps) {
  return {
    async resolveService(input: { service: string }): Promise<ResolvedService> {
      const svc = deps.config.services[input.service];
      if (!svc) {
        throw new InvalidTargetError(
          `service: "${input.service}" is not configured; known services: ${Object.keys(deps.config.services).join(', ') || '(none)'}`,
        );
      }
      return {
        service: input.service,
        postgres: svc.postgres,
        mongo: svc.mongo,
        ...(svc.postgres[0] ? { backupDatabase: svc.postgres[0] } : {}),
        ...(svc.queue
          ? {
              queue: {
                redis: svc.queue.redis,
                pending: svc.queue.pending,
                processing: svc.queue.processing,
                failed: svc.queue.failed,
                probe: Boolean(svc.queue.probeUrl),
              },
            }
          : {}),
        platform: svc.platform.kind,
      };
    },

    /** Everyone in the approver directory with their roles (no contact details enter history). */
    async approverDirectory(): Promise<Record<string, string[]>> {
      return Object.fromEntries(Object.entries(deps.config.people).map(([who, p]) => [who, p.roles]));
    },
  };
}
