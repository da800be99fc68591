// Tests against the local Kubernetes plane (scripts/k8s/plane.ts): one namespace per test with the shipped demo
// objects (deploy/k8s/demo.yaml) and the runbooks' Role (deploy/k8s/role.yaml). The plane is started by the
// first k8s test file that needs it (ensurePlane), not by the global setup: the sequencer runs those files last,
// so its five processes do not load the machine during the rest of the suite. The global teardown stops it
// when a test started it (the marker file below).
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { KubernetesPlatformConfig } from '../../config/schema';
import { KUBECONFIG } from '../../scripts/k8s/plane';
import { applyManifests, MANIFESTS, waitForDeployments } from '../../scripts/k8s/manifests';
import { ensure } from '../../scripts/stack/components';
import { DATA } from '../../scripts/stack/paths';

export { KUBECONFIG };

/** Written when a test file started the plane: the global teardown stops it then (and removes this). */
export const PLANE_STARTED_MARKER = path.join(DATA, 'test', 'kubernetes-started-by-tests');

let plane: Promise<void> | undefined;

/** Starts the plane if it is not running (about 4-6 s), once per test file. */
export function ensurePlane(): Promise<void> {
  plane ??= ensure(['kubernetes']).then((reports) => {
    if (reports.some((r) => r.state === 'started')) {
      mkdirSync(path.dirname(PLANE_STARTED_MARKER), { recursive: true });
      writeFileSync(PLANE_STARTED_MARKER, `${new Date().toISOString()}\n`);
    }
  });
  return plane;
}

export function adminKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  return kc;
}

/** The service-account token of a kubeconfig written by operatorKubeconfig() (to check it leaks nowhere). */
export function tokenOf(file: string): string {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(file);
  return kc.getCurrentUser()!.token!;
}

export interface DemoNamespace {
  namespace: string;
  /** Cluster admin (system:masters): for the test's own setup and checks, never for the code under test. */
  kc: k8s.KubeConfig;
  apps: k8s.AppsV1Api;
  core: k8s.CoreV1Api;
  /** The platform config of the demo service in this namespace (admin kubeconfig unless given another). */
  platform(overrides?: Partial<KubernetesPlatformConfig>): KubernetesPlatformConfig;
  /** A kubeconfig file that authenticates as ServiceAccount `runbooks`, bound to deploy/k8s/role.yaml only. */
  operatorKubeconfig(): Promise<string>;
  /** Deletes the namespace (does not wait for it to go). */
  remove(): Promise<void>;
}

/** A fresh namespace `<prefix>-<random>` with the demo objects and the Role, every Deployment rolled out. */
export async function demoNamespace(prefix: string): Promise<DemoNamespace> {
  await ensurePlane();
  const kc = adminKubeConfig();
  const namespace = `${prefix}-${randomBytes(3).toString('hex')}`;
  await applyManifests(kc, namespace, [MANIFESTS.demo, MANIFESTS.role]);
  await waitForDeployments(kc, namespace);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const tokenFile = path.join(DATA, 'test', `kubeconfig-${namespace}`);
  return {
    namespace,
    kc,
    apps: kc.makeApiClient(k8s.AppsV1Api),
    core,
    platform: (overrides = {}) => ({
      kind: 'kubernetes',
      kubeconfig: KUBECONFIG,
      inCluster: false,
      namespace,
      deployment: 'reports',
      image: 'registry.local/reports',
      workers: 'reports-worker',
      configMap: 'reports-config',
      maintenance: { service: 'reports', selector: { app: 'reports-maintenance' } },
      readyTimeout: '30s',
      ...overrides,
    }),
    async operatorKubeconfig() {
      const token = await core.createNamespacedServiceAccountToken({
        name: 'runbooks',
        namespace,
        body: { spec: { expirationSeconds: 3600, audiences: [] } },
      });
      const cluster = kc.getCurrentCluster()!;
      const user = new k8s.KubeConfig();
      user.loadFromOptions({
        clusters: [{ name: 'local', server: cluster.server, caFile: cluster.caFile, skipTLSVerify: false }],
        users: [{ name: 'runbooks', token: token.status!.token }],
        contexts: [{ name: 'runbooks', cluster: 'local', user: 'runbooks', namespace }],
        currentContext: 'runbooks',
      });
      const file = tokenFile;
      mkdirSync(path.dirname(file), { recursive: true });
      // exportConfig() writes JSON, which is YAML too.
      const text = user.exportConfig();
      writeFileSync(file, text, { mode: 0o600 });
      return file;
    },
    async remove() {
      rmSync(tokenFile, { force: true });
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    },
  };
}
