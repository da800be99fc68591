// The gradual (planned) rollback on real servers: traffic reduced and routed to the maintenance page before
// anything else, verified backups of exactly what the database rollback touches, an approval gate, the
// previous-stable version set and rolled out, routing and processors restored, a watch that stops or rolls
// forward again on a breach.
import { existsSync } from 'node:fs';
import type { GradualRollbackInput, GradualRollbackResult } from '../../workflows/gradual-rollback/contract';
import { castVote } from '../../client/runbooks';
import { createTestEnv, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { admin, gateOpen, platform, startRun } from '../helpers/runs';

const input = (o: Partial<GradualRollbackInput> = {}): GradualRollbackInput => ({
  service: 'reports',
  requestedBy: 'bob',
  reason: 'planned rollback of v1.5.0',
  approval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '10m' },
  watchFor: '5s',
  watchInterval: '5s',
  ...o,
});

async function deployment(env: TestEnv): Promise<{ current: { revision: number; version: string; cause: string }; history: unknown[] }> {
  return (await (await admin(env, 'GET', '/deployment')).json()) as never;
}

describe('gradualRollback', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ initialVersions: ['v1.4.2', 'v1.5.0'] });
    await env.startWorker();
  });
  afterAll(async () => env?.cleanup());

  test('rejected at the gate: traffic is restored, nothing deployed, the backups stay', async () => {
    const h = await startRun<GradualRollbackResult>(env, 'gradualRollback', input());
    await gateOpen(h);
    expect(await platform(env)).toMatchObject({ replicas: 1, maintenance: true });
    expect((await fetch(`${env.demo.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(503);
    await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'reject', comment: 'not now' });
    const r = await h.result();
    expect(r.outcome).toBe('rejected');
    expect(r.reason).toMatch(/Undone: restore processors and routing ok\.$/);
    expect(await platform(env)).toMatchObject({ replicas: 2, maintenance: false });
    expect((await deployment(env)).current).toMatchObject({ revision: 2, version: 'v1.5.0' });
    for (const b of [...r.backups.mongo, ...r.backups.postgres]) expect(existsSync(b.file)).toBe(true);
    await saveHistoryIfRecording('gradual-rollback-rejected', h);
  });

  test('approved: backups of what the steps touch, previous-stable version set, data rolled back, routing and processors restored, watched', async () => {
    const h = await startRun<GradualRollbackResult>(env, 'gradualRollback', input());
    await gateOpen(h);
    await castVote(env.client, h.workflowId, { approver: 'alice', decision: 'approve' });
    const r = await h.result();
    expect(r.outcome).toBe('completed');
    expect(r.backups.mongo).toEqual([
      expect.objectContaining({ target: 'reports-mongo', documents: { reporttemplates: 7, reportschedules: 5 }, reused: false }),
    ]);
    expect(r.backups.postgres).toEqual([expect.objectContaining({ database: 'reports-db', tables: 3, reused: false })]);
    expect(r.to).toMatchObject({ revision: 3, version: 'v1.4.2', cause: 'rollback' });
    for (const d of r.data) expect([d.id, d.changed]).toEqual([d.id, d.count]);
    expect(r.watch.length).toBe(1);
    expect(r.watch.every((w) => w.healthy && w.breaches.length === 0)).toBe(true);
    expect(r.verification.smoke?.every((s) => s.ok)).toBe(true);
    expect(await platform(env)).toMatchObject({ replicas: 2, maintenance: false });
    expect(((await (await fetch(`${env.demo.url}/health`)).json()) as { version: string }).version).toBe('v1.4.2');
    await saveHistoryIfRecording('gradual-rollback-approved', h);
  });
});

describe('gradualRollback with a breach while watching', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({
      initialVersions: ['v1.4.2', 'v1.5.0'],
      configure: (raw) => {
        // A smoke request no version passes: the watch sees a breach.
        raw.services.reports!.smoke = [{ name: 'expects 201', method: 'POST', url: 'http://127.0.0.1:1/never', expectStatus: [201] }];
      },
    });
    await env.startWorker();
  });
  afterAll(async () => env?.cleanup());

  test('onBreach roll-forward: the version rolled back from is deployed again and the run stops, saying why', async () => {
    const h = await startRun<GradualRollbackResult>(env, 'gradualRollback', input({ onBreach: 'roll-forward', databaseRollback: false, backup: false }));
    await gateOpen(h);
    await castVote(env.client, h.workflowId, { approver: 'dave', decision: 'approve' });
    const r = await h.result();
    expect(r.outcome).toBe('aborted');
    expect(r.reason).toMatch(/^a breach while watching \(smoke "expects 201": 0\/5 passed\): rolled forward again to revision 4 \(v1\.5\.0\)/);
    expect(r.rolledForward).toMatchObject({ revision: 4, version: 'v1.5.0' });
    expect((await deployment(env)).current).toMatchObject({ revision: 4, version: 'v1.5.0' });
    expect(await platform(env)).toMatchObject({ replicas: 2, maintenance: false });
    await saveHistoryIfRecording('gradual-rollback-rolled-forward', h);
  });
});
