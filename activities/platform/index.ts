// Platform activities: what runbooks ask of the thing that runs a service (port.ts), through the adapter its
// configuration names: workers (scale, restart, maintenance mode), deployments (deploy, roll back, wait for
// the rollout) and feature flags.
import { Context, sleep } from '@temporalio/activity';
import type { Deps } from '../deps';
import { InvalidTargetError } from '../errors';
import { withHeartbeat } from '../heartbeat';
import { platformForService } from './for-service';
import type { DeployResult, DeploymentState, Platform, PlatformState, RestartMode, RestartResult, RolloutStatus } from './port';

export type { DeployResult, DeploymentState, PlatformState, RestartMode, RestartResult, Revision, RolloutStatus } from './port';

export interface RolloutWaitResult {
  /** The rollout of the revision waited for is complete. */
  complete: boolean;
  waitedMs: number;
  /** The current revision's rollout at the end of the wait. */
  rollout: RolloutStatus;
  /** A newer revision replaced the one waited for: its rollout will never complete, so the wait ended. */
  superseded: boolean;
  /** The platform gave up on the rollout (ProgressDeadlineExceeded): waiting longer would not help. */
  failed: boolean;
}

export function platformFor(deps: Deps, service: string): Platform {
  return platformForService(service, deps.service(service));
}

export type PlatformActivities = ReturnType<typeof createPlatformActivities>;

export function createPlatformActivities(deps: Deps) {
  return {
    async platformState(input: { service: string }): Promise<PlatformState> {
      return platformFor(deps, input.service).state();
    },
    async scaleWorkers(input: { service: string; replicas: number }): Promise<{ previous: number; replicas: number }> {
      return platformFor(deps, input.service).scaleWorkers(input.replicas);
    },
    async setMaintenanceMode(input: { service: string; enabled: boolean }): Promise<{ previous: boolean; enabled: boolean }> {
      return platformFor(deps, input.service).setMaintenance(input.enabled);
    },
    /** `requestId` makes a retried call (reply lost) a no-op on the platform instead of a second restart. */
    async restartWorkers(input: { service: string; mode: RestartMode; requestId: string }): Promise<RestartResult> {
      return platformFor(deps, input.service).restartWorkers(input.mode, input.requestId);
    },

    /** The deployment history, the current revision and its rollout, and the versions that can be deployed. */
    async deploymentStatus(input: { service: string }): Promise<DeploymentState> {
      return platformFor(deps, input.service).deployment();
    },
    /**
     * Deploys `version` as a new revision; returns once the rollout has started (see waitForRollout). An
     * unknown version, or `requestId` reused for another request, is refused (UnsafeOperationError).
     */
    async deployVersion(input: { service: string; version: string; requestId: string }): Promise<DeployResult> {
      return platformFor(deps, input.service).deploy(input.version, input.requestId);
    },
    /** Rolls back to `toRevision`, default the revision before the current one, as a new revision. */
    async rollbackDeployment(input: { service: string; requestId: string; toRevision?: number }): Promise<DeployResult> {
      return platformFor(deps, input.service).rollback(input.requestId, input.toRevision);
    },
    async featureFlags(input: { service: string }): Promise<Record<string, boolean>> {
      return platformFor(deps, input.service).flags();
    },
    /** Sets the named flags; `previous` holds what they were (a flag that did not exist is absent), to undo. */
    async setFeatureFlags(input: {
      service: string;
      flags: Record<string, boolean>;
    }): Promise<{ previous: Record<string, boolean>; flags: Record<string, boolean> }> {
      return platformFor(deps, input.service).setFlags(input.flags);
    },

    /**
     * Waits, up to `timeoutMs` (counted from the first attempt, across retries), until the rollout of
     * `revision` is complete, heartbeating. Not completing in time is a result, not an error: the runbook
     * decides. A revision replaced by a newer one ends the wait at once (superseded), and so does a rollout
     * the platform gave up on (failed: ProgressDeadlineExceeded).
     */
    async waitForRollout(input: { service: string; revision: number; timeoutMs: number; pollMs?: number }): Promise<RolloutWaitResult> {
      const platform = platformFor(deps, input.service);
      const carried = Context.current().info.heartbeatDetails as { startedAt?: number } | undefined;
      const started = carried?.startedAt ?? Date.now();
      let rollout = (await platform.deployment()).rollout;
      if (rollout.revision < input.revision) {
        throw new InvalidTargetError(`service "${input.service}" has no revision ${input.revision} yet: its current revision is ${rollout.revision}`);
      }
      const superseded = (): boolean => rollout.revision > input.revision;
      const complete = (): boolean => rollout.revision === input.revision && rollout.status === 'complete';
      const failed = (): boolean => rollout.revision === input.revision && rollout.status === 'failed';
      return withHeartbeat(
        async () => {
          while (!complete() && !superseded() && !failed() && Date.now() - started < input.timeoutMs) {
            await sleep(input.pollMs ?? 250);
            rollout = (await platform.deployment()).rollout;
          }
          return { complete: complete(), waitedMs: Date.now() - started, rollout, superseded: superseded(), failed: failed() };
        },
        () => ({ startedAt: started, rollout }),
      );
    },
  };
}
