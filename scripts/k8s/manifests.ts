// Applying the shipped manifests (deploy/k8s/*.yaml) to one namespace with server-side apply, as
// `kubectl apply --server-side -n <ns> -f` would: used by the stack (namespace runbooks-demo) and by the tests
// (a namespace per test). Idempotent: a second apply changes nothing that was not changed by hand.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { ROOT } from '../stack/paths';

export const MANIFESTS = {
  demo: path.join(ROOT, 'deploy', 'k8s', 'demo.yaml'),
  role: path.join(ROOT, 'deploy', 'k8s', 'role.yaml'),
};

export const FIELD_MANAGER = 'temporal-runbooks';

type Obj = k8s.KubernetesObject & { subjects?: Array<{ kind: string; namespace?: string }> };

/** The objects of a manifest file, placed in `namespace` (ServiceAccount subjects of bindings too). */
export function manifestObjects(file: string, namespace: string): Obj[] {
  return (k8s.loadAllYaml(readFileSync(file, 'utf8')) as Obj[])
    .filter((o) => o?.kind)
    .map((o) => ({
      ...o,
      metadata: { ...o.metadata, namespace },
      ...(o.subjects ? { subjects: o.subjects.map((s) => (s.kind === 'ServiceAccount' ? { ...s, namespace } : s)) } : {}),
    }));
}

/** Creates `namespace` if missing and server-side-applies the files' objects into it. */
export async function applyManifests(kc: k8s.KubeConfig, namespace: string, files: string[]): Promise<number> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  try {
    await core.readNamespace({ name: namespace });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER } } } });
  }
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  let n = 0;
  for (const file of files) {
    for (const o of manifestObjects(file, namespace)) {
      await api.patch(o, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
      n += 1;
    }
  }
  return n;
}

/** Waits until every Deployment of `namespace` (or those of `names`) has rolled out (observed its generation, all replicas ready). */
export async function waitForDeployments(kc: k8s.KubeConfig, namespace: string, timeoutMs = 60_000, names?: string[]): Promise<void> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await apps.listNamespacedDeployment({ namespace });
    const pending = list.items.filter((d) => {
      if (names && !names.includes(d.metadata?.name ?? '')) return false;
      const s = d.status ?? {};
      const want = d.spec?.replicas ?? 1;
      return (s.observedGeneration ?? 0) < (d.metadata?.generation ?? 0) || (s.updatedReplicas ?? 0) < want || (s.readyReplicas ?? 0) < want;
    });
    if (!pending.length) return;
    if (Date.now() > deadline) {
      throw new Error(`namespace ${namespace}: deployments not rolled out after ${timeoutMs / 1000}s: ${pending.map((d) => d.metadata?.name).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
