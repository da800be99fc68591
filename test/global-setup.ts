// One stack per test run: start (or reuse) real Temporal, PostgreSQL, Redis, FerretDB and S3 on loopback, and
// bundle the workflows once for every test worker. Servers started here are stopped by global-teardown. The
// local Kubernetes plane is started by the k8s-* files themselves (test/helpers/k8s.ts ensurePlane), which run last.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensure, SERVERS, stop, type ComponentName } from '../scripts/stack/components';
import { DATA } from '../scripts/stack/paths';
import { loadSecrets } from '../scripts/stack/secrets';

export default async function globalSetup(): Promise<void> {
  const t0 = Date.now();
  const started: ComponentName[] = [];
  let reports;
  try {
    reports = await ensure(SERVERS, (r) => r.state === 'started' && started.push(r.name));
    const dir = path.join(DATA, 'test');
    mkdirSync(dir, { recursive: true });
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('../workflows'),
      logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
    });
    const codePath = path.join(dir, 'workflow-bundle.js');
    writeFileSync(codePath, code);
    process.env.TEST_WORKFLOW_BUNDLE = codePath;
  } catch (err) {
    // Jest skips the global teardown when the setup fails: stop what this run started here.
    await stop(started);
    throw err;
  }
  (globalThis as { __RUNBOOK_STARTED__?: string[] }).__RUNBOOK_STARTED__ = started;
  const s = loadSecrets();
  process.env.TEST_PG_PASSWORD = s.PG_PASSWORD;
  process.env.TEST_REDIS_PASSWORD = s.REDIS_PASSWORD;
  process.stdout.write(
    `\n[setup] servers ${reports.map((r) => `${r.name}:${r.state}`).join(' ')}; workflows bundled; ${((Date.now() - t0) / 1000).toFixed(1)}s\n`,
  );
}
