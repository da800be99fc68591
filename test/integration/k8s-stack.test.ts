// The Kubernetes plane as a component of the local stack (scripts/stack/components/kubernetes.ts): up for the
// test run (global setup), the demo service's objects created in a namespace by what the component runs once
// the plane is up (in a throwaway namespace here, not the stack's runbooks-demo), never undoing what a runbook
// changed since; and the stack's environment for `--platform kubernetes`.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { writeSelection } from '../../config/load';
import { API_URL, KUBECONFIG } from '../../scripts/k8s/plane';
import { stackEnv } from '../../scripts/stack/component';
import { components } from '../../scripts/stack/components';
import { ensureDemoObjects } from '../../scripts/stack/k8s-demo';
import { loadSecrets } from '../../scripts/stack/secrets';
import { adminKubeConfig, ensurePlane } from '../helpers/k8s';

let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let rbac: k8s.RbacAuthorizationV1Api;
const namespaces: string[] = [];

beforeAll(async () => {
  // Starts the plane when it is not running; its component creates runbooks-demo (as npm start does).
  await ensurePlane();
  kc = adminKubeConfig();
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
});

function freshNamespace(): string {
  const ns = `k8s-stack-${randomBytes(3).toString('hex')}`;
  namespaces.push(ns);
  return ns;
}

afterAll(async () => {
  await Promise.all(namespaces.map((name) => core.deleteNamespace({ name }).catch(() => undefined)));
});

/** resourceVersion of every demo object in `namespace`, by kind/name. */
async function versions(namespace: string): Promise<Record<string, string>> {
  const [ns, cms, deps, svcs, sas, roles, bindings] = await Promise.all([
    core.readNamespace({ name: namespace }),
    core.listNamespacedConfigMap({ namespace }),
    apps.listNamespacedDeployment({ namespace }),
    core.listNamespacedService({ namespace }),
    core.listNamespacedServiceAccount({ namespace }),
    rbac.listNamespacedRole({ namespace }),
    rbac.listNamespacedRoleBinding({ namespace }),
  ]);
  const out: Record<string, string> = { [`namespace/${namespace}`]: ns.metadata!.resourceVersion! };
  const add = (kind: string, items: Array<{ metadata?: k8s.V1ObjectMeta }>): void => {
    for (const o of items) out[`${kind}/${o.metadata!.name!}`] = o.metadata!.resourceVersion!;
  };
  add('configmap', cms.items);
  add('deployment', deps.items);
  add('service', svcs.items);
  add('serviceaccount', sas.items);
  add('role', roles.items);
  add('rolebinding', bindings.items);
  return out;
}

const DEMO_OBJECTS = [
  'configmap/reports-config',
  'deployment/reports',
  'deployment/reports-worker',
  'deployment/reports-maintenance',
  'service/reports',
  'serviceaccount/runbooks',
  'role/runbook-operator',
  'rolebinding/runbook-operator',
];

test('the plane is up for the test run, and the component shows where: API URL and kubeconfig', async () => {
  const c = components().kubernetes;
  expect(await c.ready()).toBe(true);
  expect(c.address).toContain(API_URL);
  expect(c.address).toContain('kubeconfig .data/k8s/kubeconfig');
  expect(c.address).toContain('namespace runbooks-demo');
});

test('creates the namespace with the demo objects rolled out; a second time changes nothing (same resourceVersions)', async () => {
  const namespace = freshNamespace();
  const first = await ensureDemoObjects(kc, namespace);
  expect(first.created.sort()).toEqual([`namespace/${namespace}`, ...DEMO_OBJECTS].sort());
  expect(first.present).toEqual([]);
  const deps = await apps.listNamespacedDeployment({ namespace });
  expect(Object.fromEntries(deps.items.map((d) => [d.metadata!.name!, d.status?.readyReplicas]))).toEqual({
    reports: 2,
    'reports-worker': 2,
    'reports-maintenance': 1,
  });
  const svc = await core.readNamespacedService({ name: 'reports', namespace });
  expect(svc.spec?.selector).toEqual({ app: 'reports' });

  const before = await versions(namespace);
  expect(Object.keys(before)).toEqual(expect.arrayContaining(DEMO_OBJECTS));
  const second = await ensureDemoObjects(kc, namespace);
  expect(second.created).toEqual([]);
  expect(second.present.sort()).toEqual(first.created.sort());
  expect(await versions(namespace)).toEqual(before);
});

test('leaves what a runbook changed (workers scaled through the scale subresource, Service in maintenance) and re-creates what is missing', async () => {
  const namespace = freshNamespace();
  await ensureDemoObjects(kc, namespace);
  const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  await apps.patchNamespacedDeploymentScale({ name: 'reports-worker', namespace, body: { spec: { replicas: 0 } } }, merge);
  await core.patchNamespacedService({ name: 'reports', namespace, body: { spec: { selector: { app: 'reports-maintenance' } } } }, merge);
  await core.deleteNamespacedConfigMap({ name: 'reports-config', namespace });

  const again = await ensureDemoObjects(kc, namespace);
  expect(again.created).toEqual(['configmap/reports-config']);
  expect((await apps.readNamespacedDeployment({ name: 'reports-worker', namespace })).spec?.replicas).toBe(0);
  expect((await core.readNamespacedService({ name: 'reports', namespace })).spec?.selector).toEqual({ app: 'reports-maintenance' });
  expect((await core.readNamespacedConfigMap({ name: 'reports-config', namespace })).data).toEqual({
    REPORTS_MODULE_ENABLED: 'true',
    REPORTS_V2_ENABLED: 'true',
  });
});

test('the namespace of config/kubernetes.json holds the objects it names (created by the component when the plane starts)', async () => {
  const namespace = 'runbooks-demo';
  for (const name of ['reports', 'reports-worker', 'reports-maintenance']) {
    expect((await apps.readNamespacedDeployment({ name, namespace })).metadata?.name).toBe(name);
  }
  expect((await core.readNamespacedConfigMap({ name: 'reports-config', namespace })).metadata?.name).toBe('reports-config');
  expect((await core.readNamespacedService({ name: 'reports', namespace })).metadata?.name).toBe('reports');
});

test('with --platform kubernetes selected, the stack runs its processes with config/kubernetes.json and the plane kubeconfig', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'k8s-stack-'));
  const saved = { RUNBOOK_DATA_DIR: process.env.RUNBOOK_DATA_DIR, RUNBOOK_CONFIG: process.env.RUNBOOK_CONFIG, KUBECONFIG: process.env.KUBECONFIG };
  try {
    process.env.RUNBOOK_DATA_DIR = dataDir;
    delete process.env.RUNBOOK_CONFIG;
    // A person's own KUBECONFIG must not reach the stack's worker: the demo config is for the local plane.
    process.env.KUBECONFIG = '/somewhere/else/kubeconfig';
    writeSelection({ platform: 'kubernetes', config: 'config/kubernetes.json' });
    const env = stackEnv(loadSecrets());
    expect(env.RUNBOOK_CONFIG).toBe(path.resolve(__dirname, '..', '..', 'config', 'kubernetes.json'));
    expect(env.KUBECONFIG).toBe(KUBECONFIG);
    writeSelection({ platform: 'local', config: 'config/local.json' });
    const local = stackEnv(loadSecrets());
    expect(local.RUNBOOK_CONFIG).toBe(path.resolve(__dirname, '..', '..', 'config', 'local.json'));
    expect(local.KUBECONFIG).toBe('/somewhere/else/kubeconfig');
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
});
