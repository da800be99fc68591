// Human-readable forms of a rollback step's filter and change, for the plan an approver reads. Display only:
// nothing here is ever sent to a database.
import type { DataRollbackStep, MongoRollbackStep } from '../../config/data-rollback';

type Scalar = string | number | boolean | null;
type MongoCondition = MongoRollbackStep['filter'][string];

function show(v: Scalar): string {
  return typeof v === 'string' ? `'${v.replace(/'/g, "''")}'` : String(v);
}

const list = (vs: Scalar[]): string => `(${vs.map(show).join(', ')})`;

function mongoCondition(field: string, c: MongoCondition): string {
  if (c === null || typeof c !== 'object') return `${field} = ${show(c)}`;
  if ('$in' in c) return `${field} in ${list(c.$in)}`;
  if ('$nin' in c) return `${field} not in ${list(c.$nin)}`;
  if ('$gte' in c) return `${field} >= ${show(c.$gte)}`;
  if ('$gt' in c) return `${field} > ${show(c.$gt)}`;
  if ('$lte' in c) return `${field} <= ${show(c.$lte)}`;
  if ('$lt' in c) return `${field} < ${show(c.$lt)}`;
  if ('$ne' in c) return `${field} != ${show(c.$ne)}`;
  return c.$exists ? `${field} exists` : `${field} missing`;
}

/** `reporttemplates where version >= 2`, `public.reports where visibility = 'org-wide'`. */
export function describeWhere(step: DataRollbackStep): string {
  const conditions =
    step.store === 'mongo'
      ? Object.entries(step.filter).map(([f, c]) => mongoCondition(f, c))
      : Object.entries(step.where).map(([col, vs]) => (vs.length === 1 ? `${col} = ${show(vs[0]!)}` : `${col} in ${list(vs)}`));
  return `${step.store === 'mongo' ? step.collection : step.table} where ${conditions.join(' and ')}`;
}

/** `delete`, `set frequency='weekly'; unset customSchedule, advancedDelivery`. */
export function describeChange(step: DataRollbackStep): string {
  if (step.delete) return 'delete';
  const parts: string[] = [];
  const set = Object.entries(step.set ?? {});
  if (set.length) parts.push(`set ${set.map(([k, v]) => `${k}=${show(v)}`).join(', ')}`);
  if (step.store === 'mongo' && step.unset?.length) parts.push(`unset ${step.unset.join(', ')}`);
  return parts.join('; ');
}
