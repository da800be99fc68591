// Finds a service's configured rollback steps and checks what they act on, so an activity never touches a
// store the service does not own. The configuration schema checks this too; this guards against a step
// asked for by id that the reviewed configuration does not have (or no longer has).
import type { DataRollbackStep } from '../../config/data-rollback';
import type { Deps } from '../deps';
import { InvalidTargetError, UnsafeOperationError } from '../errors';

/** The service's steps in configured order; [] when it has no dataRollback. */
export function serviceSteps(deps: Deps, service: string): DataRollbackStep[] {
  const steps = deps.service(service).dataRollback?.steps ?? [];
  for (const step of steps) checkStep(deps, service, step);
  return steps;
}

export function findStep(deps: Deps, service: string, stepId: string): DataRollbackStep {
  const svc = deps.service(service);
  const steps = svc.dataRollback?.steps ?? [];
  const step = steps.find((s) => s.id === stepId);
  if (!step) {
    throw new InvalidTargetError(
      svc.dataRollback
        ? `stepId: "${stepId}" is not a dataRollback step of service "${service}"; known steps: ${steps.map((s) => s.id).join(', ')}`
        : `stepId: service "${service}" has no dataRollback configured (services.${service}.dataRollback), so it has no step "${stepId}"`,
    );
  }
  checkStep(deps, service, step);
  return step;
}

/** The step acts on a store of the service, with a change Mongo would accept. */
function checkStep(deps: Deps, service: string, step: DataRollbackStep): void {
  checkChange(service, step);
  const svc = deps.service(service);
  const owned = step.store === 'mongo' ? svc.mongo : svc.postgres;
  if (!owned.includes(step.target)) {
    throw new InvalidTargetError(
      `dataRollback step "${step.id}" of service "${service}" names ${step.store} target "${step.target}", which is not one of the service's ` +
        `(${owned.join(', ') || 'none'}); fix services.${service}.dataRollback`,
    );
  }
}

/** The saved copies of a step are found by runKey; an empty one would mix different runs' copies. */
export function checkRunKey(runKey: string): void {
  if (typeof runKey !== 'string' || runKey.trim() === '' || runKey.length > 200) {
    throw new UnsafeOperationError(
      `runKey must be a non-empty string of at most 200 characters (it keys the saved copies for undo); got ${JSON.stringify(runKey)}`,
    );
  }
}

/**
 * Mongo refuses an update that names a field twice or a field and a path inside it ($set a + $unset a.b),
 * and any change of _id; the schema admits both, so they are refused here, at plan time, not mid-apply.
 */
function checkChange(service: string, step: DataRollbackStep): void {
  if (step.store !== 'mongo' || step.delete) return;
  const fields = [...Object.keys(step.set ?? {}), ...(step.unset ?? [])];
  const clash = (a: string, b: string): boolean => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
  const problem =
    fields.find((f) => clash(f, '_id')) !== undefined
      ? 'changes _id, which Mongo never changes'
      : fields
          .flatMap((a, i) =>
            fields
              .slice(i + 1)
              .filter((b) => clash(a, b))
              .map((b) => `names both "${a}" and "${b}"`),
          )
          .join(', ');
  if (problem) {
    throw new InvalidTargetError(`dataRollback step "${step.id}" of service "${service}" ${problem} in set/unset; fix services.${service}.dataRollback`);
  }
}
