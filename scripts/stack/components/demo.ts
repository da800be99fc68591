// The demo "reports" service (demo/main.ts) that runbooks act on.
import path from 'node:path';
import { TSX, type Component, type StackContext } from '../component';
import { HOST, PORTS, ROOT } from '../paths';
import { portOpen, startProcess } from '../process';

export function demo({ env }: StackContext): Component<'demo'> {
  return {
    name: 'demo',
    address: `http://${HOST}:${PORTS.demo}`,
    startTimeoutMs: 30_000,
    ready: async () => (await portOpen(PORTS.demo)) && (await fetch(`http://${HOST}:${PORTS.demo}/health`)).status > 0,
    async start() {
      startProcess('demo', process.execPath, [...TSX, path.join(ROOT, 'demo', 'main.ts')], { env, cwd: ROOT });
    },
  };
}
