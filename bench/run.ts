// npm run bench: measures our code against a baseline measured in the same run, on the local stack.
//   1. approval vote round trip: our validated Update (rules + audit write) vs a bare Temporal Update
//   2. pre-change backup: backupPostgres (pg_dump + pg_restore --list + sha256) vs a raw pg_dump
//   3-5. restart-workers, the kit per step, an API start; 6-7. rollbacks (bench/rollback.ts)
//   8-11. backup/restore vs pg_dump/pg_restore, Mongo dump vs a cursor read, the drill's RTO (bench/backup.ts)
//   12-13. cache warming vs redis-benchmark and the seed's loop, invalidation vs scan|xargs del (bench/cache.ts)
//   14. retrying failed jobs vs the seed's single EVAL (bench/queue.ts); 12-14 on a private redis-server
//   15-20. Kubernetes adapter operations vs kubectl on the local plane (bench/k8s.ts)
// Prints medians, p95 and ratios. Loops are bounded; everything runs on loopback.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createBackupActivities, pgConnectionArgs } from '../activities/backup-store/pg-dump';
import { castVote } from '../client/runbooks';
import { ensure, SERVERS } from '../scripts/stack/components';
import { loadSecrets } from '../scripts/stack/secrets';
import { pendingApprovals } from '../workflows/lib/approval';
import type { MaintenanceWindowInput } from '../workflows/maintenance-window/contract';
import { createTestEnv, eventually, maintenanceInput, TEMPORAL_ADDRESS, NAMESPACE } from '../test/helpers/env';
import { adminToken } from '../test/helpers/runs';
import { startApi } from '../test/helpers/api';
import { createActivities } from '../activities';
import { RunbookMetrics } from '../workers/metrics';
import { backupRows } from './backup';
import { cacheRows } from './cache';
import { k8sRows } from './k8s';
import { queueRows } from './queue';
import { alertToRollback, apiToFirstActivity } from './rollback';
import { bareApprove } from './workflows';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
// BENCH_ONLY=rollback: only the rollback rows (6, 7); BENCH_ONLY=backup: only the backup rows (8-11, bench/backup.ts);
// BENCH_ONLY=cache: rows 12-13 (bench/cache.ts); BENCH_ONLY=queue: row 14 (bench/queue.ts); BENCH_ONLY=k8s:
// rows 15-20 (bench/k8s.ts, the adapter vs kubectl on the local Kubernetes plane).
const ONLY = process.env.BENCH_ONLY;
// These need no worker or Temporal: they run on their own redis-server and a private database.
const STANDALONE: Record<string, () => Promise<string[]>> = { cache: cacheRows, queue: queueRows, k8s: k8sRows };

function print(lines: string[]): void {
  console.log(`\nbench (${new Date().toISOString()}, ${cpus().length} cores)`);
  for (const l of lines) console.log(`  ${l}`);
}

function stats(ms: number[]): { median: number; p95: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, p95: s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)]! };
}
function row(name: string, ours: number[], base: number[]): string {
  const o = stats(ours);
  const b = stats(base);
  return `${name.padEnd(34)} ours ${o.median.toFixed(1).padStart(7)} ms (p95 ${o.p95.toFixed(1)})   baseline ${b.median.toFixed(1).padStart(7)} ms (p95 ${b.p95.toFixed(1)})   ratio ${(o.median / b.median).toFixed(2)}x`;
}
async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function main(): Promise<void> {
  process.env.LOG_LEVEL ??= 'ERROR';
  // The Kubernetes rows (bench/k8s.ts) need the local plane; like the test suite, the bench starts it.
  await ensure(!ONLY || ONLY === 'k8s' ? [...SERVERS, 'kubernetes'] : SERVERS);
  const secrets = loadSecrets();
  process.env.TEST_PG_PASSWORD = secrets.PG_PASSWORD;
  process.env.TEST_REDIS_PASSWORD = secrets.REDIS_PASSWORD;
  const standalone = ONLY ? STANDALONE[ONLY] : undefined;
  if (standalone) return print(await standalone());
  const dir = mkdtempSync(path.join(tmpdir(), 'rb-bench-'));
  const bundle = path.join(dir, 'bundle.js');
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
  });
  writeFileSync(bundle, code);
  process.env.TEST_WORKFLOW_BUNDLE = bundle;

  const env = await createTestEnv();
  await env.startWorker();
  const bareQueue = `${env.taskQueue}-bare`;
  const bareWorker = await Worker.create({
    connection: await NativeConnection.connect({ address: TEMPORAL_ADDRESS }),
    namespace: NAMESPACE,
    taskQueue: bareQueue,
    workflowsPath: require.resolve('./workflows'),
    // The kit's steps call the real audit and notify activities; `noop` is the step itself.
    activities: { ...createActivities(env.deps), noop: async (i: number) => i },
    sinks: new RunbookMetrics().sinks(),
  });
  const bareRunning = bareWorker.run();
  const lines: string[] = [];
  try {
    if (!ONLY) {
      // ---- 1. approval round trip ----
      const ours: number[] = [];
      const base: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const h = await env.client.workflow.start('maintenanceWindow', {
          taskQueue: env.taskQueue,
          workflowId: `bench-gate-${env.id}-${i}`,
          args: [maintenanceInput({ tasks: [{ kind: 'analyze', table: 'reports' }] }) satisfies MaintenanceWindowInput],
        });
        await eventually(async () => (await h.query(pendingApprovals)).status === 'pending', 20_000, 'gate');
        ours.push(await time(() => castVote(env.client, h.workflowId, { approver: 'alice', decision: 'reject', comment: 'bench' })));
        await h.result();
        const b = await env.client.workflow.start('bareApproval', { taskQueue: bareQueue, workflowId: `bench-bare-${env.id}-${i}` });
        await b.query('__stack_trace').catch(() => undefined); // make sure its first task ran, like the gate's
        base.push(await time(() => b.executeUpdate(bareApprove, { args: [{ approver: 'alice' }] })));
        await b.result();
      }
      lines.push(row(`approval vote round trip (n=${ROUNDS})`, ours, base));

      // ---- 2. backup vs raw pg_dump ----
      await env.pool.query(`INSERT INTO report_runs (report_id, status, started_at, finished_at, rows_out)
      SELECT 1 + g % 200, 'done', now() - (g || ' seconds')::interval, now(), g % 1000 FROM generate_series(1, 300000) g`);
      const size = (await env.pool.query<{ s: string }>('SELECT pg_size_pretty(pg_database_size(current_database())) AS s')).rows[0]!.s;
      const backup = createBackupActivities(env.deps);
      const backupPostgres = (i: { database: string; name: string }) => backup.backupPostgres(i);
      const conn = pgConnectionArgs(env.config.postgres['reports-db']!.url);
      const mock = new MockActivityEnvironment();
      const rawMs: number[] = [];
      const oursMs: number[] = [];
      const n = Math.max(3, Math.floor(ROUNDS / 4));
      for (let i = 0; i < n; i++) {
        rawMs.push(
          await time(() =>
            run('pg_dump', ['--format=custom', '--no-owner', '--file', path.join(dir, `raw-${i}.dump`), ...conn.args], {
              env: { ...process.env, ...conn.env },
            }),
          ),
        );
        oursMs.push(await time(() => mock.run(backupPostgres, { database: 'reports-db', name: `bench-${i}` })));
      }
      const reuse = await time(() => mock.run(backupPostgres, { database: 'reports-db', name: 'bench-0' }));
      lines.push(row(`backup of ${size} db (n=${n})`, oursMs, rawMs));
      lines.push(`${'backup retried (verified file reused)'.padEnd(34)} ours ${reuse.toFixed(1).padStart(7)} ms`);

      // ---- 3. restart-workers (graceful, healthy processors) vs the same platform calls from a script ----
      // The script does what an operator's shell script would: restart, enqueue a probe, poll (every 250 ms,
      // as the activity does) until the probe is done and the rollout complete. No audit, lock or notification.
      const token = adminToken(env);
      const adminCall = (method: string, p: string, body?: unknown) =>
        fetch(`${env.demo.url}/admin${p}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          ...(body ? { body: JSON.stringify(body) } : {}),
        }).then((r) => r.json() as Promise<{ generation: number; rollout: { status: string; generation: number } }>);
      const scripted = async (i: number): Promise<void> => {
        const { generation } = await adminCall('POST', '/workers/restart', { mode: 'graceful', requestId: `bench-script-${env.id}-${i}` });
        const probeId = `bench-script-${env.id}-${i}`;
        await fetch(`${env.demo.url}/probes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ probeId }) });
        for (;;) {
          const probe = (await (await fetch(`${env.demo.url}/probes/${probeId}`)).json()) as { status: string };
          const { rollout } = await adminCall('GET', '/state');
          if (probe.status === 'done' && rollout.generation >= generation && rollout.status === 'complete') return;
          await new Promise((r) => setTimeout(r, 250));
        }
      };
      const runbookMs: number[] = [];
      const scriptMs: number[] = [];
      for (let i = 0; i < n; i++) {
        scriptMs.push(await time(() => scripted(i)));
        runbookMs.push(
          await time(async () => {
            const h = await env.client.workflow.start('restartWorkers', {
              taskQueue: env.taskQueue,
              workflowId: `bench-restart-${env.id}-${i}`,
              args: [{ service: 'reports', requestedBy: 'bob', recoveryTimeout: '1m' }],
            });
            const r = (await h.result()) as { outcome: string };
            if (r.outcome !== 'completed') throw new Error(`restart-workers ended ${r.outcome}`);
          }),
        );
      }
      lines.push(row(`restart-workers, graceful (n=${n})`, runbookMs, scriptMs));

      // ---- 4. the kit's cost per step: 20 no-op steps through the kit vs 20 bare activities ----
      const STEPS = 20;
      const kitMs: number[] = [];
      const bareMs: number[] = [];
      for (let i = 0; i < n; i++) {
        bareMs.push(
          await time(() => env.client.workflow.execute('bareSteps', { taskQueue: bareQueue, workflowId: `bench-bare-steps-${env.id}-${i}`, args: [STEPS] })),
        );
        kitMs.push(
          await time(() =>
            env.client.workflow.execute('kitSteps', {
              taskQueue: bareQueue,
              workflowId: `bench-kit-steps-${env.id}-${i}`,
              args: [{ requestedBy: 'bob', steps: STEPS }],
            }),
          ),
        );
      }
      lines.push(row(`kit, ${STEPS} no-op steps (n=${n})`, kitMs, bareMs));

      // ---- 5. a start through the HTTP API (auth, validation, idempotency key) vs client.workflow.start ----
      const api = await startApi(env);
      try {
        const input = { service: 'reports', recoveryTimeout: '1m', dryRun: true };
        const viaApi: number[] = [];
        const direct: number[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          viaApi.push(
            await time(async () => {
              const r = await api.call('POST', '/runbooks/restart-workers/runs', {
                as: 'bob',
                body: input,
                headers: { 'idempotency-key': `bench-${env.id}-${i}` },
              });
              if (r.status !== 201) throw new Error(`API answered ${r.status}: ${JSON.stringify(r.body)}`);
            }),
          );
          direct.push(
            await time(() =>
              env.client.workflow.start('restartWorkers', {
                taskQueue: env.taskQueue,
                workflowId: `bench-direct-${env.id}-${i}`,
                args: [{ ...input, requestedBy: 'bob' }],
              }),
            ),
          );
        }
        lines.push(row(`API start vs client.start (n=${ROUNDS})`, viaApi, direct));
      } finally {
        await api.close();
      }
    }

    if (!ONLY || ONLY === 'rollback') {
      // ---- 6. API call -> first rollback activity started vs client.workflow.start -> first activity ----
      const first = await apiToFirstActivity(bareQueue, ROUNDS);
      lines.push(row(`API -> 1st rollback activity (n=${ROUNDS})`, first.ours, first.base));
      lines.push(row(`  of which the answer to the call`, first.answered, first.started));

      // ---- 7. alert breach -> rollback started vs scrape interval + for: + group_wait ----
      const alert = await alertToRollback();
      lines.push(
        `${'alert breach -> rollback started'.padEnd(34)} ours ${alert.ms.toFixed(0).padStart(7)} ms   configured ${alert.expectedMs} ms (${alert.parts})   ` +
          `difference ${((alert.ms - alert.expectedMs) / 1000).toFixed(1)} s`,
      );
    }

    // ---- 8-11. backups and restores vs pg_dump / pg_restore / a cursor read; the drill's RTO ----
    if (!ONLY || ONLY === 'backup') lines.push(...(await backupRows(env)));

    // ---- 12-14. cache warming and invalidation, failed-job retries (private redis-server) ----
    if (!ONLY) for (const rows of Object.values(STANDALONE)) lines.push(...(await rows()));
  } finally {
    bareWorker.shutdown();
    await bareRunning;
    await env.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  print(lines);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
