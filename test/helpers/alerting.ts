// A private Prometheus + Alertmanager for a test: rendered from the stack's own templates and alerting
// rules (only the `for:` durations shortened), scraping a test env's demo service and calling a webhook
// with a bearer token, as the stack's Alertmanager calls the runbook API.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ALERTMANAGER_BIN, alertmanagerArgs, alertmanagerConfig, writeTokenFile } from '../../scripts/stack/components/alertmanager';
import { ALERT_RULES_FILE, PROMETHEUS_BIN, prometheusArgs, prometheusConfig } from '../../scripts/stack/components/prometheus';
import { HOST } from '../../scripts/stack/paths';
import { tail } from '../../scripts/stack/process';
import { eventually } from './env';

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  value: string;
  activeAt?: string;
}

export interface Alerting {
  prom: string;
  am: string;
  dir: string;
  query(q: string): Promise<Sample[]>;
  alerts(): Promise<PromAlert[]>;
  logs(): string;
  stop(): Promise<void>;
}

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  const srv = createServer();
  return new Promise((resolve) =>
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    }),
  );
}

async function get<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { data: T }).data;
}

function startChild(bin: string, args: string[], log: string): ChildProcess {
  const out = openSync(log, 'a');
  try {
    return spawn(bin, args, { stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const ac = new AbortController();
  const timeout = sleep(10_000, 'timeout', { signal: ac.signal }).catch(() => 'cancelled');
  const first = await Promise.race([exited, timeout]);
  ac.abort();
  if (first === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

export async function startAlerting(opts: {
  /** host:port of the demo service to scrape. */
  demo: string;
  webhookUrl: string;
  token: string;
  /** Every rule's for: (the stack's are minutes). */
  forDuration: string;
  /** Scrape and evaluation interval. */
  interval: string;
  /** Prometheus's port, when it must be known before (a config naming it); default a free one. */
  promPort?: number;
}): Promise<Alerting> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rbt-alerting-'));
  const rules = readFileSync(ALERT_RULES_FILE, 'utf8');
  let shortened = 0;
  const shortRules = rules.replace(/^(\s+for: )\S+$/gm, (_m, key: string) => {
    shortened++;
    return `${key}${opts.forDuration}`;
  });
  if (shortened !== 4) throw new Error(`expected 4 rules with for:, found ${shortened}`);
  const rulesFile = path.join(dir, 'alert-rules.yml');
  writeFileSync(rulesFile, shortRules);

  const [promPort, amPort, noWorker] = [opts.promPort ?? (await freePort()), await freePort(), await freePort()];
  const prom = `http://${HOST}:${promPort}`;
  const am = `http://${HOST}:${amPort}`;
  const tokenFile = writeTokenFile(dir, opts.token);
  writeFileSync(path.join(dir, 'alertmanager.yml'), alertmanagerConfig({ webhookUrl: opts.webhookUrl, tokenFile }));
  const alertmanager = startChild(
    ALERTMANAGER_BIN,
    alertmanagerArgs(path.join(dir, 'alertmanager.yml'), path.join(dir, 'am-data'), amPort),
    path.join(dir, 'alertmanager.log'),
  );
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    prometheusConfig({ demo: opts.demo, worker: `${HOST}:${noWorker}`, alertmanager: `${HOST}:${amPort}`, rulesFile, interval: opts.interval }),
  );
  const prometheus = startChild(
    PROMETHEUS_BIN,
    prometheusArgs(path.join(dir, 'prometheus.yml'), path.join(dir, 'prom-data'), promPort),
    path.join(dir, 'prometheus.log'),
  );
  const logs = (): string =>
    `\n--- prometheus.log ---\n${tail(path.join(dir, 'prometheus.log'))}\n--- alertmanager.log ---\n${tail(path.join(dir, 'alertmanager.log'))}`;
  const stop = async (): Promise<void> => {
    await stopChild(prometheus);
    await stopChild(alertmanager);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const url of [prom, am]) await eventually(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok, 20_000, `${url}/-/ready`);
  } catch (err) {
    const message = `${(err as Error).message}${logs()}`;
    await stop();
    throw new Error(message);
  }
  return {
    prom,
    am,
    dir,
    query: async (q) => (await get<{ result: Sample[] }>(`${prom}/api/v1/query?query=${encodeURIComponent(q)}`)).result,
    alerts: async () => (await get<{ alerts: PromAlert[] }>(`${prom}/api/v1/alerts`)).alerts,
    logs,
    stop,
  };
}

/** POSTs to `url` every `everyMs` until stopped; returns the count per status. */
export function keepPosting(url: string, body: unknown, everyMs = 50): { stop(): Promise<Record<number, number>> } {
  const codes: Record<number, number> = {};
  let running = true;
  const loop = (async () => {
    while (running) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).catch(() => undefined);
      if (res) {
        await res.arrayBuffer();
        codes[res.status] = (codes[res.status] ?? 0) + 1;
      }
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return codes;
    },
  };
}
