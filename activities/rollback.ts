// What a rollback of a service needs to know from configuration, read once when the run starts: its
// environment and that environment's approval policy, and the feature flags it switches off.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../config/schema';
import type { Deps } from './deps';
import { InvalidTargetError } from './errors';

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

/** A completed rollback run whose database changes can be undone from what it saved. */
export interface RollbackRunInfo {
  workflowId: string;
  runId: string;
  workflowType: string;
  /** Its first run's id: the key its saved copies are filed under. */
  runKey: string;
  service: string;
  closedAt: string;
  /** Database steps that changed something, in the order they ran, with how much. */
  steps: Array<{ id: string; changed: number }>;
}

const ROLLBACK_TYPES = ['emergencyRollback', 'gradualRollback'];

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

    /**
     * A finished rollback run of `service` (same namespace): `workflowId`, or else the newest completed
     * rollback of the service whose database steps changed something. What its steps changed, to undo it.
     */
    async rollbackRunInfo(input: { service: string; workflowId?: string }): Promise<RollbackRunInfo> {
      deps.service(input.service);
      const client = deps.temporal();
      // A dedupe id is reused by a later rollback after a new deploy: a listed run is read by its run id.
      const read = async (workflowId: string, runId?: string): Promise<RollbackRunInfo> => {
        const handle = client.workflow.getHandle(workflowId, runId);
        let d;
        try {
          d = await handle.describe();
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) throw new InvalidTargetError(`rollbackId: there is no run "${workflowId}"`);
          throw err;
        }
        if (!ROLLBACK_TYPES.includes(d.type)) {
          throw new InvalidTargetError(`rollbackId: "${workflowId}" is a ${d.type} run, not a rollback (${ROLLBACK_TYPES.join(', ')})`);
        }
        if (d.status.name !== 'COMPLETED') {
          throw new InvalidTargetError(
            `rollbackId: "${workflowId}" is ${d.status.name}; only a completed rollback is undone this way (one that stopped partway undid its own database steps)`,
          );
        }
        const result = (await handle.result()) as { service: string; data?: Array<{ id: string; changed?: number }> };
        if (result.service !== input.service) throw new InvalidTargetError(`rollbackId: "${workflowId}" rolled back ${result.service}, not ${input.service}`);
        return {
          workflowId,
          runId: d.runId,
          workflowType: d.type,
          runKey: d.raw.workflowExecutionInfo?.firstRunId ?? d.runId,
          service: result.service,
          closedAt: (d.closeTime ?? new Date()).toISOString(),
          steps: (result.data ?? []).filter((x) => (x.changed ?? 0) > 0).map((x) => ({ id: x.id, changed: x.changed! })),
        };
      };
      if (input.workflowId) return read(input.workflowId);
      // Rollbacks of this deployment of workers (its task queue), as the rollbacks' dedupe is. The service
      // name is a configured name (lower-case letters, digits, dashes) and a task queue name is ours: both
      // safe inside the quotes.
      const taskQueue = Context.current().info.taskQueue;
      const query =
        `WorkflowType IN (${ROLLBACK_TYPES.map((t) => `"${t}"`).join(', ')}) AND RunbookTarget = "${input.service}" ` +
        `AND TaskQueue = "${taskQueue.replace(/"/g, '')}" AND ExecutionStatus = "Completed"`;
      let seen = 0;
      for await (const w of client.workflow.list({ query })) {
        const info = await read(w.workflowId, w.runId);
        if (info.steps.length) return info;
        if (++seen >= 20) break;
      }
      throw new InvalidTargetError(`rollbackId: no completed rollback of ${input.service} changed anything in its databases (looked at ${seen}); name one`);
    },
  };
}
