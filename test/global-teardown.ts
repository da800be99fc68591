import { stop, type ComponentName } from '../scripts/stack/components';

export default async function globalTeardown(): Promise<void> {
  const started = (globalThis as { __RUNBOOK_STARTED__?: ComponentName[] }).__RUNBOOK_STARTED__ ?? [];
  // Servers that were already up (npm start) stay up; the ones this run started are stopped.
  if (started.length && !process.env.KEEP_TEST_STACK) await stop(started);
}
