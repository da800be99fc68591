// Kubernetes platform adapter: the platform port (port.ts) on a namespace's Deployments, ReplicaSets, pods,
// a ConfigMap and a Service, through the API only (no kubectl). Each call does what the kubectl command named
// beside it does, conditional on the object version it read, and is safe to retry (scale to N, request ids).
// The parts live in kubernetes/: credentials and clients, the error mapping, and one file per concern.
import type { KubernetesPlatformConfig } from '../../config/schema';
import { KubernetesDeployments } from './kubernetes/deployments';
import { KubernetesFlags } from './kubernetes/flags';
import { Kube } from './kubernetes/kube';
import { KubernetesMaintenance } from './kubernetes/maintenance';
import { KubernetesWorkers } from './kubernetes/workers';
import type { Platform } from './port';

export function kubernetesPlatform(service: string, cfg: KubernetesPlatformConfig): Platform {
  const kube = new Kube(service, cfg);
  const workers = new KubernetesWorkers(kube);
  const maintenance = new KubernetesMaintenance(kube);
  const deployments = new KubernetesDeployments(kube);
  const flags = new KubernetesFlags(kube);
  return {
    async state() {
      const [w, enabled] = await Promise.all([workers.state(), maintenance.enabled()]);
      return { ...w, maintenance: enabled };
    },
    /** `kubectl scale deployment/<workers> --replicas=N`, then waits for N ready (platform.readyTimeout). */
    scaleWorkers: (replicas) => workers.scale(replicas),
    /** Points the Service at the maintenance pods, or back at what it selected before. */
    setMaintenance: (enabled) => maintenance.set(enabled),
    /** graceful: `kubectl rollout restart deployment/<workers>`; force: `kubectl delete pod -l <its selector>`. */
    restartWorkers: (mode, requestId) => workers.restart(mode, requestId),
    /** `kubectl rollout history` and `kubectl rollout status` of the Deployment. */
    deployment: () => deployments.deployment(),
    /** `kubectl set image deployment/<deployment> <container>=<image>:<version>`. */
    deploy: (version, requestId) => deployments.deploy(version, requestId),
    /** `kubectl rollout undo deployment/<deployment> [--to-revision=N]`. */
    rollback: (requestId, toRevision) => deployments.rollback(requestId, toRevision),
    /** `kubectl get configmap <configMap>`: its flag-shaped keys. */
    flags: () => flags.all(),
    /** `kubectl patch configmap <configMap>` of the named keys only. */
    setFlags: (f) => flags.set(f),
  };
}
