// Alertmanager: receives the alerts of the stack's Prometheus and sends the automatic rollback triggers
// (label runbook_action="rollback") to the runbook HTTP API's webhook; the rest go to a null receiver. Its
// config is rendered at every start from temporal-config/prometheus/alertmanager.yml. Loopback only, with
// clustering off (the gossip listener would bind every interface); data (silences, notification log) in
// .data/alertmanager.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Component, StackContext } from '../component';
import { DATA, HOST, PORTS } from '../paths';
import { portOpen, startProcess } from '../process';
import { renderTemplate } from './prometheus';

export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

/** Where the runbook HTTP API takes Alertmanager's webhook calls. */
export const WEBHOOK_PATH = '/alertmanager/webhook';

/** `tokenFile`: a file holding the API token the webhook calls with (Alertmanager reads it at each call). */
export function alertmanagerConfig(v: { webhookUrl: string; tokenFile: string }): string {
  return renderTemplate('alertmanager.yml', { WEBHOOK_URL: v.webhookUrl, TOKEN_FILE: v.tokenFile });
}

/** Writes the webhook's API token where only this user can read it; returns the path. */
export function writeTokenFile(dir: string, token: string): string {
  const file = path.join(dir, 'api-token');
  writeFileSync(file, token, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** Command-line arguments of an Alertmanager on HOST:port with its config file and data folder. */
export function alertmanagerArgs(configFile: string, dataDir: string, port: number): string[] {
  return [`--config.file=${configFile}`, `--storage.path=${dataDir}`, `--web.listen-address=${HOST}:${port}`, '--cluster.listen-address='];
}

export function alertmanager({ secrets }: StackContext): Component<'alertmanager'> {
  const base = `http://${HOST}:${PORTS.alertmanager}`;
  return {
    name: 'alertmanager',
    address: `${base}   (rollback alerts to http://${HOST}:${PORTS.api}${WEBHOOK_PATH})`,
    startTimeoutMs: 30_000,
    ready: async () => (await portOpen(PORTS.alertmanager)) && (await fetch(`${base}/-/ready`)).ok,
    async start() {
      const dir = path.join(DATA, 'alertmanager');
      mkdirSync(path.join(dir, 'data'), { recursive: true });
      const conf = path.join(dir, 'alertmanager.yml');
      const tokenFile = writeTokenFile(dir, secrets.API_TOKEN_ALERTMANAGER);
      writeFileSync(conf, alertmanagerConfig({ webhookUrl: `http://${HOST}:${PORTS.api}${WEBHOOK_PATH}`, tokenFile }));
      startProcess('alertmanager', ALERTMANAGER_BIN, alertmanagerArgs(conf, path.join(dir, 'data'), PORTS.alertmanager), { cwd: dir });
    },
  };
}
