// The servers of the local stack, in start order, and starting and stopping them. Each server is one file
// in components/ (how to tell it is up, how to start it and what to do once it is); adding one is that file
// plus its line in REGISTRY. `ensure` reuses a server that already answers (started by `npm start`, or an
// earlier test run). Optional ones (the Kubernetes plane) start only when selected (scripts/stack/platform.ts).
import { type Component as ComponentOf, type ComponentFactory, stackContext } from './component';
import { alertmanager } from './components/alertmanager';
import { api } from './components/api';
import { demo } from './components/demo';
import { ferretdb } from './components/ferretdb';
import { kubernetes, stopKubernetes } from './components/kubernetes';
import { mail } from './components/mail';
import { nginx } from './components/nginx';
import { postgres } from './components/postgres';
import { prometheus } from './components/prometheus';
import { redis } from './components/redis';
import { s3 } from './components/s3';
import { temporal } from './components/temporal';
import { worker } from './components/worker';
import { logFile, readPid, stopProcess, waitFor } from './process';
import { loadSecrets, type StackSecrets } from './secrets';

export { stackEnv } from './component';

interface Entry<N extends string> {
  name: N;
  make: ComponentFactory<NoInfer<N>>;
  /** One of the servers the test suite and the bench need (they run the demo service and a worker themselves). */
  server?: true;
  /** How `stop` asks it to exit (default SIGTERM), and how long it waits before SIGKILL (default 20 s). */
  stopSignal?: NodeJS.Signals;
  stopTimeoutMs?: number;
  /** Not one process of ours with a pid file: how `stop` stops it instead. */
  stopWith?: () => Promise<StopOutcome>;
  /** Not part of every `npm start`: the command that starts it (what `npm run status` says when it is down). */
  optional?: { startWith: string };
}

type StopOutcome = Awaited<ReturnType<typeof stopProcess>>;

// N is the name as written; the factory must make a component of that name (NoInfer).
const entry = <N extends string>(e: Entry<N>): Entry<N> => e;

const REGISTRY = [
  // SIGINT is PostgreSQL's "fast" shutdown (SIGTERM would wait for every client to leave).
  entry({ name: 'postgres', make: postgres, server: true, stopSignal: 'SIGINT' }),
  entry({ name: 'redis', make: redis, server: true }),
  entry({ name: 'ferretdb', make: ferretdb, server: true }),
  entry({ name: 's3', make: s3, server: true }),
  entry({ name: 'temporal', make: temporal, server: true }),
  // The local Kubernetes plane: five processes. The test suite starts it too (test/global-setup.ts).
  entry({ name: 'kubernetes', make: kubernetes, stopWith: stopKubernetes, optional: { startWith: 'npm start -- --platform kubernetes' } }),
  entry({ name: 'demo', make: demo }),
  entry({ name: 'mail', make: mail }),
  // SIGQUIT: nginx's graceful shutdown (open connections finish).
  entry({ name: 'tls', make: nginx, stopSignal: 'SIGQUIT' }),
  // Room for its shutdown grace time (30 s: running activities may finish, see workers/create-worker.ts).
  entry({ name: 'worker', make: worker, stopTimeoutMs: 40_000 }),
  entry({ name: 'api', make: api }),
  entry({ name: 'alertmanager', make: alertmanager }),
  entry({ name: 'prometheus', make: prometheus }),
];

export type ComponentName = (typeof REGISTRY)[number]['name'];
export type Component = ComponentOf<ComponentName>;

const ENTRIES = Object.fromEntries(REGISTRY.map((e) => [e.name, e])) as Record<ComponentName, Entry<ComponentName>>;

export function components(secrets: StackSecrets = loadSecrets()): Record<ComponentName, Component> {
  const ctx = stackContext(secrets);
  return Object.fromEntries(REGISTRY.map((e) => [e.name, e.make(ctx)])) as Record<ComponentName, Component>;
}

export const ORDER: ComponentName[] = REGISTRY.map((e) => e.name);
export const SERVERS: ComponentName[] = REGISTRY.filter((e) => e.server).map((e) => e.name);
/** What every `npm start` starts; optional components come on top when selected. */
export const STACK: ComponentName[] = REGISTRY.filter((e) => !e.optional).map((e) => e.name);

/** For an optional component: the command that starts it. */
export const startCommand = (name: ComponentName): string | undefined => ENTRIES[name].optional?.startWith;

export interface EnsureReport {
  name: ComponentName;
  address: string;
  state: 'started' | 'reused';
  ms: number;
  /** What its `after` wants the person starting it to know. */
  note?: string;
}

function stopOne(name: ComponentName): Promise<StopOutcome> {
  const { stopWith, stopSignal = 'SIGTERM', stopTimeoutMs = 20_000 } = ENTRIES[name];
  return stopWith ? stopWith() : stopProcess(name, stopSignal, stopTimeoutMs);
}

/** Makes sure each named component is up, starting the missing ones in order. */
export async function ensure(names: ComponentName[], onEvent: (r: EnsureReport) => void = () => undefined): Promise<EnsureReport[]> {
  const all = components();
  const reports: EnsureReport[] = [];
  for (const name of ORDER.filter((n) => names.includes(n))) {
    const c = all[name];
    const started = Date.now();
    let state: EnsureReport['state'] = 'reused';
    const up = await c.ready().catch(() => false);
    if (!up) {
      const pid = readPid(name);
      // A server of ours that is still starting (another `npm start` or test run) is waited for, not doubled.
      if (!pid) {
        await c.start();
        state = 'started';
      }
      try {
        await waitFor(name, () => c.ready(), c.startTimeoutMs, logFile(name));
      } catch (err) {
        // Do not leave a server behind that never became usable.
        if (state === 'started') await stopOne(name);
        throw err;
      }
    }
    const note = (await c.after?.()) || undefined;
    const r: EnsureReport = { name, address: c.address, state, ms: Date.now() - started, ...(note ? { note } : {}) };
    reports.push(r);
    onEvent(r);
  }
  return reports;
}

/** Stops the named components (reverse order), by their pid files (or their own stop, as the plane has). */
export async function stop(names: ComponentName[], onEvent: (name: ComponentName, how: string) => void = () => undefined): Promise<void> {
  for (const name of [...ORDER].reverse().filter((n) => names.includes(n))) {
    onEvent(name, await stopOne(name));
  }
}
