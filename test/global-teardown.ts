import { existsSync, rmSync } from 'node:fs';
import { stop, type ComponentName } from '../scripts/stack/components';
import { PLANE_STARTED_MARKER } from './helpers/k8s';

export default async function globalTeardown(): Promise<void> {
  const started = (globalThis as { __RUNBOOK_STARTED__?: ComponentName[] }).__RUNBOOK_STARTED__ ?? [];
  // Servers that were already up (npm start) stay up; the ones this run started are stopped.
  if (existsSync(PLANE_STARTED_MARKER) && !process.env.KEEP_TEST_STACK) {
    // The Kubernetes plane, when a k8s test file started it (test/helpers/k8s.ts ensurePlane).
    rmSync(PLANE_STARTED_MARKER);
    started.unshift('kubernetes');
  }
  if (started.length && !process.env.KEEP_TEST_STACK) await stop(started);
}
