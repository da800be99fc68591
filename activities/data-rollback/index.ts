// Database rollback activities (seed 001 "Database Rollback Scripts") for the steps a service's reviewed
// configuration lists (services.<name>.dataRollback): plan (count), apply one step (save, then change,
// idempotently per runKey), undo one step (put back what it saved), and an integrity check afterwards.
import type { DataRollbackStep } from '../../config/data-rollback';
import type { Deps } from '../deps';
import { InvalidTargetError, UnsafeOperationError } from '../errors';
import { withHeartbeat } from '../heartbeat';
import { describeChange, describeWhere } from './describe';
import { foreignKeyChecks } from './integrity';
import { applyMongo, countMongo, undoMongo } from './mongo';
import { applyPostgres, countPostgres, undoPostgres } from './postgres';
import { checkRunKey, findStep, serviceSteps } from './steps';
import type {
  DataIntegrityCheck,
  DataIntegrityResult,
  DataRollbackApplyResult,
  DataRollbackCount,
  DataRollbackStepInput,
  DataRollbackUndoResult,
} from './types';

export type {
  DataIntegrityCheck,
  DataIntegrityResult,
  DataRollbackApplyResult,
  DataRollbackCount,
  DataRollbackStepInput,
  DataRollbackUndoResult,
} from './types';

export type DataRollbackActivities = ReturnType<typeof createDataRollbackActivities>;

const unit = (step: DataRollbackStep): string => (step.store === 'mongo' ? 'document(s)' : 'row(s)');

export function createDataRollbackActivities(deps: Deps) {
  const count = (step: DataRollbackStep): Promise<number> =>
    step.store === 'mongo' ? countMongo(deps.mongo(step.target), step) : countPostgres(deps.pg(step.target), step);

  return {
    /** Every configured step in order with how many documents/rows it would change now. Read-only. */
    async planDataRollback(input: { service: string }): Promise<DataRollbackCount[]> {
      const plan: DataRollbackCount[] = [];
      for (const step of serviceSteps(deps, input.service)) {
        plan.push({
          id: step.id,
          store: step.store,
          target: step.target,
          ...(step.store === 'mongo' ? { collection: step.collection } : { table: step.table }),
          where: describeWhere(step),
          change: describeChange(step),
          ...(step.description ? { description: step.description } : {}),
          ...(step.store === 'postgres' && step.migration ? { migration: step.migration } : {}),
          count: await count(step),
        });
      }
      return plan;
    },

    /** Saves the documents/rows the step changes, then changes them; a repeat with the same runKey changes nothing twice. */
    async applyDataRollbackStep(input: DataRollbackStepInput): Promise<DataRollbackApplyResult> {
      const step = findStep(deps, input.service, input.stepId);
      checkRunKey(input.runKey);
      const counts = await withHeartbeat(
        (signal) =>
          step.store === 'mongo'
            ? applyMongo(deps.mongo(step.target), step, input.runKey, signal)
            : applyPostgres(deps.pg(step.target), step, input.runKey, signal),
        () => ({ applying: step.id }),
      );
      return { id: step.id, ...counts };
    },

    /** Puts back what the step saved in this run; a second undo restores nothing. */
    async undoDataRollbackStep(input: DataRollbackStepInput): Promise<DataRollbackUndoResult> {
      const step = findStep(deps, input.service, input.stepId);
      checkRunKey(input.runKey);
      const restored = await withHeartbeat(
        (signal) =>
          step.store === 'mongo'
            ? undoMongo(deps.mongo(step.target), step, input.runKey, signal)
            : undoPostgres(deps.pg(step.target), step, input.runKey, signal),
        () => ({ undoing: step.id }),
      );
      return { id: step.id, restored };
    },

    /**
     * After a rollback: no step has anything left to change, and no foreign key from or to a table the
     * steps changed has orphaned rows. A failed check is a result; this throws only when it cannot ask.
     */
    async checkDataIntegrity(input: { service: string }): Promise<DataIntegrityResult> {
      const steps = serviceSteps(deps, input.service);
      const checks: DataIntegrityCheck[] = [];
      for (const step of steps) {
        const name = `step ${step.id}: nothing left to roll back`;
        try {
          const n = await count(step);
          checks.push({
            name,
            ok: n === 0,
            detail: `${n} ${unit(step)} of ${describeWhere(step)} ${n === 0 ? 'need' : 'still need'} "${describeChange(step)}"`,
          });
        } catch (err) {
          if (!(err instanceof InvalidTargetError || err instanceof UnsafeOperationError)) throw err;
          checks.push({ name, ok: false, detail: err.message });
        }
      }
      const tables = new Map<string, { target: string; table: string }>();
      for (const s of steps) if (s.store === 'postgres') tables.set(`${s.target}\u0000${s.table}`, { target: s.target, table: s.table });
      for (const { target, table } of tables.values()) checks.push(...(await foreignKeyChecks(deps.pg(target), target, table)));
      return { ok: checks.every((c) => c.ok), checks };
    },
  };
}
