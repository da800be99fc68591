// Backups and restores against raw tools, same run, same machine (npm run bench; BENCH_ONLY=backup):
//   8. Postgres backup: backupSetPostgres (pg_dump -Fc streamed into the store with sha256, the tables'
//      rows and checksums in the dump's snapshot, pg_restore --list) vs a raw `pg_dump -Fc` to a file
//   9. Postgres restore: restorePostgres (verified download, pg_restore --single-transaction) vs a raw
//      `pg_restore` into an empty database
//  10. Mongo dump: backupSetMongo (mongodump layout, checksums, metadata) vs a plain cursor read of the same
//      collections, as documents per second
//  11. the restore drill's RTO for that data set (the restoreDrill runbook end to end)
// The database size is BENCH_PG_MB (default 300); Mongo documents BENCH_MONGO_DOCS (default 200000).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { escapeIdentifier } from 'pg';
import { pgConnectionArgs } from '../activities/backup-store/pg-dump';
import { createBackupSetActivities } from '../activities/backups/backup';
import { createRestoreActivities } from '../activities/backups/restore';
import type { BackupResult } from '../workflows/backup/contract';
import type { RestoreDrillResult } from '../workflows/restore-drill/contract';
import { pgUrl, type TestEnv } from '../test/helpers/env';

const run = promisify(execFile);
const quiet = { logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } };

function ratioLine(name: string, ours: number[], base: number[]): string {
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return `${name.padEnd(34)} ours ${med(ours).toFixed(0).padStart(7)} ms   baseline ${med(base).toFixed(0).padStart(7)} ms   ratio ${(med(ours) / med(base)).toFixed(2)}x`;
}
async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** Grows a table in the env's database until the database is at least `mb` megabytes. */
async function generatePostgres(env: TestEnv, mb: number): Promise<string> {
  await env.pool.query(
    `CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, account int NOT NULL, amount numeric(12,2), note text, at timestamptz NOT NULL)`,
  );
  for (;;) {
    const { rows } = await env.pool.query<{ b: string }>('SELECT pg_database_size(current_database())::text AS b');
    if (Number(rows[0]!.b) >= mb * 1024 * 1024) break;
    await env.pool.query(`INSERT INTO bench_rows (account, amount, note, at)
      SELECT g % 5000, (g % 100000) / 100.0, md5(g::text) || repeat(chr(97 + g % 26), 150), now() - (g || ' seconds')::interval
      FROM generate_series(1, 200000) g`);
  }
  await env.pool.query('CREATE INDEX IF NOT EXISTS bench_rows_account ON bench_rows (account)');
  const { rows } = await env.pool.query<{ s: string; n: string }>(
    'SELECT pg_size_pretty(pg_database_size(current_database())) AS s, (SELECT count(*) FROM bench_rows)::text AS n',
  );
  return `${rows[0]!.s}, ${Number(rows[0]!.n).toLocaleString('en')} rows`;
}

async function generateMongo(env: TestEnv, docs: number): Promise<void> {
  const c = env.mongo.collection('bench_events');
  await c.deleteMany({});
  for (let i = 0; i < docs; i += 5000) {
    await c.insertMany(
      Array.from({ length: Math.min(5000, docs - i) }, (_, k) => ({
        seq: i + k,
        user: `user-${(i + k) % 997}`,
        kind: ['view', 'export', 'share'][(i + k) % 3],
        at: new Date(Date.UTC(2026, 0, 1) + (i + k) * 1000),
        tags: ['a', 'b', String((i + k) % 7)],
        payload: { n: (i + k) % 1000, text: 'x'.repeat(100) },
      })),
    );
  }
  await c.createIndex({ user: 1, at: -1 });
}

export async function backupRows(env: TestEnv): Promise<string[]> {
  const lines: string[] = [];
  const mb = Number(process.env.BENCH_PG_MB ?? 300);
  const docs = Number(process.env.BENCH_MONGO_DOCS ?? 200_000);
  const n = Number(process.env.BENCH_BACKUP_ROUNDS ?? 3);
  const described = await generatePostgres(env, mb);
  await generateMongo(env, docs);
  const backup = createBackupSetActivities(env.deps);
  const restore = createRestoreActivities(env.deps);
  const conn = pgConnectionArgs(env.config.postgres['reports-db']!.url);
  const childEnv = { ...process.env, ...conn.env };

  // ---- 8. backup vs raw pg_dump -Fc ----
  const oursB: number[] = [];
  const rawB: number[] = [];
  const sets: string[] = [];
  for (let i = 0; i < n; i++) {
    rawB.push(await time(() => run('pg_dump', ['--format=custom', '--file', path.join(env.backupDir, `raw-${i}.dump`), ...conn.args], { env: childEnv })));
    const setId = `20261126T0000${String(i).padStart(2, '0')}Z-bench${i}`;
    sets.push(setId);
    let result: Awaited<ReturnType<typeof backup.backupSetPostgres>> | undefined;
    oursB.push(
      await time(async () => {
        result = await new MockActivityEnvironment({}, quiet).run(backup.backupSetPostgres, { service: 'reports', setId, target: 'reports-db' });
      }),
    );
    // A set the restore can read (not timed): its manifest, verified.
    await backup.writeManifest({ service: 'reports', setId, workflowId: 'bench', startedAt: new Date().toISOString(), results: [result!] });
    await new MockActivityEnvironment({}, quiet).run(backup.verifySet, { service: 'reports', setId });
  }
  lines.push(ratioLine(`postgres backup, ${described} (n=${n})`, oursB, rawB));

  // ---- 9. restore vs raw pg_restore ----
  const oursR: number[] = [];
  const rawR: number[] = [];
  const admin = async (sql: string) => {
    const { Client } = await import('pg');
    const c = new Client({ connectionString: pgUrl('postgres') });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  for (let i = 0; i < n; i++) {
    const rawDb = `bench_raw_${env.id}_${i}`;
    const target = pgConnectionArgs(pgUrl(rawDb));
    // Both sides create the database they restore into.
    rawR.push(
      await time(async () => {
        await admin(`CREATE DATABASE ${escapeIdentifier(rawDb)} TEMPLATE template0`);
        await run('pg_restore', ['--single-transaction', '--exit-on-error', '--no-owner', ...target.args, path.join(env.backupDir, `raw-${i}.dump`)], {
          env: { ...process.env, ...target.env },
        });
      }),
    );
    await admin(`DROP DATABASE ${escapeIdentifier(rawDb)} WITH (FORCE)`);
    const scratch = `drill_bench_${env.id}_${i}`;
    oursR.push(
      await time(() =>
        new MockActivityEnvironment({}, quiet).run((x: Parameters<typeof restore.restorePostgres>[0]) => restore.restorePostgres(x), {
          service: 'reports',
          setId: sets[i]!,
          target: 'reports-db',
          toDatabase: scratch,
        }),
      ),
    );
    await restore.dropScratch({ scratch: [{ store: 'postgres', target: 'reports-db', database: scratch }] });
  }
  lines.push(ratioLine(`postgres restore (n=${n})`, oursR, rawR));

  // ---- 10. Mongo dump vs a plain cursor read ----
  const collections = await env.mongo.listCollections({}, { nameOnly: true }).toArray();
  const total = (await Promise.all(collections.map((c) => env.mongo.collection(c.name).estimatedDocumentCount()))).reduce((a, b) => a + b, 0);
  const oursM: number[] = [];
  const rawM: number[] = [];
  for (let i = 0; i < n; i++) {
    rawM.push(
      await time(async () => {
        for (const c of collections) for await (const d of env.mongo.collection(c.name).find({})) void d;
      }),
    );
    oursM.push(
      await time(() =>
        new MockActivityEnvironment({}, quiet).run(backup.backupSetMongo, {
          service: 'reports',
          setId: `20261126T0100${String(i).padStart(2, '0')}Z-mbench${i}`,
          target: 'reports-mongo',
        }),
      ),
    );
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  lines.push(
    `${`mongo dump, ${total.toLocaleString('en')} docs (n=${n})`.padEnd(34)} ours ${Math.round(total / (med(oursM) / 1000)).toLocaleString('en')} docs/s   cursor read ${Math.round(total / (med(rawM) / 1000)).toLocaleString('en')} docs/s   ratio ${(med(oursM) / med(rawM)).toFixed(2)}x (time)`,
  );

  // ---- 11. drill RTO: the runbooks end to end ----
  let b: BackupResult | undefined;
  const backupMs = await time(async () => {
    b = (await env.client.workflow.execute('backup', {
      taskQueue: env.taskQueue,
      workflowId: `bench-backup-${env.id}`,
      args: [{ service: 'reports', requestedBy: 'bob', retention: false }],
    })) as BackupResult;
  });
  const setId = b!.setId;
  const d = (await env.client.workflow.execute('restoreDrill', {
    taskQueue: env.taskQueue,
    workflowId: `bench-drill-${env.id}`,
    args: [{ service: 'reports', requestedBy: 'bob', setId }],
  })) as RestoreDrillResult;
  lines.push(
    `${'restore drill (postgres+mongo+redis)'.padEnd(34)} RTO ${((d.rtoMs ?? NaN) / 1000).toFixed(1)} s (restore to verified), outcome ${d.outcome}; the backup runbook took ${(backupMs / 1000).toFixed(1)} s`,
  );
  return lines;
}
