// The runbook worker (workers/main.ts): runs the workflows and activities.
import path from 'node:path';
import { TSX, type Component, type StackContext } from '../component';
import { HOST, PORTS, ROOT } from '../paths';
import { portOpen, startProcess } from '../process';

export function worker({ env }: StackContext): Component<'worker'> {
  return {
    name: 'worker',
    address: `metrics http://${HOST}:${PORTS.workerMetrics}/metrics`,
    startTimeoutMs: 90_000,
    ready: async () => (await portOpen(PORTS.workerMetrics)) && (await fetch(`http://${HOST}:${PORTS.workerMetrics}/healthz`)).ok,
    async start() {
      startProcess('worker', process.execPath, [...TSX, path.join(ROOT, 'workers', 'main.ts')], { env, cwd: ROOT });
    },
  };
}
