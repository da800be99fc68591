// The real worker process (workers/main.ts) as a child, for tests that SIGKILL it mid-run.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { eventually, NAMESPACE, TEMPORAL_ADDRESS, type TestEnv } from './env';

const ROOT = path.resolve(__dirname, '..', '..');

export function freePort(): Promise<number> {
  const srv = createServer();
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    }),
  );
}

export interface WorkerProcess {
  child: ChildProcess;
  metricsUrl: string;
  output(): string;
}

/** Starts workers/main.ts on the env's task queue with its config (written to `dir`); resolves when ready. */
export async function startWorkerProcess(env: TestEnv, dir: string): Promise<WorkerProcess> {
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify(env.rawConfig), { mode: 0o600 });
  const [metricsPort, sdkPort] = [await freePort(), await freePort()];
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers', 'main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      RUNBOOK_CONFIG: config,
      TEMPORAL_ADDRESS,
      TEMPORAL_NAMESPACE: NAMESPACE,
      TEMPORAL_TASK_QUEUE: env.taskQueue,
      WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
      WORKER_SDK_METRICS_ADDRESS: `127.0.0.1:${sdkPort}`,
      LOG_LEVEL: 'WARN',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  try {
    await eventually(async () => (await fetch(`${metricsUrl}/healthz`)).ok, 60_000, 'the worker process to be ready');
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; its output:\n${out}`);
  }
  return { child, metricsUrl, output: () => out };
}

export function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}
