// The HTTP API process (npm start runs it; `npm run api` runs one against any cluster). Settings:
//   RUNBOOK_CONFIG   tokens and roles under `api` (secrets as ${VAR}), `api.listen` (default 127.0.0.1:58090)
//   API_LISTEN       host:port, overriding api.listen
//   TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_TASK_QUEUE / TLS / API key, as for the worker
//   TEMPORAL_UI_URL  base of the Web UI for links in answers (default http://127.0.0.1:8233)
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../../config/load';
import { connectionOptions, temporalProfile } from '../../temporal-config/connection';
import { createApi } from './server';

async function main(): Promise<void> {
  const config = loadConfig();
  const profile = temporalProfile();
  const connection = await Connection.connect(connectionOptions(profile));
  const client = new Client({ connection, namespace: profile.namespace });
  const app = await createApi({
    client,
    config,
    taskQueue: profile.taskQueue,
    uiUrl: process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233',
    namespace: profile.namespace,
    // Request lines only: pino's default request serializer logs no headers, so no token reaches a log.
    logger: { level: process.env.LOG_LEVEL?.toLowerCase() === 'debug' ? 'debug' : 'info' },
  });
  // The local stack moves it with API_PORT (scripts/stack); otherwise the config says where.
  const [host, port] = (process.env.API_LISTEN ?? config.api.listen).split(':');
  const url = await app.listen({ host, port: Number(port) });
  app.log.info(`runbook API on ${url}; ${config.api.tokens.length} token(s) configured; OpenAPI at ${url}/openapi.json`);
  const stop = async (): Promise<void> => {
    await app.close();
    await connection.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((err: Error) => {
  process.stderr.write(`api: ${err.message}\n`);
  process.exit(1);
});
