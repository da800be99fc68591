// Runs the demo reports service for the local stack (npm start). Settings come from the environment that
// scripts/stack sets: DEMO_PORT, DEMO_PG_URL, DEMO_REDIS_URL, DEMO_MONGO_URL, DEMO_ADMIN_TOKEN, and optionally
// DEMO_INITIAL_VERSIONS (comma-separated, oldest first: the deployment history of a first start; default v1.4.2).
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
  const shutdown = async (): Promise<void> => {
    clearInterval(trickle);
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
