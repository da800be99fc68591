// Durability of a rollback on Kubernetes: the real worker process is SIGKILLed the moment the Deployment's
// template is rolled back (inside the rollback call, which waits for the controller to take the change up, or
// just after it), while the rollout is still going: minReadySeconds keeps each new pod from counting as
// available for a few seconds. A new worker finishes the run. Exactly one undo reached the cluster: one new
// ReplicaSet revision, the template is the target's, one rollback in the Deployment's request record.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EmergencyRollbackResult } from '../../workflows/emergency-rollback/contract';
import { platformForService } from '../../activities/platform/for-service';
import { createTestEnv, eventually, type TestEnv } from '../helpers/env';
import { demoNamespace, type DemoNamespace } from '../helpers/k8s';
import {
  deploymentOf,
  IMAGE,
  imageOf,
  patchSpec,
  replicaSets,
  requestRecord,
  REVISION,
  revisions,
  rolledOut,
  setImage,
  waitRolledOut,
  workerReplicas,
} from '../helpers/k8s-objects';
import { startRun } from '../helpers/runs';
import { exited, startWorkerProcess } from '../helpers/worker-process';

let env: TestEnv;
let ns: DemoNamespace;
let dir: string;
let kubeconfig: string | undefined;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  ns = await demoNamespace('rb-kill');
  const file = (kubeconfig = await ns.operatorKubeconfig());
  env = await createTestEnv({
    configure: (raw) => {
      const { dataRollback: _data, ...reports } = raw.services.reports!;
      raw.services.reports = { ...reports, platform: ns.platform({ kubeconfig: file }) };
    },
  });
  dir = mkdtempSync(path.join(tmpdir(), 'rbt-k8s-kill-'));
});

afterAll(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  await env?.cleanup();
  await ns?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (kubeconfig) rmSync(kubeconfig, { force: true });
});

test('SIGKILL of the worker while the rolled-back template rolls out: a new worker finishes the run, exactly one undo reached the Deployment', async () => {
  await setImage(ns, 'v1.5.0');
  await waitRolledOut(ns);
  // Each new pod counts as available only after 4s of being Ready: the rollout of 2 replicas takes about 8s.
  await patchSpec(ns, 'reports', { minReadySeconds: 4 });
  expect(await revisions(ns)).toEqual({ 1: 'v1.4.2', 2: 'v1.5.0' });

  const first = await startWorkerProcess(env, dir);
  workers.push(first.child);
  const h = await startRun<EmergencyRollbackResult>(env, 'emergencyRollback', { service: 'reports', requestedBy: 'bob', verifyWindow: '1s' });

  // Killed the moment the template is v1.4.2 again: the rollout, and the run, are still going.
  await eventually(async () => imageOf(await deploymentOf(ns)) === `${IMAGE}:v1.4.2`, 60_000, 'the template to be rolled back');
  first.child.kill('SIGKILL');
  expect(await exited(first.child)).toBeNull();
  expect(rolledOut(await deploymentOf(ns))).toBe(false);
  expect((await h.describe()).status.name).toBe('RUNNING');

  const second = await startWorkerProcess(env, dir);
  workers.push(second.child);
  const r = await h.result();
  expect(r.outcome).toBe('completed');
  expect(r.to).toMatchObject({ revision: 3, version: 'v1.4.2', cause: 'rollback' });
  // Killed inside the rollback call, its retry is answered from the Deployment's record; killed after it, the
  // call is not repeated at all. Either way:
  expect(r.plan.find((s) => s.id === 'rollback')!.detail).toMatch(/^now revision 3 \(v1\.4\.2\)( \(already applied\))?$/);

  // One undo: v1.4.2's ReplicaSet moved from revision 1 to 3, no revision 4, the template is v1.4.2's.
  const d = await deploymentOf(ns);
  expect(imageOf(d)).toBe(`${IMAGE}:v1.4.2`);
  expect(d.metadata?.annotations?.[REVISION]).toBe('3');
  expect(rolledOut(d)).toBe(true);
  const rss = await replicaSets(ns);
  expect(rss.map((x) => [x.revision, x.image, x.replicas])).toEqual([
    [2, `${IMAGE}:v1.5.0`, 0],
    [3, `${IMAGE}:v1.4.2`, 2],
  ]);
  expect(rss[1]!.history).toBe('1');
  // The Deployment's record of applied requests: one rollback, this run's.
  expect(requestRecord(d).map((x) => x.kind)).toEqual(['rollback']);
  expect(requestRecord(d)[0]!.id).toMatch(new RegExp(`^${h.workflowId}:.*:rollback$`));
  // The platform's history, as the adapter reads it: one rollback.
  const history = (await platformForService('reports', env.config.services.reports!).deployment()).history;
  expect(history.filter((x) => x.cause === 'rollback')).toHaveLength(1);
  expect((await env.deps.audit.forWorkflow(h.workflowId)).filter((a) => a.kind === 'deployment-rolled-back')).toHaveLength(1);
  expect(await workerReplicas(ns)).toBe(2);

  second.child.kill('SIGTERM');
  expect(await exited(second.child)).toBe(0);
});
