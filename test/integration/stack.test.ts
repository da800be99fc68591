// The local stack's own guarantees: installs and starts are idempotent, Temporal is configured as code,
// and the audit store refuses to be rewritten.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { fromStored, toStored, type StoredIndexSpec } from '../../activities/mongo/indexes';
import { ensure, SERVERS } from '../../scripts/stack/components';
import { setupTemporal } from '../../temporal-config/setup';
import { ALL_SEARCH_ATTRIBUTES } from '../../common/search-attributes';
import { createTestEnv, NAMESPACE, TEMPORAL_ADDRESS, type TestEnv } from '../helpers/env';

const ROOT = path.resolve(__dirname, '..', '..');

test('a second install finds everything in place and changes nothing', () => {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'install.sh')], { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/apt packages present/);
  expect(r.stdout).toMatch(/temporal CLI 1\.9\.1 present/);
  expect(r.stdout).toMatch(/ferretdb v1\.24\.2 present/);
  expect(r.stdout).toMatch(/node_modules up to date/);
  expect(r.stdout).not.toMatch(/installing|building|npm install/);
});

test('a second start reuses every running server', async () => {
  const reports = await ensure(SERVERS);
  expect(reports.map((r) => [r.name, r.state])).toEqual(SERVERS.map((n) => [n, 'reused']));
});

test('namespaces and search attributes are registered as code, idempotently', async () => {
  const c = await Connection.connect({ address: TEMPORAL_ADDRESS });
  try {
    expect(await setupTemporal(c, [NAMESPACE])).toEqual([{ namespace: NAMESPACE, createdNamespace: false, addedSearchAttributes: [] }]);
    const { customAttributes } = await c.operatorService.listSearchAttributes({ namespace: NAMESPACE });
    expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(ALL_SEARCH_ATTRIBUTES.map((k) => k.name)));
  } finally {
    await c.close();
  }
});

describe('audit store', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => env?.cleanup());

  test('is append-only: updates, deletes and truncation are refused; a repeated key is ignored', async () => {
    const e = { key: 'k1', workflowId: 'wf-audit', kind: 'vote', actor: 'alice', data: { decision: 'approve' } };
    expect(await env.deps.audit.record(e)).toBe(true);
    expect(await env.deps.audit.record({ ...e, data: { decision: 'reject' } })).toBe(false);
    await expect(env.pool.query("UPDATE runbook_audit SET actor = 'mallory'")).rejects.toThrow('runbook_audit is append-only: UPDATE refused');
    await expect(env.pool.query('DELETE FROM runbook_audit')).rejects.toThrow('runbook_audit is append-only: DELETE refused');
    await expect(env.pool.query('TRUNCATE runbook_audit')).rejects.toThrow('runbook_audit is append-only: TRUNCATE refused');
    expect(await env.deps.audit.forWorkflow('wf-audit')).toMatchObject([{ actor: 'alice', data: { decision: 'approve' } }]);
  });

  test('keeps the key order of saved compound Mongo index specs (jsonb reorders object keys)', async () => {
    const spec = { name: 'by_time', key: { createdAt: -1 as const, id: 1 as const } };
    await env.deps.audit.record({ key: 'plain', workflowId: 'wf-spec', kind: 'task-checkpoint', data: { spec } });
    await env.deps.audit.record({ key: 'pairs', workflowId: 'wf-spec', kind: 'task-checkpoint', data: { spec: toStored(spec) } });
    const plain = (await env.deps.audit.find('plain'))!.data as { spec: typeof spec };
    const pairs = (await env.deps.audit.find('pairs'))!.data as { spec: StoredIndexSpec };
    expect(Object.keys(plain.spec.key)).toEqual(['id', 'createdAt']); // what a plain object would become
    expect(Object.keys(fromStored(pairs.spec).key)).toEqual(['createdAt', 'id']);
  });
});
