// The runbook worker process. Configuration (see README "Configuration"):
//   RUNBOOK_CONFIG                targets and approvers (default config/local.json); secrets as ${VAR}
//   TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_TASK_QUEUE / TEMPORAL_TLS_* / TEMPORAL_API_KEY
//   WORKER_METRICS_ADDRESS        where /metrics and /healthz are served (default 127.0.0.1:59464)
//   WORKER_SDK_METRICS_ADDRESS    internal address of the SDK's own metrics (default 127.0.0.1:59465)
//   LOG_LEVEL                     TRACE | DEBUG | INFO | WARN | ERROR (default INFO)
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { createDeps } from '../activities';
import { loadConfig } from '../config/load';
import { connectionOptions, temporalProfile } from '../temporal-config/connection';
import { createRunbookWorker } from './create-worker';
import { RunbookMetrics } from './metrics';

// Log context that is the same on every line, or opaque (task tokens), is left out of the log lines.
const QUIET_META = new Set(['sdkComponent', 'taskQueue', 'namespace', 'taskToken', 'isLocal', 'workflowRunId']);

async function main(): Promise<void> {
  const config = loadConfig();
  const profile = temporalProfile();
  const metricsAddress = process.env.WORKER_METRICS_ADDRESS ?? '127.0.0.1:59464';
  const sdkMetricsAddress = process.env.WORKER_SDK_METRICS_ADDRESS ?? '127.0.0.1:59465';
  const level = (process.env.LOG_LEVEL ?? 'INFO').toUpperCase() as LogLevel;

  Runtime.install({
    logger: new DefaultLogger(level, ({ level: l, message, meta, timestampNanos }) => {
      const at = new Date(Number(timestampNanos / 1_000_000n)).toISOString();
      const shown = Object.fromEntries(Object.entries(meta ?? {}).filter(([k]) => !QUIET_META.has(k)));
      const m = Object.keys(shown).length ? ` ${JSON.stringify(shown)}` : '';
      process.stdout.write(`${at} ${l.padEnd(5)} ${message}${m}\n`);
    }),
    telemetryOptions: { metrics: { prometheus: { bindAddress: sdkMetricsAddress } } },
  });
  const log = Runtime.instance().logger;

  const connection = await NativeConnection.connect(connectionOptions(profile));
  const clientConnection = await Connection.connect(connectionOptions(profile));
  const client = new Client({ connection: clientConnection, namespace: profile.namespace });
  const deps = createDeps(config, { temporal: client });
  await deps.audit.migrate();

  let cached: { at: number; n: number } | undefined;
  const metrics = new RunbookMetrics(async () => {
    if (cached && Date.now() - cached.at < 5000) return cached.n;
    const { count } = await client.workflow.count('RunbookStatus = "awaiting-approval" AND ExecutionStatus = "Running"');
    cached = { at: Date.now(), n: count };
    return count;
  });
  const server = await metrics.serve(metricsAddress, `http://${sdkMetricsAddress}/metrics`);

  const worker = await createRunbookWorker({ connection, namespace: profile.namespace, taskQueue: profile.taskQueue, deps, metrics });
  log.info(
    `worker ready: ${profile.address} namespace=${profile.namespace} taskQueue=${profile.taskQueue} ` +
      `metrics=http://${metricsAddress}/metrics services=${Object.keys(config.services).join(',')}`,
  );
  metrics.ready = true;
  try {
    // Resolves after SIGINT/SIGTERM once in-flight work has finished or been cancelled.
    await worker.run();
    log.info('worker stopped');
  } finally {
    server.close();
    await Promise.allSettled([deps.close(), connection.close(), clientConnection.close()]);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`worker: ${err.message}\n`);
  process.exit(1);
});
