// What the Kubernetes runbook tests set up and read back through the admin API (never through the adapter
// under test): a person's `kubectl set image`, a Deployment's rollout, its ReplicaSet revisions, the
// workers' scale, the Service selector, the flags ConfigMap, and every object's resourceVersion.
import * as k8s from '@kubernetes/client-node';
import type { DemoNamespace } from './k8s';
import { eventually } from './env';

const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export const IMAGE = 'registry.local/reports';
export const REVISION = 'deployment.kubernetes.io/revision';
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/** `kubectl set image deployment/reports reports=registry.local/reports:<version>`, as a person would. */
export async function setImage(ns: DemoNamespace, version: string): Promise<void> {
  await ns.apps.patchNamespacedDeployment(
    { name: 'reports', namespace: ns.namespace, body: { spec: { template: { spec: { containers: [{ name: 'reports', image: `${IMAGE}:${version}` }] } } } } },
    strategic,
  );
}

/** Merge-patches a Deployment's spec (progressDeadlineSeconds, minReadySeconds, replicas). */
export async function patchSpec(ns: DemoNamespace, name: string, spec: Record<string, unknown>): Promise<void> {
  await ns.apps.patchNamespacedDeployment({ name, namespace: ns.namespace, body: { spec } }, merge);
}

export async function deploymentOf(ns: DemoNamespace, name = 'reports'): Promise<k8s.V1Deployment> {
  return ns.apps.readNamespacedDeployment({ name, namespace: ns.namespace });
}

export function imageOf(d: k8s.V1Deployment | k8s.V1ReplicaSet): string | undefined {
  return d.spec?.template?.spec?.containers[0]?.image;
}

/** The Deployment's rollout is done: its generation observed, every replica updated, ready and available. */
export function rolledOut(d: k8s.V1Deployment): boolean {
  const s = d.status ?? {};
  const want = d.spec?.replicas ?? 1;
  return (
    (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
    (s.updatedReplicas ?? 0) === want &&
    (s.readyReplicas ?? 0) === want &&
    (s.availableReplicas ?? 0) === want &&
    (s.replicas ?? 0) === want
  );
}

export async function waitRolledOut(ns: DemoNamespace, name = 'reports', timeoutMs = 30_000): Promise<k8s.V1Deployment> {
  return eventually(
    async () => {
      const d = await deploymentOf(ns, name);
      return rolledOut(d) && d;
    },
    timeoutMs,
    `deployment ${ns.namespace}/${name} to roll out`,
  );
}

/** The requests the runbooks applied to a Deployment, as its annotation records them (oldest first). */
export function requestRecord(d: k8s.V1Deployment): Array<{ id: string; kind: string; asked: string }> {
  const raw = d.metadata?.annotations?.['runbooks.temporal.io/requests'];
  return raw ? (JSON.parse(raw) as Array<{ id: string; kind: string; asked: string }>) : [];
}

export function condition(d: k8s.V1Deployment, type: string): k8s.V1DeploymentCondition | undefined {
  return d.status?.conditions?.find((c) => c.type === type);
}

export interface Rs {
  name: string;
  revision: number;
  /** Earlier revisions this ReplicaSet had (`kubectl rollout undo` moves a ReplicaSet to a new revision). */
  history: string | undefined;
  image: string | undefined;
  replicas: number;
  ready: number;
}

/** The ReplicaSets of a Deployment (by its `app` label), oldest revision first. */
export async function replicaSets(ns: DemoNamespace, app = 'reports'): Promise<Rs[]> {
  const list = await ns.apps.listNamespacedReplicaSet({ namespace: ns.namespace, labelSelector: `app=${app}` });
  return list.items
    .map((rs) => ({
      name: rs.metadata!.name!,
      revision: Number(rs.metadata?.annotations?.[REVISION]),
      history: rs.metadata?.annotations?.['deployment.kubernetes.io/revision-history'],
      image: imageOf(rs),
      replicas: rs.status?.replicas ?? 0,
      ready: rs.status?.readyReplicas ?? 0,
    }))
    .sort((a, b) => a.revision - b.revision);
}

/** `{revision: version}` of a Deployment's ReplicaSets, the image repository left out. */
export async function revisions(ns: DemoNamespace, app = 'reports'): Promise<Record<number, string>> {
  return Object.fromEntries((await replicaSets(ns, app)).map((r) => [r.revision, (r.image ?? '').replace(`${IMAGE}:`, '')]));
}

/** The workers Deployment's replicas, as its scale subresource says (which leaves out a 0: omitempty). */
export async function workerReplicas(ns: DemoNamespace): Promise<number> {
  return (await ns.apps.readNamespacedDeploymentScale({ name: 'reports-worker', namespace: ns.namespace })).spec?.replicas ?? 0;
}

export async function scaleWorkers(ns: DemoNamespace, replicas: number): Promise<void> {
  await ns.apps.patchNamespacedDeploymentScale({ name: 'reports-worker', namespace: ns.namespace, body: { spec: { replicas } } }, merge);
}

export async function selector(ns: DemoNamespace): Promise<Record<string, string> | undefined> {
  return (await ns.core.readNamespacedService({ name: 'reports', namespace: ns.namespace })).spec?.selector;
}

export async function flags(ns: DemoNamespace): Promise<Record<string, string> | undefined> {
  return (await ns.core.readNamespacedConfigMap({ name: 'reports-config', namespace: ns.namespace })).data;
}

export async function pods(ns: DemoNamespace, app: string): Promise<Array<{ name: string; ready: boolean; deleting: boolean }>> {
  const list = await ns.core.listNamespacedPod({ namespace: ns.namespace, labelSelector: `app=${app}` });
  return list.items.map((p) => ({
    name: p.metadata!.name!,
    ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    deleting: Boolean(p.metadata?.deletionTimestamp),
  }));
}

/** `kind/name -> resourceVersion` of the objects a runbook may change: any write shows as a new version. */
export async function resourceVersions(ns: DemoNamespace): Promise<Record<string, string>> {
  const namespace = ns.namespace;
  const [deployments, rss, cms, services] = await Promise.all([
    ns.apps.listNamespacedDeployment({ namespace }),
    ns.apps.listNamespacedReplicaSet({ namespace }),
    ns.core.listNamespacedConfigMap({ namespace }),
    ns.core.listNamespacedService({ namespace }),
  ]);
  const out: Record<string, string> = {};
  for (const [kind, items] of [
    ['deployment', deployments.items],
    ['replicaset', rss.items],
    ['configmap', cms.items],
    ['service', services.items],
  ] as const) {
    for (const o of items) out[`${kind}/${o.metadata!.name!}`] = o.metadata!.resourceVersion!;
  }
  return out;
}
