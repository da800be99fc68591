// The queue workers on Kubernetes: the Deployment `workers`. Scaling goes through its scale subresource (to
// N, never by N) and waits for the ready replicas; a graceful restart is `kubectl rollout restart` (a new
// revision), a forced one deletes its pods at once. Restarts are recorded by request id like deploys.
import { durationMs } from '../../../common/duration';
import { UnsafeOperationError } from '../../errors';
import { previousHeartbeat, withHeartbeat } from '../../heartbeat';
import type { PlatformState, RestartMode, RestartResult } from '../port';
import { applyTemplateChange, nextRevision } from './changes';
import { retryOnConflict } from './errors';
import { annotationsWith, repeatedRestart } from './records';
import type { Kube } from './kube';
import { checkReplicas, checkRequestId, revisionOf, rolloutOf, scaledTo } from './revisions';

const FIELD = 'workers';
/** The template annotation `kubectl rollout restart` sets: a new value is a new template, so a new revision. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

export class KubernetesWorkers {
  constructor(private readonly kube: Kube) {}

  private get name(): string {
    return this.kube.cfg.workers;
  }

  /** Replicas wanted, revision (the restart generation) and its rollout; busy workers cannot be told. */
  async state(): Promise<Omit<PlatformState, 'maintenance' | 'busy'>> {
    const d = await this.kube.readDeployment(this.name, FIELD);
    const r = rolloutOf(d);
    // A rollout the controller gave up on is not complete: for the workers that is all a wait needs to know.
    const status = r.status === 'complete' ? 'complete' : 'in-progress';
    return { replicas: d.spec?.replicas ?? 1, generation: r.revision, rollout: { status, generation: r.revision, updated: r.updated, total: r.total } };
  }

  async scale(replicas: number): Promise<{ previous: number; replicas: number }> {
    checkReplicas(replicas);
    const scale = await this.kube.readScale(this.name, FIELD);
    // A retried attempt finds the count scaled already: the first attempt's reading is the one to undo to.
    const current = scale.spec?.replicas ?? 0;
    const previous = previousHeartbeat<{ previous?: number }>()?.previous ?? current;
    if (current !== replicas) await this.kube.patchScale(this.name, FIELD, replicas);
    const timeoutMs = durationMs(this.kube.cfg.readyTimeout);
    const ready = await withHeartbeat(
      () => this.kube.deploymentUntil(this.name, FIELD, (d) => scaledTo(d, replicas), timeoutMs),
      () => ({ previous }),
    );
    if (!ready.done) {
      const s = ready.value.status ?? {};
      throw new Error(
        `Deployment "${this.name}" in namespace "${this.kube.namespace}" was scaled to ${replicas} but has ${s.readyReplicas ?? 0} ready of ${s.replicas ?? 0} after ${this.kube.cfg.readyTimeout} (platform.readyTimeout)`,
      );
    }
    return { previous, replicas };
  }

  async restart(mode: RestartMode, requestId: string): Promise<RestartResult> {
    checkRequestId(requestId);
    if (mode !== 'graceful' && mode !== 'force') throw new UnsafeOperationError(`unknown restart mode ${JSON.stringify(mode)}: graceful or force`);
    return mode === 'graceful' ? this.graceful(requestId) : this.force(requestId);
  }

  private graceful(requestId: string): Promise<RestartResult> {
    const asked = 'a graceful restart';
    return applyTemplateChange(this.kube, this.name, FIELD, {
      repeated: (d) => repeatedRestart(d, requestId, asked),
      plan: (s) => {
        const at = new Date().toISOString();
        const annotations = { ...s.d.spec?.template?.metadata?.annotations, [RESTARTED_AT_ANNOTATION]: at };
        const answer = { mode: 'graceful' as const, requestId, generation: nextRevision(s), replicas: s.d.spec?.replicas ?? 1 };
        return {
          ops: [{ op: 'add', path: '/spec/template/metadata/annotations', value: annotations }],
          entry: { id: requestId, asked, at, kind: 'restart', answer },
          changeCause: `runbooks: ${asked} (request ${requestId})`,
          answer: { ...answer, repeated: false },
        };
      },
    });
  }

  /**
   * Deletes every pod of the workers; their ReplicaSet starts new ones at once. Recorded after the pods are
   * gone, not before: a failure in between makes the retry kill the new pods too (harmless), whereas
   * recording first could answer "repeated" for a restart that never happened.
   */
  private async force(requestId: string): Promise<RestartResult> {
    const asked = 'a force restart';
    const d = await this.kube.readDeployment(this.name, FIELD);
    const again = repeatedRestart(d, requestId, asked);
    if (again) return again;
    // Pods on their way out already are not killed again (nor counted).
    const pods = (await this.kube.podsOf(d)).filter((p) => !p.metadata?.deletionTimestamp);
    const deleted = await Promise.all(pods.map((p) => this.kube.deletePod(p.metadata!.name!)));
    const answer = { mode: 'force' as const, requestId, generation: revisionOf(d), replicas: d.spec?.replicas ?? 1, killed: deleted.filter(Boolean).length };
    const at = new Date().toISOString();
    await retryOnConflict(async () => {
      const now = await this.kube.readDeployment(this.name, FIELD);
      if (repeatedRestart(now, requestId, asked)) return;
      const annotations = annotationsWith(now, { id: requestId, asked, at, kind: 'restart', answer });
      await this.kube.patchDeployment(now, FIELD, [{ op: 'add', path: '/metadata/annotations', value: annotations }]);
    });
    return { ...answer, repeated: false };
  }
}
