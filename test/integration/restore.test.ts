// The restore runbook (corruption, accidental deletion) against the real stack, in a "production" test
// environment (two approvers): a backup set of the test's own data, rows, documents and keys corrupted on
// purpose, and a restore of exactly those tables, collections and key prefixes, which must leave the data
// equal to the snapshot taken before the corruption and everything not selected as it was. A restore that
// fails verification puts the safety backup back, pages on-call and fails; dry runs, rejections and bad
// input change nothing.
import { randomUUID } from 'node:crypto';
import { manifestKey, setIdOf, setPrefix, type BackupManifest } from '../../activities/backups/contract';
import { createBackupStore } from '../../activities/backups/store';
import type { RestoreInput, RestoreResult } from '../../workflows/restore/contract';
import { summarizeRestore } from '../../workflows/restore/contract';
import { approve } from '../../workflows/lib/approval';
import { backupSet as backupSetOf } from '../helpers/backups';
import { createTestEnv, workflowId, type TestEnv } from '../helpers/env';
import { saveHistoryIfRecording } from '../helpers/histories';
import { failureOf, gateOpen, platform, startRun, type RunHandle } from '../helpers/runs';

let env: TestEnv;
let setA: string;
let cache: string;
/** Names that are not UTF-8 (as strings both would read "\ufffd\ufffdA"), and a multi-byte UTF-8 one. */
const oddNames = (): Buffer[] => [
  Buffer.concat([Buffer.from(cache), Buffer.from([0xff, 0xfe, 0x41])]),
  Buffer.concat([Buffer.from(cache), Buffer.from([0xfe, 0xff, 0x41])]),
  Buffer.from(`${cache}ключ:ü`),
];
/** The data as the backup set holds it (taken right after the set). */
let good: Snapshot;

const input = (o: Partial<RestoreInput> = {}): RestoreInput => ({
  service: 'reports',
  requestedBy: 'bob',
  reason: 'test: corrupted report runs',
  postgres: { tables: ['public.report_runs'] },
  mongo: { collections: ['report_templates'] },
  redis: { prefixes: [cache] },
  ...o,
});
const start = (i: RestoreInput): Promise<RunHandle<RestoreResult>> => startRun<RestoreResult>(env, 'restore', i, workflowId('restore'));
const vote = (h: RunHandle<RestoreResult>, approver: string, decision: 'approve' | 'reject' = 'approve') =>
  h.executeUpdate(approve, { args: [{ approver, decision }] });

interface Snapshot {
  runs: unknown[];
  reports: unknown[];
  templates: unknown[];
  logs: unknown[];
  keys: Record<string, string | null>;
}

async function snapshot(): Promise<Snapshot> {
  const rows = async (table: string) =>
    (await env.pool.query(`SELECT row_to_json(t)::text AS r FROM ${table} t ORDER BY id`)).rows.map((r: { r: string }) => r.r);
  const docs = async (c: string) => (await env.mongo.collection(c).find({}).sort({ _id: 1 }).toArray()).map((d) => JSON.stringify(d));
  // Names and values as bytes: a name that is not UTF-8 is its own key, not "\ufffd".
  const keys: Record<string, string | null> = {};
  for (const k of (await env.redis.keysBuffer(`${cache}*`)).sort((a, b) => Buffer.compare(a, b))) {
    const text = k.toString('utf8');
    keys[Buffer.from(text).equals(k) ? text : `hex:${k.toString('hex')}`] = (await env.redis.getBuffer(k))?.toString('base64') ?? null;
  }
  return {
    runs: await rows('public.report_runs'),
    reports: await rows('public.reports'),
    templates: await docs('report_templates'),
    logs: await docs('report_audit_logs'),
    keys,
  };
}

async function corrupt(tag: string): Promise<void> {
  await env.pool.query(`UPDATE public.report_runs SET status = $1, rows_out = -1 WHERE id % 7 = 0`, [`corrupted-${tag}`]);
  await env.pool.query(`DELETE FROM public.report_runs WHERE id % 11 = 0`);
  await env.mongo.collection('report_templates').deleteMany({ version: { $lte: 2 } });
  await env.redis.set(`${cache}k:1`, `bad ${tag}`);
  await env.redis.del(`${cache}k:2`);
  await env.redis.set(`${cache}k:new-${tag}`, 'not in the set');
  const [a, b, c] = oddNames();
  await env.redis.set(a!, `bad ${tag}`);
  await env.redis.del(b!);
  await env.redis.set(c!, Buffer.from([0xde, 0xad]));
}

/** A copy of a set under a new id whose manifest expects another checksum of public.report_runs. */
async function tamperedCopy(from: string): Promise<string> {
  const store = createBackupStore(env.config.backups);
  const to = setIdOf(new Date(Date.now() + 1000), randomUUID());
  for (const o of await store.list(setPrefix('reports', from))) {
    if (o.key === manifestKey('reports', from)) continue;
    await store.put(o.key.replace(setPrefix('reports', from), setPrefix('reports', to)), await store.read(o));
  }
  const m = JSON.parse(
    (await store.read(manifestKey('reports', from))).toString('utf8').replaceAll(setPrefix('reports', from), setPrefix('reports', to)),
  ) as BackupManifest;
  m.setId = to;
  const pg = m.sources.find((s) => s.store === 'postgres');
  if (pg?.store !== 'postgres') throw new Error('no postgres source');
  pg.tables.find((t) => t.name === 'public.report_runs')!.checksum = '0'.repeat(32);
  await store.put(manifestKey('reports', to), Buffer.from(JSON.stringify(m, null, 2)));
  return to;
}

/** Polls the demo's platform state while `p` runs: did writes stop (0 processors, maintenance) at some point? */
async function watchWrites<T>(p: Promise<T>): Promise<{ value: T; sawStopped: boolean }> {
  let done = false;
  let sawStopped = false;
  const watching = (async () => {
    while (!done) {
      const s = await platform(env);
      if (s.maintenance && s.replicas === 0) sawStopped = true;
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  try {
    return { value: await p, sawStopped };
  } finally {
    done = true;
    await watching;
  }
}

beforeAll(async () => {
  env = await createTestEnv({
    configure: (raw) => {
      raw.services.reports!.environment = 'production';
    },
  });
  cache = `rbt:${env.id}:cache:`;
  const pipe = env.redis.pipeline();
  for (let i = 0; i < 50; i++) pipe.set(`${cache}k:${i}`, `value ${i}`);
  const [a, b, c] = oddNames();
  pipe.set(a!, Buffer.from([0x00, 0xff, 0x10]));
  pipe.set(b!, 'same name as a string, other bytes');
  pipe.set(c!, 'значение ü');
  await pipe.exec();
  setA = await backupSetOf(env, cache);
  good = await snapshot();
  await env.startWorker();
});
afterAll(async () => {
  await env?.cleanup();
});

test('a dry run checks the set and shows what would be replaced with counts, and changes nothing', async () => {
  await corrupt('dry');
  const before = await snapshot();
  const h = await start(input({ dryRun: true }));
  const r = await h.result();
  expect(r.outcome).toBe('dry-run');
  expect(r.setId).toBe(setA);
  expect(r.environment).toBe('production');
  const runs = r.replaces.find((i) => i.name === 'public.report_runs')!;
  expect(runs.current).toBe(before.runs.length);
  expect(runs.inSet).toBeGreaterThan(runs.current);
  expect(r.replaces.find((i) => i.name === 'report_templates')).toMatchObject({ store: 'mongo', inSet: 4 });
  expect(r.replaces.find((i) => i.name === `${cache}*`)).toMatchObject({ store: 'redis', current: 52, inSet: 53 });
  expect(r.plan.find((s) => s.id === 'approval')!.title).toMatch(/^approval by 2 of role sre-lead\/dba \(environment production/);
  expect(r.plan.filter((s) => s.status !== 'skipped')).toEqual([]);
  expect(await snapshot()).toEqual(before);
});

test('a restore of corrupted rows, documents and keys brings back exactly the backed-up data; writes stop meanwhile; nothing else changes', async () => {
  await corrupt('a');
  // A change to a table that is not selected (after the backup): the restore must leave it.
  await env.pool.query(`UPDATE public.reports SET title = title || ' (edited after the backup)' WHERE id <= 5`);
  const edited = (await snapshot()).reports;
  const logsBefore = (await snapshot()).logs;
  const h = await start(input());
  await gateOpen(h);
  // Two approvers in production: one vote is not enough.
  await vote(h, 'alice');
  const { value: r, sawStopped } = await watchWrites(
    (async () => {
      await vote(h, 'dave');
      return h.result();
    })(),
  );
  expect(r.outcome).toBe('completed');
  expect(r.approval.votes.map((v) => v.approver)).toEqual(['alice', 'dave']);
  const now = await snapshot();
  expect(now.runs).toEqual(good.runs);
  expect(now.templates).toEqual(good.templates);
  expect(now.keys).toEqual(good.keys);
  expect(Object.keys(good.keys)).toEqual(
    expect.arrayContaining(['hex:' + oddNames()[0]!.toString('hex'), 'hex:' + oddNames()[1]!.toString('hex'), `${cache}ключ:ü`]),
  );
  expect(now.runs).not.toEqual([]);
  expect(now.reports).toEqual(edited);
  expect(now.logs).toEqual(logsBefore);
  expect(r.differences).toEqual([]);
  expect(r.safetySetId).toMatch(/^\d{8}T\d{6}Z-[a-z0-9]{8}-safety$/);
  expect(r.writes).toMatchObject({ stopped: true, resumed: true, processorsBefore: 2, maintenanceBefore: false });
  expect(sawStopped).toBe(true);
  expect(await platform(env)).toMatchObject({ replicas: 2, maintenance: false });
  expect(r.plan.map((s) => [s.id, s.status])).toEqual([
    ['find-set', 'done'],
    ['plan', 'done'],
    ['approval', 'done'],
    ['lock', 'done'],
    ['stop-writes', 'done'],
    ['safety-backup', 'done'],
    ['restore', 'done'],
    ['verify', 'done'],
    ['resume-writes', 'done'],
    ['record', 'done'],
    ['report', 'done'],
  ]);
  const audit = await env.deps.audit.forWorkflow(h.workflowId);
  expect(audit.find((a) => a.kind === 'safety-backup')?.data).toMatchObject({ setId: r.safetySetId, restoreOf: setA });
  process.stdout.write(
    `\n[restore] ${r.reason}\n${summarizeRestore(r)
      .map((l) => `  ${l}`)
      .join('\n')}\n`,
  );
  await saveHistoryIfRecording('restore-completed', h);
});

test('a restore whose verification fails puts the safety backup back, resumes writes, pages on-call and fails', async () => {
  const tampered = await tamperedCopy(setA);
  await corrupt('b');
  const corrupted = await snapshot();
  const h = await start(input({ setId: tampered }));
  await gateOpen(h);
  await vote(h, 'alice');
  await vote(h, 'erin');
  const f = await failureOf(h);
  expect(f.message).toMatch(
    /failed at verify: the restored data differs from the manifest of set .* in 1 place\(s\): postgres reports-db: table public\.report_runs: checksum/,
  );
  expect(f.message).toMatch(/The safety backup \d{8}T\d{6}Z-[a-z0-9]{8}-safety was restored \(verified equal to it\)/);
  expect(f.message).toContain('On-call was paged');
  expect(f.message).toMatch(/Undone: put the safety backup back ok, resume writes ok/);
  expect(await snapshot()).toEqual(corrupted);
  expect(await platform(env)).toMatchObject({ replicas: 2, maintenance: false });
  const page = env.notifications.find((n) => n.body.workflowId === h.workflowId && n.body.severity === 'critical' && n.body.audience === 'escalation');
  expect(page?.body.text).toMatch(/differs from set .* in 1 place\(s\); the safety backup .* was put back and verified equal to it; writes resumed/);
});

test('a rejected restore changes nothing', async () => {
  const before = await snapshot();
  const h = await start(input());
  await gateOpen(h);
  await vote(h, 'erin', 'reject');
  const r = await h.result();
  expect(r.outcome).toBe('rejected');
  expect(r.writes).toMatchObject({ stopped: false, resumed: false });
  expect(await snapshot()).toEqual(before);
  expect(await platform(env)).toMatchObject({ replicas: 2, maintenance: false });
});

test.each<[string, Partial<RestoreInput> & Record<string, unknown>, RegExp]>([
  ['a table not in the set', { postgres: { tables: ['public.nope'] } }, /postgres\.tables: "public\.nope" is not in backup set/],
  ['a store the runbook does not know', { sqlite: {} }, /Unrecognized key.*sqlite/],
  [
    'SQL metacharacters in a table name',
    { postgres: { tables: ['public.report_runs; DROP TABLE public.reports'] } },
    /postgres\.tables\[0\]: must be a plain table name/,
  ],
  ['a set that does not exist', { setId: '20200101T000000Z-deadbeef' }, /setId: backup set 20200101T000000Z-deadbeef of reports has no manifest/],
  ['no store at all', { postgres: undefined, mongo: undefined, redis: undefined }, /postgres: name at least one store/],
  [
    'a table another one references',
    { postgres: { tables: ['public.reports'] } },
    /postgres\.tables: public\.reports is referenced by public\.\w+ \(foreign key\)/,
  ],
  ['a key prefix with a glob', { redis: { prefixes: ['rbt:*'] } }, /redis\.prefixes\[0\]: must be a literal key prefix/],
])('bad input fails fast naming the field, with nothing changed: %s', async (_name, o, message) => {
  const before = await snapshot();
  const h = await start(input(o));
  const f = await failureOf(h);
  expect(f.type).toBe('InvalidInputError');
  expect(f.message).toMatch(message);
  expect(await snapshot()).toEqual(before);
});
