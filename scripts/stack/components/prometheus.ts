// Prometheus: scrapes the demo service and the worker, evaluates the automatic rollback triggers
// (temporal-config/prometheus/alert-rules.yml) and sends alerts to the stack's Alertmanager. Its config is
// rendered at every start from the template temporal-config/prometheus/prometheus.yml, so the ports are
// the stack's. Loopback only; the lifecycle API (/-/reload, /-/quit) stays off; data in .data/prometheus.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Component } from '../component';
import { DATA, HOST, PORTS, ROOT } from '../paths';
import { portOpen, startProcess } from '../process';

/** The Prometheus/Alertmanager configuration as code: templates, alerting rules and their promtool tests. */
export const PROMETHEUS_CONFIG_DIR = path.join(ROOT, 'temporal-config', 'prometheus');
export const ALERT_RULES_FILE = path.join(PROMETHEUS_CONFIG_DIR, 'alert-rules.yml');
export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

/**
 * Fills a template of temporal-config/prometheus/: every ${NAME} outside comments becomes its value as a
 * double-quoted YAML string (JSON is valid YAML, so a value can never change the document's structure).
 * A placeholder without a value, or a value no placeholder uses, is an error.
 */
export function renderTemplate(file: string, values: Record<string, string>): string {
  const used = new Set<string>();
  const fill = (line: string): string =>
    line.replace(/\$\{([A-Z_]+)\}/g, (_m, name: string) => {
      const v = values[name];
      if (v === undefined) throw new Error(`${file}: no value for \${${name}}`);
      used.add(name);
      return JSON.stringify(v);
    });
  const text = readFileSync(path.join(PROMETHEUS_CONFIG_DIR, file), 'utf8')
    .split('\n')
    .map((line) => (line.trimStart().startsWith('#') ? line : fill(line)))
    .join('\n');
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length) throw new Error(`${file}: no placeholder for ${unused.join(', ')}`);
  return text;
}

export interface PrometheusConfigValues {
  /** host:port of each target. */
  demo: string;
  worker: string;
  alertmanager: string;
  rulesFile: string;
  /** Scrape and rule evaluation interval (a Prometheus duration); the scrape timeout is 80 % of it. */
  interval: string;
}

export function prometheusConfig(v: PrometheusConfigValues): string {
  const m = /^(\d+)(ms|s|m)$/.exec(v.interval);
  if (!m) throw new Error(`interval must be a duration like 5s, not "${v.interval}"`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
  return renderTemplate('prometheus.yml', {
    SCRAPE_INTERVAL: v.interval,
    SCRAPE_TIMEOUT: `${Math.max(1, Math.floor(ms * 0.8))}ms`,
    RULES_FILE: v.rulesFile,
    ALERTMANAGER_TARGET: v.alertmanager,
    DEMO_TARGET: v.demo,
    WORKER_TARGET: v.worker,
  });
}

/** Command-line arguments of a Prometheus on HOST:port with its config file and data folder. */
export function prometheusArgs(configFile: string, dataDir: string, port: number): string[] {
  // No --web.enable-lifecycle: nothing on this machine may stop or reload it over HTTP.
  return [`--config.file=${configFile}`, `--storage.tsdb.path=${dataDir}`, `--web.listen-address=${HOST}:${port}`];
}

export function prometheus(): Component<'prometheus'> {
  const base = `http://${HOST}:${PORTS.prometheus}`;
  return {
    name: 'prometheus',
    address: `${base}   (alerts ${base}/classic/alerts, rules temporal-config/prometheus/alert-rules.yml)`,
    startTimeoutMs: 30_000,
    ready: async () => (await portOpen(PORTS.prometheus)) && (await fetch(`${base}/-/ready`)).ok,
    async start() {
      const dir = path.join(DATA, 'prometheus');
      mkdirSync(path.join(dir, 'data'), { recursive: true });
      const conf = path.join(dir, 'prometheus.yml');
      writeFileSync(
        conf,
        prometheusConfig({
          demo: `${HOST}:${PORTS.demo}`,
          worker: `${HOST}:${PORTS.workerMetrics}`,
          alertmanager: `${HOST}:${PORTS.alertmanager}`,
          rulesFile: ALERT_RULES_FILE,
          interval: '5s',
        }),
      );
      startProcess('prometheus', PROMETHEUS_BIN, prometheusArgs(conf, path.join(dir, 'data'), PORTS.prometheus), { cwd: dir });
    },
  };
}
