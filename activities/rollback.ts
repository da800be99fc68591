// What a rollback of a service needs to know from configuration, read once when the run starts: its
// environment and that environment's approval policy, and the feature flags it switches off.
import type { Config } from '../config/schema';
import type { Deps } from './deps';

/** An approval policy as configuration gives it (the workflow's ApprovalPolicy). */
export type RollbackApproval = NonNullable<Config['environments'][string]['rollbackApproval']>;

export interface RollbackSettings {
  service: string;
  environment: string;
  /** Who must approve a rollback there; absent: it runs at once. */
  approval?: RollbackApproval;
  pauseFlags: string[];
  releaseFlags: string[];
  /** Default window of the Prometheus verification. */
  verifyWindow: string;
  dataRollback?: string;
  metrics: boolean;
  smoke: string[];
}

export type RollbackActivities = ReturnType<typeof createRollbackActivities>;

export function createRollbackActivities(deps: Deps) {
  return {
    async rollbackSettings(input: { service: string }): Promise<RollbackSettings> {
      const svc = deps.service(input.service);
      const approval = deps.config.environments[svc.environment]?.rollbackApproval;
      return {
        service: input.service,
        environment: svc.environment,
        ...(approval ? { approval } : {}),
        pauseFlags: svc.rollback.pauseFlags,
        releaseFlags: svc.rollback.releaseFlags,
        verifyWindow: svc.rollback.verifyWindow,
        ...(svc.dataRollback ? { dataRollback: svc.dataRollback.description } : {}),
        metrics: Boolean(svc.metrics),
        smoke: svc.smoke.map((s) => s.name),
      };
    },
  };
}
