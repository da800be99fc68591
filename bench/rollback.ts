// The rollback benches (npm run bench runs them after the others):
//   - API call -> first rollback activity started, vs client.workflow.start of a bare one-activity workflow
//     -> its first activity started (same clock: this host's; the activity's start time from its history)
//   - alert breach -> rollback started, vs the sum of the scrape interval, the rule's for: and
//     Alertmanager's group_wait (a private Prometheus + Alertmanager from the stack's templates)
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { WEBHOOK_PATH } from '../scripts/stack/components/alertmanager';
import { freePort, keepPosting, startAlerting } from '../test/helpers/alerting';
import { startApi, TOKENS } from '../test/helpers/api';
import { createTestEnv, eventually } from '../test/helpers/env';
import { admin } from '../test/helpers/runs';

/** When the first activity of a workflow started (its ActivityTaskStarted event), in ms since the epoch. */
async function firstActivityStarted(client: Client, workflowId: string): Promise<number> {
  return eventually(
    async () => {
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const started = history.events?.find((e) => e.activityTaskStartedEventAttributes);
      const t = started?.eventTime;
      return t ? Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : undefined;
    },
    20_000,
    `the first activity of ${workflowId}`,
  );
}

/**
 * API call -> first activity started, for real rollbacks: each round deploys the bad release again (a new
 * revision, so the API's dedupe does not join the previous round's run), then POSTs the rollback and waits
 * for it to end. The baseline: client.workflow.start of a bare one-activity workflow -> its first activity.
 */
export async function apiToFirstActivity(
  bareQueue: string,
  rounds: number,
): Promise<{ ours: number[]; base: number[]; answered: number[]; started: number[] }> {
  const env = await createTestEnv({
    initialVersions: ['v1.4.2', 'v1.5.0'],
    configure: (raw) => {
      raw.services.reports!.rollback = { ...raw.services.reports!.rollback, verifyWindow: '1s' };
    },
  });
  await env.startWorker();
  const api = await startApi(env);
  const ours: number[] = [];
  const base: number[] = [];
  /** The API's answer (auth, validation, dedupe reads, start), and client.workflow.start's own. */
  const answered: number[] = [];
  const started: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      if (i > 0) {
        const res = await admin(env, 'POST', '/deployment', { version: 'v1.5.0', requestId: `bench-redeploy-${i}` });
        if (res.status !== 201) throw new Error(`redeploy answered ${res.status}`);
      }
      let t0 = Date.now();
      const r = await api.call('POST', '/runbooks/emergency-rollback/runs', { as: 'bob', body: { service: 'reports', reason: 'bench' } });
      if (r.status !== 201) throw new Error(`API answered ${r.status}: ${JSON.stringify(r.body)}`);
      answered.push(Date.now() - t0);
      ours.push((await firstActivityStarted(env.client, r.body.workflowId as string)) - t0);
      const outcome = ((await env.client.workflow.getHandle(r.body.workflowId as string).result()) as { outcome: string }).outcome;
      if (outcome !== 'completed') throw new Error(`rollback ended ${outcome}`);
      t0 = Date.now();
      const b = await env.client.workflow.start('bareSteps', { taskQueue: bareQueue, workflowId: `bench-first-${env.id}-${i}`, args: [1] });
      started.push(Date.now() - t0);
      base.push((await firstActivityStarted(env.client, b.workflowId)) - t0);
      await b.result();
    }
  } finally {
    await api.close();
    await env.cleanup();
  }
  return { ours, base, answered, started };
}

/**
 * One breach: the faulty version serves traffic from t0; the rule (for: 3s, 1 s scrapes) fires, Alertmanager
 * (group_wait 5s) calls the API, which starts the rollback. Returns ms from t0 to the rollback's start, and
 * the configured sum it is compared with.
 */
export async function alertToRollback(): Promise<{ ms: number; expectedMs: number; parts: string }> {
  const promPort = await freePort();
  // The demo runs in this process: its memory is the bench's, so lift the limit the memory trigger reads.
  process.env.DEMO_MEMORY_LIMIT_BYTES = String(64 * 1024 ** 3);
  const env = await createTestEnv({
    initialVersions: ['v1.4.2', 'v1.5.0'],
    configure: (raw) => {
      raw.services.reports!.rollback = { ...raw.services.reports!.rollback, verifyWindow: '2s' };
    },
  });
  await env.startWorker();
  const api = await startApi(env);
  const interval = 1000;
  const forMs = 3000;
  const groupWaitMs = 5000;
  const alerting = await startAlerting({
    demo: new URL(env.demo.url).host,
    webhookUrl: `${api.url}${WEBHOOK_PATH}`,
    token: TOKENS.alertmanager.token,
    forDuration: `${forMs / 1000}s`,
    interval: `${interval / 1000}s`,
    promPort,
  });
  try {
    await eventually(async () => (await alerting.query('up{job="reports"} == 1')).length > 0, 20_000, 'the demo scraped');
    const t0 = Date.now();
    const traffic = keepPosting(`${env.demo.url}/reports`, { reportId: 1 }, 20);
    try {
      const started = await eventually(
        async () =>
          (await env.pool.query<{ id: string }>(`SELECT workflow_id AS id FROM runbook_audit WHERE runbook = 'emergencyRollback' AND kind = 'run-started'`))
            .rows[0],
        120_000,
        'the rollback to start',
      );
      const d = await env.client.workflow.getHandle(started.id).describe();
      await env.client.workflow.getHandle(started.id).result();
      return {
        ms: d.startTime.getTime() - t0,
        expectedMs: interval + forMs + groupWaitMs,
        parts: `scrape ${interval / 1000}s + for ${forMs / 1000}s + group_wait ${groupWaitMs / 1000}s`,
      };
    } finally {
      await traffic.stop();
      await sleep(100);
    }
  } finally {
    await alerting.stop();
    await api.close();
    await env.cleanup();
  }
}
