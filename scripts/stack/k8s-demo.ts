// The demo service's objects on the local Kubernetes plane: deploy/k8s/demo.yaml and deploy/k8s/role.yaml,
// server-side applied into one namespace (runbooks-demo for the stack) as field manager temporal-runbooks.
// Only objects that are missing are applied: one that exists is left exactly as it is, because the runbooks
// change these objects (scale the workers, deploy a version, point the Service at the maintenance page), and
// restarting the stack must not undo what a runbook did or is in the middle of doing. (A forced apply would,
// and even an unforced one would silently reset replicas changed through the scale subresource, which takes
// no ownership of the field.) To start over from the manifests: delete the namespace, then start again.
import * as k8s from '@kubernetes/client-node';
import { kubernetesPlatform } from '../../activities/platform/kubernetes';
import type { KubernetesPlatformConfig } from '../../config/schema';
import { FIELD_MANAGER, MANIFESTS, manifestObjects, waitForDeployments } from '../k8s/manifests';

export interface DemoObjectsReport {
  namespace: string;
  /** kind/name of the objects applied now (they were missing). */
  created: string[];
  /** kind/name of the objects that were there already, left as they are. */
  present: string[];
}

const id = (o: k8s.KubernetesObject): string => `${o.kind!.toLowerCase()}/${o.metadata!.name!}`;

async function exists(api: k8s.KubernetesObjectApi, o: k8s.KubernetesObject): Promise<boolean> {
  try {
    await api.read({ apiVersion: o.apiVersion!, kind: o.kind!, metadata: { name: o.metadata!.name!, namespace: o.metadata!.namespace! } });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return false;
    throw err;
  }
}

/**
 * Applies what is missing of the namespace, the demo objects and the Role; waits for new Deployments to roll
 * out. `history`: when the service's Deployment is created now, the versions after its manifest's first one
 * are deployed in turn through the platform adapter (as the local demo seeds v1.4.2 then v1.5.0), so a fresh
 * stack has a bad release running and a good revision to roll back to on either platform.
 */
export async function ensureDemoObjects(
  kc: k8s.KubeConfig,
  namespace: string,
  history?: { platform: KubernetesPlatformConfig; versions: string[] },
): Promise<DemoObjectsReport> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const ns: k8s.KubernetesObject = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace, labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER } },
  };
  const report: DemoObjectsReport = { namespace, created: [], present: [] };
  for (const o of [ns, ...manifestObjects(MANIFESTS.demo, namespace), ...manifestObjects(MANIFESTS.role, namespace)]) {
    if (await exists(api, o)) {
      report.present.push(id(o));
      continue;
    }
    await api.patch(o, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
    report.created.push(id(o));
  }
  const deployments = report.created.filter((x) => x.startsWith('deployment/')).map((x) => x.slice('deployment/'.length));
  if (deployments.length) await waitForDeployments(kc, namespace, 60_000, deployments);
  if (history && deployments.includes(history.platform.deployment)) {
    const platform = kubernetesPlatform('reports', history.platform);
    for (const version of history.versions.slice(1)) await platform.deploy(version, `stack-initial-${version}`);
    await waitForDeployments(kc, namespace, 60_000, [history.platform.deployment]);
  }
  return report;
}
