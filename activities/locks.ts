// The activity side of exclusive targets: asks the target's lock workflow for the target with
// signal-with-start (a workflow cannot start another by id-or-signal itself), and tells the lock whether
// its holder still runs, so a terminated or timed-out holder cannot keep the target.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { LOCK_WORKFLOW_TYPE, LockSignal, lockWorkflowId, type LockRequest, type LockWorkflowInput } from '../common/locks';
import type { Deps } from './deps';

export type LockActivities = ReturnType<typeof createLockActivities>;

export function createLockActivities(deps: Deps) {
  return {
    async requestLock(request: LockRequest): Promise<{ lockWorkflowId: string }> {
      const taskQueue = Context.current().info.taskQueue;
      const workflowId = lockWorkflowId(taskQueue, request.key);
      const args: [LockWorkflowInput] = [{ key: request.key, checkEveryMs: deps.config.locks.holderCheckMs }];
      await deps.temporal().workflow.signalWithStart(LOCK_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args,
        signal: LockSignal.request,
        signalArgs: [request],
      });
      return { lockWorkflowId: workflowId };
    },

    /** Whether the run `workflowId` is still running (its latest run, so continue-as-new keeps it). */
    async holderRunning(input: { workflowId: string }): Promise<boolean> {
      try {
        const d = await deps.temporal().workflow.getHandle(input.workflowId).describe();
        return d.status.name === 'RUNNING';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
  };
}
