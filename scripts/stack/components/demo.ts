// The demo "reports" service (demo/main.ts) that runbooks act on. A fresh stack deploys v1.4.2 then the
// faulty v1.5.0, so there is a bad release running and a good one to roll back to (an existing deployment
// history in Redis wins: DEMO_INITIAL_VERSIONS only seeds an empty one).
import path from 'node:path';
import { TSX, type Component, type StackContext } from '../component';
import { HOST, PORTS, ROOT } from '../paths';
import { portOpen, startProcess } from '../process';

/** Also the history of the `reports` Deployment the Kubernetes platform creates (k8s-demo.ts). */
export const INITIAL_VERSIONS = 'v1.4.2,v1.5.0';

export function demo({ env }: StackContext): Component<'demo'> {
  return {
    name: 'demo',
    address: `http://${HOST}:${PORTS.demo}`,
    startTimeoutMs: 30_000,
    ready: async () => (await portOpen(PORTS.demo)) && (await fetch(`http://${HOST}:${PORTS.demo}/health`)).status > 0,
    async start() {
      startProcess('demo', process.execPath, [...TSX, path.join(ROOT, 'demo', 'main.ts')], {
        env: { ...env, DEMO_INITIAL_VERSIONS: env.DEMO_INITIAL_VERSIONS ?? INITIAL_VERSIONS },
        cwd: ROOT,
      });
    },
  };
}
