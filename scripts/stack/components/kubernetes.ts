// The local Kubernetes plane (scripts/k8s/plane.ts: etcd, kube-apiserver, controller-manager, scheduler, kwok)
// as a component: started by `npm start -- --platform kubernetes` and by the test suite, stopped by `npm stop`
// whenever it runs. Once it is up, the demo service's objects that are missing go into namespace runbooks-demo
// (k8s-demo.ts; existing ones keep what the runbooks made of them), where config/kubernetes.json points the runbooks.
import { API_URL, KUBECONFIG, planeDown, planeReady, planeUp } from '../../k8s/plane';
import path from 'node:path';
import { loadConfig } from '../../../config/load';
import type { Component, StackContext } from '../component';
import { INITIAL_VERSIONS } from './demo';
import type * as Demo from '../k8s-demo';
import { ROOT, shownPath } from '../paths';

export const DEMO_NAMESPACE = 'runbooks-demo';

/** The config the stack selects with this component (scripts/stack/platform.ts). */
const KUBERNETES_CONFIG = path.join(ROOT, 'config', 'kubernetes.json');

export function kubernetes({ env }: StackContext): Component<'kubernetes'> {
  return {
    name: 'kubernetes',
    address: `${API_URL}   (kubeconfig ${shownPath(KUBECONFIG)}, namespace ${DEMO_NAMESPACE})`,
    startTimeoutMs: 90_000,
    ready: planeReady,
    async start() {
      await planeUp();
    },
    async after() {
      // Loaded here, not above: the Kubernetes client takes about a second to load, which npm stop and npm run
      // status need not pay (an import() of a relative path would need a file extension that Jest cannot resolve).
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { ensureDemoObjects } = require('../k8s-demo') as typeof Demo;
      const { KubeConfig } = await import('@kubernetes/client-node');
      const kc = new KubeConfig();
      kc.loadFromFile(KUBECONFIG);
      // The local plane's kubeconfig, whatever the last `npm start` selected (the test setup runs this too).
      const platform = loadConfig(KUBERNETES_CONFIG, { ...env, KUBECONFIG }).services.reports?.platform;
      if (platform?.kind !== 'kubernetes') throw new Error(`${shownPath(KUBERNETES_CONFIG)}: service reports has no kubernetes platform`);
      const { created } = await ensureDemoObjects(kc, DEMO_NAMESPACE, { platform, versions: INITIAL_VERSIONS.split(',') });
      return created.length ? `namespace ${DEMO_NAMESPACE}: created ${created.join(', ')}` : undefined;
    },
  };
}

/** Five processes, stopped newest first (scripts/k8s/plane.ts down). */
export const stopKubernetes = (): ReturnType<typeof planeDown> => planeDown();
