// Runs the demo reports service for the local stack (npm start). Settings come from the environment that
// scripts/stack sets: DEMO_PORT, DEMO_PG_URL, DEMO_REDIS_URL, DEMO_MONGO_URL, DEMO_ADMIN_TOKEN, and optionally
// DEMO_INITIAL_VERSIONS (comma-separated, oldest first: the deployment history of a first start; default v1.4.2).
import { DEFAULT_BULLMQ_QUEUES } from './bullmq';
import { startDemo } from './server';

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`demo: environment variable ${name} is not set (start the demo with npm start)`);
    process.exit(2);
  }
  return v;
}

async function main(): Promise<void> {
  const initialVersions = (process.env.DEMO_INITIAL_VERSIONS ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  const demo = await startDemo({
    port: Number(process.env.DEMO_PORT ?? 58080),
    pgUrl: need('DEMO_PG_URL'),
    redisUrl: need('DEMO_REDIS_URL'),
    mongoUrl: need('DEMO_MONGO_URL'),
    adminToken: need('DEMO_ADMIN_TOKEN'),
    // config/local.json's services.reports.bullmq: prefix 'bull', the seed's three queues.
    bullmq: { prefix: 'bull', queues: [...DEFAULT_BULLMQ_QUEUES] },
    ...(initialVersions.length ? { initialVersions } : {}),
  });
  console.log(`demo reports service ${demo.version()} listening on ${demo.url} with ${demo.replicas()} job processor(s)`);
  // Keep a trickle of report requests flowing, so the queue has real work to drain.
  const trickle = setInterval(
    () => {
      fetch(`${demo.url}/reports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reportId: 1 + Math.floor(Math.random() * 200) }),
      }).catch(() => undefined);
    },
    Number(process.env.DEMO_TRICKLE_MS ?? 2000),
  );
  // Readers of the analytics page (seed 002's users, mostly the active third: ids divisible by 3), so the
  // cache's hit rate on the local stack is about something; and webhook deliveries into BullMQ, about one
  // in twenty failing, so the queue-health schedule has failed jobs to report and queue-recovery to retry.
  let tick = 0;
  const readers = setInterval(
    () => {
      tick++;
      const user = Math.random() < 0.8 ? 3 * (1 + Math.floor(Math.random() * 333)) : 1 + Math.floor(Math.random() * 1000);
      fetch(`${demo.url}/users/${user}/analytics`).catch(() => undefined);
      if (tick % 10 === 0)
        fetch(`${demo.url}/queues/webhooks/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ data: { event: 'report.generated', user }, ...(Math.random() < 0.05 ? { fail: true } : {}) }),
        }).catch(() => undefined);
    },
    Number(process.env.DEMO_READER_MS ?? 500),
  );
  const shutdown = async (): Promise<void> => {
    clearInterval(trickle);
    clearInterval(readers);
    await demo.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

main().catch((err: Error) => {
  console.error(`demo: ${err.message}`);
  process.exit(1);
});
