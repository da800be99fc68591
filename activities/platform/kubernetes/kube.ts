// The API requests the adapter makes, in the service's namespace, each with its failure mapped (errors.ts).
// Writes carry the resourceVersion they were computed from, so a concurrent change is a conflict, not lost.
import { setTimeout as delay } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import type { KubernetesPlatformConfig } from '../../../config/schema';
import { currentActivity } from '../../heartbeat';
import { clientsFor, type Clients } from './client';
import { apiError, type ApiCall } from './errors';
import { selectorString } from './revisions';

export type JsonPatch = Array<{ op: 'add' | 'replace' | 'remove'; path: string; value?: unknown }>;

type Call = Omit<ApiCall, 'namespace'>;

const patchAs = (type: k8s.PatchStrategy) => k8s.setHeaderOptions('Content-Type', type);

export class Kube {
  constructor(
    readonly service: string,
    readonly cfg: KubernetesPlatformConfig,
  ) {}

  get namespace(): string {
    return this.cfg.namespace;
  }

  /** One request; its failure becomes the error errors.ts decides. Credentials are loaded on first use. */
  async call<T>(c: Call, fn: (api: Clients, namespace: string) => Promise<T>): Promise<T> {
    const api = clientsFor(this.cfg);
    try {
      return await fn(api, this.namespace);
    } catch (err) {
      throw apiError(err, { ...c, namespace: this.namespace });
    }
  }

  readDeployment(name: string, field: string): Promise<k8s.V1Deployment> {
    return this.call({ verb: 'get', resource: 'deployments', name, field }, (a, namespace) => a.apps.readNamespacedDeployment({ name, namespace }));
  }

  /** A JSON patch that also asserts the resourceVersion the change was computed from (409 when stale). */
  patchDeployment(d: k8s.V1Deployment, field: string, ops: JsonPatch): Promise<k8s.V1Deployment> {
    const name = d.metadata!.name!;
    const body = [{ op: 'replace', path: '/metadata/resourceVersion', value: d.metadata!.resourceVersion }, ...ops];
    return this.call({ verb: 'patch', resource: 'deployments', name, field }, (a, namespace) =>
      a.apps.patchNamespacedDeployment({ name, namespace, body }, patchAs(k8s.PatchStrategy.JsonPatch)),
    );
  }

  /**
   * Reads the Deployment until `done` holds, up to `timeoutMs` (`until`: pauses from 10 ms up to 250 ms).
   * `written`: the object as a write just answered it, checked first instead of a read.
   */
  async deploymentUntil(
    name: string,
    field: string,
    done: (d: k8s.V1Deployment) => boolean,
    timeoutMs: number,
    written?: k8s.V1Deployment,
  ): Promise<{ value: k8s.V1Deployment; done: boolean }> {
    if (written && done(written)) return { value: written, done: true };
    return until(() => this.readDeployment(name, field), done, timeoutMs);
  }

  readScale(name: string, field: string): Promise<k8s.V1Scale> {
    return this.call({ verb: 'get', resource: 'deployments/scale', name, field }, (a, namespace) => a.apps.readNamespacedDeploymentScale({ name, namespace }));
  }

  patchScale(name: string, field: string, replicas: number): Promise<k8s.V1Scale> {
    return this.call({ verb: 'patch', resource: 'deployments/scale', name, field }, (a, namespace) =>
      a.apps.patchNamespacedDeploymentScale({ name, namespace, body: { spec: { replicas } } }, patchAs(k8s.PatchStrategy.MergePatch)),
    );
  }

  /** The ReplicaSets the Deployment owns (its revisions), found by its selector and owner uid. */
  async replicaSetsOf(d: k8s.V1Deployment): Promise<k8s.V1ReplicaSet[]> {
    const labelSelector = selectorString(d.spec!.selector);
    const list = await this.call({ verb: 'list', resource: 'replicasets' }, (a, namespace) => a.apps.listNamespacedReplicaSet({ namespace, labelSelector }));
    return list.items.filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === d.metadata!.uid));
  }

  async podsOf(d: k8s.V1Deployment): Promise<k8s.V1Pod[]> {
    const labelSelector = selectorString(d.spec!.selector);
    return (await this.call({ verb: 'list', resource: 'pods' }, (a, namespace) => a.core.listNamespacedPod({ namespace, labelSelector }))).items;
  }

  /** Deletes a pod; false when it was gone already (a retry, or its ReplicaSet was faster). */
  deletePod(name: string): Promise<boolean> {
    return this.call({ verb: 'delete', resource: 'pods', name }, async (a, namespace) => {
      try {
        await a.core.deleteNamespacedPod({ name, namespace });
        return true;
      } catch (err) {
        if ((err as { code?: unknown }).code === 404) return false;
        throw err;
      }
    });
  }

  readService(name: string, field: string): Promise<k8s.V1Service> {
    return this.call({ verb: 'get', resource: 'services', name, field }, (a, namespace) => a.core.readNamespacedService({ name, namespace }));
  }

  /** A merge patch; `body.metadata.resourceVersion` makes it conditional on the version read. */
  patchService(name: string, field: string, body: object): Promise<k8s.V1Service> {
    return this.call({ verb: 'patch', resource: 'services', name, field }, (a, namespace) =>
      a.core.patchNamespacedService({ name, namespace, body }, patchAs(k8s.PatchStrategy.MergePatch)),
    );
  }

  readConfigMap(name: string, field: string): Promise<k8s.V1ConfigMap> {
    return this.call({ verb: 'get', resource: 'configmaps', name, field }, (a, namespace) => a.core.readNamespacedConfigMap({ name, namespace }));
  }

  patchConfigMap(name: string, field: string, body: object): Promise<k8s.V1ConfigMap> {
    return this.call({ verb: 'patch', resource: 'configmaps', name, field }, (a, namespace) =>
      a.core.patchNamespacedConfigMap({ name, namespace, body }, patchAs(k8s.PatchStrategy.MergePatch)),
    );
  }
}

/**
 * Reads until `done`, for up to `timeoutMs`; returns the last value read and whether it was done. The pauses
 * start at 10 ms and double up to `everyMs`: the controllers usually answer within tens of milliseconds, and
 * a fixed long pause would make every change wait for it. Inside an activity the pauses end with a
 * CancelledFailure when the activity is cancelled.
 */
export async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number, everyMs = 250): Promise<{ value: T; done: boolean }> {
  const deadline = Date.now() + timeoutMs;
  const ctx = currentActivity();
  for (let pause = 10; ; pause = Math.min(pause * 2, everyMs)) {
    const value = await read();
    if (done(value)) return { value, done: true };
    if (Date.now() >= deadline) return { value, done: false };
    await (ctx ? ctx.sleep(pause) : delay(pause));
  }
}
