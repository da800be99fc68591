// Deployments on Kubernetes: a version is the image tag of one container of the Deployment `deployment`; its
// ReplicaSets are the revisions. deploy = `kubectl set image`, rollback = `kubectl rollout undo`, and a
// retried call (same request id) is answered from the Deployment's request record instead of applied again.
import type { V1Deployment, V1PodTemplateSpec, V1ReplicaSet } from '@kubernetes/client-node';
import { InvalidTargetError, UnsafeOperationError } from '../../errors';
import type { DeployResult, DeploymentState, Revision } from '../port';
import { applyTemplateChange, nextRevision, type Snapshot } from './changes';
import type { JsonPatch, Kube } from './kube';
import { appliedRequests, madeBy, repeatedDeploy } from './records';
import { checkRequestId, checkRevision, checkVersion, containerOf, POD_TEMPLATE_HASH, revisionOf, rolloutOf, versionOf } from './revisions';

const FIELD = 'deployment';

export class KubernetesDeployments {
  constructor(private readonly kube: Kube) {}

  private get name(): string {
    return this.kube.cfg.deployment;
  }

  private versionIn(template: V1PodTemplateSpec | undefined): string {
    return versionOf(containerOf(template, this.kube.cfg.container).container.image, this.kube.cfg.image);
  }

  /** The revisions (one per ReplicaSet, by its current number), oldest first, with who made each. */
  private history({ d, replicaSets }: Snapshot): Revision[] {
    const records = appliedRequests(d);
    return replicaSets
      .filter((rs) => revisionOf(rs) > 0)
      .map((rs): Revision => {
        const revision = revisionOf(rs);
        const by = madeBy(records, revision) ?? { cause: 'deploy', requestId: '', at: rs.metadata?.creationTimestamp?.toISOString() ?? '' };
        return { revision, version: this.versionIn(rs.spec?.template), ...by };
      })
      .sort((a, b) => a.revision - b.revision);
  }

  /** The Deployment's current revision (its template's, before the controller has made a ReplicaSet for it). */
  private current(d: V1Deployment, history: Revision[]): Revision {
    const revision = revisionOf(d);
    return history.find((r) => r.revision === revision) ?? { revision, version: this.versionIn(d.spec?.template), cause: 'deploy', requestId: '', at: '' };
  }

  async deployment(): Promise<DeploymentState> {
    const d = await this.kube.readDeployment(this.name, FIELD);
    const history = this.history({ d, replicaSets: await this.kube.replicaSetsOf(d) });
    const available = this.kube.cfg.versions ?? [...new Set(history.map((r) => r.version))];
    return { current: this.current(d, history), history, rollout: rolloutOf(d), available };
  }

  async deploy(version: string, requestId: string): Promise<DeployResult> {
    checkVersion(version, this.kube.cfg.versions);
    checkRequestId(requestId);
    return this.change(requestId, `a deploy of ${version}`, (s, previous) => {
      const { container, index } = containerOf(s.d.spec?.template, this.kube.cfg.container);
      const image = `${this.kube.cfg.image}:${version}`;
      // The version running already: like `kubectl set image` with the same image, nothing changes.
      if (container.image === image) return { ops: [], revision: previous };
      return {
        ops: [{ op: 'replace', path: `/spec/template/spec/containers/${index}/image`, value: image }],
        revision: { revision: nextRevision(s), version, cause: 'deploy', requestId, at: new Date().toISOString() },
      };
    });
  }

  async rollback(requestId: string, toRevision?: number): Promise<DeployResult> {
    checkRequestId(requestId);
    const to = checkRevision(toRevision);
    return this.change(requestId, to === undefined ? 'a rollback to the previous revision' : `a rollback to revision ${to}`, (s, previous) => {
      const target = rollbackTarget(s, previous.revision, to);
      // The old ReplicaSet's template without the controller's hash label: the controller finds that
      // ReplicaSet again by it and gives it the next revision number, as after `kubectl rollout undo`.
      const template = JSON.parse(JSON.stringify(target.spec?.template ?? {})) as V1PodTemplateSpec;
      delete template.metadata?.labels?.[POD_TEMPLATE_HASH];
      return {
        ops: [{ op: 'replace', path: '/spec/template', value: template }],
        revision: { revision: nextRevision(s), version: this.versionIn(template), cause: 'rollback', requestId, at: new Date().toISOString() },
      };
    });
  }

  /** A deploy or rollback: `make` gives the template patch and the revision it makes, from the current one. */
  private change(requestId: string, asked: string, make: (s: Snapshot, previous: Revision) => { ops: JsonPatch; revision: Revision }): Promise<DeployResult> {
    return applyTemplateChange(this.kube, this.name, FIELD, {
      repeated: (d) => repeatedDeploy(d, requestId, asked),
      plan: (s) => {
        const previous = this.current(s.d, this.history(s));
        const { ops, revision } = make(s, previous);
        return {
          ops,
          entry: { id: requestId, asked, at: revision.at, kind: revision.cause, answer: { revision, previous } },
          changeCause: `runbooks: ${asked} (request ${requestId})`,
          answer: { revision, previous, repeated: false },
        };
      },
    });
  }
}

/** The ReplicaSet to roll back to: revision `to`, default the newest one before `current` (kubectl's choice). */
function rollbackTarget(s: Snapshot, current: number, to: number | undefined): V1ReplicaSet {
  const revisions = s.replicaSets.map(revisionOf).filter((r) => r > 0);
  const listed = `its revisions: ${[...revisions].sort((a, b) => a - b).join(', ') || '(none)'}`;
  const wanted = to ?? Math.max(0, ...revisions.filter((r) => r < current));
  const target = s.replicaSets.find((rs) => revisionOf(rs) === wanted);
  if (!target) {
    const which = to === undefined ? `no revision before the current one (${current})` : `no revision ${to}`;
    throw new InvalidTargetError(`Deployment "${s.d.metadata?.name}" in namespace "${s.d.metadata?.namespace}" has ${which} to roll back to; ${listed}`);
  }
  if (wanted === current) throw new UnsafeOperationError(`revision ${wanted} is the current revision of Deployment "${s.d.metadata?.name}" already; ${listed}`);
  return target;
}
