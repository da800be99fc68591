// The requests applied to a Deployment: the last few, as JSON in its annotation `runbooks.temporal.io/requests`,
// written in the same request as the change each made. A retried call (same request id) finds its answer
// here and changes nothing; the id reused for another change is refused. They also tell which request made
// which revision (the history's cause and request id). Pure: unit-tested without a cluster.
import { UnsafeOperationError } from '../../errors';
import type { DeployResult, RestartResult, Revision } from '../port';

export const REQUESTS_ANNOTATION = 'runbooks.temporal.io/requests';
/** What `kubectl rollout history` shows as CHANGE-CAUSE (the controller copies it to the new ReplicaSet). */
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';
/** Requests kept per Deployment: enough for any retry, small enough for an annotation. */
export const KEEP_REQUESTS = 20;

interface Entry {
  id: string;
  /** What was asked, in words ("a deploy of v1.5.0"): equal for a retry, different for a reused id. */
  asked: string;
  at: string;
}

export type Applied =
  (Entry & { kind: 'deploy' | 'rollback'; answer: Omit<DeployResult, 'repeated'> }) | (Entry & { kind: 'restart'; answer: Omit<RestartResult, 'repeated'> });

type Annotated = { metadata?: { annotations?: Record<string, string> } };

/** The recorded requests, oldest first; an annotation edited into something else counts as none. */
export function appliedRequests(o: Annotated): Applied[] {
  const raw = o.metadata?.annotations?.[REQUESTS_ANNOTATION];
  if (!raw) return [];
  try {
    const list = JSON.parse(raw) as unknown;
    return Array.isArray(list) ? (list as Applied[]).filter((a) => typeof a?.id === 'string' && typeof a.asked === 'string' && a.answer) : [];
  } catch {
    return [];
  }
}

/** The request recorded under `id`, if any; the id recorded for something other than `asked` is refused. */
function findApplied(o: Annotated, id: string, asked: string): Applied | undefined {
  const hit = appliedRequests(o).find((a) => a.id === id);
  if (hit && hit.asked !== asked) throw new UnsafeOperationError(`request ${id} was applied as ${hit.asked}, not ${asked}: use a new request id`);
  return hit;
}

export function repeatedDeploy(o: Annotated, id: string, asked: string): DeployResult | undefined {
  const hit = findApplied(o, id, asked);
  return hit && hit.kind !== 'restart' ? { ...hit.answer, repeated: true } : undefined;
}

export function repeatedRestart(o: Annotated, id: string, asked: string): RestartResult | undefined {
  const hit = findApplied(o, id, asked);
  return hit?.kind === 'restart' ? { ...hit.answer, repeated: true } : undefined;
}

/** The object's annotations with `entry` recorded (the oldest dropped beyond KEEP_REQUESTS), and a change cause. */
export function annotationsWith(o: Annotated, entry: Applied, changeCause?: string): Record<string, string> {
  const list = [...appliedRequests(o), entry].slice(-KEEP_REQUESTS);
  return {
    ...o.metadata?.annotations,
    [REQUESTS_ANNOTATION]: JSON.stringify(list),
    ...(changeCause ? { [CHANGE_CAUSE_ANNOTATION]: changeCause } : {}),
  };
}

/** Who made `revision`: the latest recorded deploy or rollback that answered it. */
export function madeBy(records: Applied[], revision: number): Pick<Revision, 'cause' | 'requestId' | 'at'> | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (r.kind !== 'restart' && r.answer.revision.revision === revision) return { cause: r.kind, requestId: r.id, at: r.at };
  }
  return undefined;
}
