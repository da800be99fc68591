// A change of a Deployment's pod template (deploy, roll back, graceful restart): one JSON patch that changes
// the template and records the request (records.ts), conditional on the resourceVersion it was computed from.
// The controller then gives the new template the next revision number; the answer names it.
import type { V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import { retryOnConflict } from './errors';
import { until, type JsonPatch, type Kube } from './kube';
import { annotationsWith, type Applied } from './records';
import { observed, revisionOf } from './revisions';

/** How long the deployment controller may take to pick up a spec (normally milliseconds). */
export const CONTROLLER_WAIT_MS = 10_000;

export interface Snapshot {
  d: V1Deployment;
  replicaSets: V1ReplicaSet[];
}

/** The Deployment, once the controller has caught up with its spec (so every revision is assigned), and its ReplicaSets. */
export async function snapshot(kube: Kube, name: string, field: string): Promise<Snapshot> {
  const { value: d } = await until(() => kube.readDeployment(name, field), observed, CONTROLLER_WAIT_MS);
  return { d, replicaSets: await kube.replicaSetsOf(d) };
}

/** The revision a changed template gets: one above every revision there is, whether its ReplicaSet is new or re-used. */
export function nextRevision(s: Snapshot): number {
  return Math.max(revisionOf(s.d), ...s.replicaSets.map(revisionOf)) + 1;
}

export interface TemplateChange<A> {
  /** The answer of the first application when the request was applied already. */
  repeated(d: V1Deployment): A | undefined;
  /** The patch of the template (none: nothing to change), the record of the request and the answer. */
  plan(s: Snapshot): { ops: JsonPatch; entry: Applied; changeCause: string; answer: A };
}

/** Applies `change` once: a retry finds its record, a concurrent writer makes it re-read and re-plan. */
export function applyTemplateChange<A>(kube: Kube, name: string, field: string, change: TemplateChange<A>): Promise<A> {
  return retryOnConflict(async () => {
    const s = await snapshot(kube, name, field);
    const again = change.repeated(s.d);
    if (again) return again;
    const { ops, entry, changeCause, answer } = change.plan(s);
    if (!ops.length) return answer;
    const patched = await kube.patchDeployment(s.d, field, [
      ...ops,
      { op: 'add', path: '/metadata/annotations', value: annotationsWith(s.d, entry, changeCause) },
    ]);
    await revisionAssigned(kube, patched, field);
    return answer;
  });
}

/** Waits until the controller has seen `patched` (and so given its template a revision). */
async function revisionAssigned(kube: Kube, patched: V1Deployment, field: string): Promise<void> {
  const generation = patched.metadata?.generation ?? 0;
  const name = patched.metadata!.name!;
  const seen = await kube.deploymentUntil(name, field, (d) => (d.status?.observedGeneration ?? 0) >= generation, CONTROLLER_WAIT_MS, patched);
  if (!seen.done) {
    throw new Error(
      `the deployment controller has not taken up the change of Deployment "${name}" in namespace "${kube.namespace}" within ${CONTROLLER_WAIT_MS / 1000}s (is kube-controller-manager running?)`,
    );
  }
}
