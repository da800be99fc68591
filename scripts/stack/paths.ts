// Where the local stack keeps its tools, data, logs and pid files. Everything is project-local except the
// PostgreSQL cluster when the checkout sits where the `postgres` user cannot enter (e.g. under /root):
// then it lives under /var/tmp, recorded in .data/postgres.location.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const TOOLS = path.join(ROOT, '.tools');
export const DATA = process.env.RUNBOOK_DATA_DIR ? path.resolve(process.env.RUNBOOK_DATA_DIR) : path.join(ROOT, '.data');
export const LOGS = path.join(DATA, 'logs');
export const RUN = path.join(DATA, 'run');

export const BIN = {
  temporal: path.join(TOOLS, 'venv', 'bin', 'temporal'),
  ferretdb: path.join(TOOLS, 'bin', 'ferretdb'),
  /** A link into the per-user build cache (scripts/install.sh). */
  versitygw: path.join(TOOLS, 'bin', 'versitygw'),
  pgDir: process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin',
  redis: 'redis-server',
};

export const PORTS = {
  temporal: Number(process.env.TEMPORAL_PORT ?? 7233),
  temporalUi: Number(process.env.TEMPORAL_UI_PORT ?? 8233),
  postgres: Number(process.env.PG_PORT ?? 55432),
  redis: Number(process.env.REDIS_PORT ?? 56379),
  ferretdb: Number(process.env.FERRETDB_PORT ?? 57017),
  demo: Number(process.env.DEMO_PORT ?? 58080),
  workerMetrics: Number(process.env.WORKER_METRICS_PORT ?? 59464),
  workerSdkMetrics: Number(process.env.WORKER_SDK_METRICS_PORT ?? 59465),
  api: Number(process.env.API_PORT ?? 58090),
  prometheus: Number(process.env.PROMETHEUS_PORT ?? 59090),
  alertmanager: Number(process.env.ALERTMANAGER_PORT ?? 59093),
  s3: Number(process.env.S3_PORT ?? 59000),
  /** The mail and webhook catcher (demo/mail-sink-main.ts): SMTP, and HTTP to read what arrived. */
  mailSmtp: Number(process.env.MAIL_SMTP_PORT ?? 51025),
  mailHttp: Number(process.env.MAIL_HTTP_PORT ?? 58025),
  /** The TLS front (nginx) before the demo service. */
  tls: Number(process.env.TLS_PORT ?? 58443),
};

export const HOST = '127.0.0.1';

/** A path as a person types it in the project: relative to it when inside, else with ~ for the home folder. */
export function shownPath(p: string): string {
  const rel = path.relative(ROOT, p);
  if (!rel.startsWith('..') && !path.isAbsolute(rel)) return rel;
  return p.startsWith(`${os.homedir()}/`) ? `~/${path.relative(os.homedir(), p)}` : p;
}

export interface Owner {
  uid: number;
  gid: number;
}

/** The account PostgreSQL runs as: `postgres` when we are root (initdb refuses root), else ourselves. */
export function postgresOwner(): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root but there is no "postgres" user; install PostgreSQL with scripts/install.sh');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function enterableBy(dir: string, owner: Owner): boolean {
  let d = path.resolve(dir);
  for (;;) {
    const st = statSync(d);
    const x = st.uid === owner.uid ? 0o100 : st.gid === owner.gid ? 0o010 : 0o001;
    if (!(st.mode & x)) return false;
    const parent = path.dirname(d);
    if (parent === d) return true;
    d = parent;
  }
}

export function postgresDataDir(): string {
  if (process.env.PG_DATA_DIR) return path.resolve(process.env.PG_DATA_DIR);
  const owner = postgresOwner();
  mkdirSync(DATA, { recursive: true });
  if (!owner || enterableBy(DATA, owner)) return path.join(DATA, 'postgres');
  const marker = path.join(DATA, 'postgres.location');
  if (existsSync(marker)) return readFileSync(marker, 'utf8').trim();
  // Random per .data: a fresh checkout at the same path must not find an older cluster (another password).
  const id = `${createHash('sha1').update(DATA).digest('hex').slice(0, 8)}-${randomBytes(4).toString('hex')}`;
  const base = path.join('/var/tmp', 'temporal-runbooks');
  for (const d of [base, path.join(base, id)]) {
    mkdirSync(d, { recursive: true, mode: 0o755 });
    // /var/tmp is world-writable: refuse a folder someone else prepared (or a link to elsewhere).
    const st = lstatSync(d);
    if (!st.isDirectory() || st.uid !== 0 || st.mode & 0o022) {
      throw new Error(`${d} is not a root-owned folder that only root can write; remove it, or set PG_DATA_DIR to a folder the postgres user can enter`);
    }
  }
  const dir = path.join(base, id, 'postgres');
  writeFileSync(marker, `${dir}\n`);
  return dir;
}
