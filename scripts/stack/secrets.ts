// Secrets of the local stack, generated once and kept in .data/secrets.env (mode 600). They reach the
// worker and the demo service through their environment only; config files name them as ${VAR}.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DATA, HOST, PORTS } from './paths';

export interface StackSecrets {
  PG_PASSWORD: string;
  REDIS_PASSWORD: string;
  DEMO_ADMIN_TOKEN: string;
  /** HTTP API tokens of the local stack's people (config/local.json `api.tokens`). */
  API_TOKEN_BOB: string;
  API_TOKEN_ALICE: string;
  API_TOKEN_DAVE: string;
  /** The token Alertmanager's webhook calls the API with (person alertmanager, role operator). */
  API_TOKEN_ALERTMANAGER: string;
  /** Root credentials of the stack's S3 server (component s3), used by the S3 backup store. */
  S3_ACCESS_KEY: string;
  S3_SECRET_KEY: string;
  /** The PagerDuty routing key of the local stack's notify.pagerduty (its events go to the mail sink). */
  PAGERDUTY_ROUTING_KEY: string;
  /** The HMAC key that signs the local stack's generic webhook notifications. */
  NOTIFY_HMAC_KEY: string;
}

const FILE = path.join(DATA, 'secrets.env');

export function loadSecrets(): StackSecrets {
  mkdirSync(DATA, { recursive: true });
  const existing: Record<string, string> = {};
  if (existsSync(FILE)) {
    for (const line of readFileSync(FILE, 'utf8').split('\n')) {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      if (m) existing[m[1]!] = m[2]!;
    }
  }
  const gen = (): string => randomBytes(18).toString('base64url');
  const secrets: StackSecrets = {
    PG_PASSWORD: existing.PG_PASSWORD ?? gen(),
    REDIS_PASSWORD: existing.REDIS_PASSWORD ?? gen(),
    DEMO_ADMIN_TOKEN: existing.DEMO_ADMIN_TOKEN ?? gen(),
    API_TOKEN_BOB: existing.API_TOKEN_BOB ?? gen(),
    API_TOKEN_ALICE: existing.API_TOKEN_ALICE ?? gen(),
    API_TOKEN_DAVE: existing.API_TOKEN_DAVE ?? gen(),
    API_TOKEN_ALERTMANAGER: existing.API_TOKEN_ALERTMANAGER ?? gen(),
    S3_ACCESS_KEY: existing.S3_ACCESS_KEY ?? `rb${randomBytes(9).toString('hex')}`,
    S3_SECRET_KEY: existing.S3_SECRET_KEY ?? gen(),
    PAGERDUTY_ROUTING_KEY: existing.PAGERDUTY_ROUTING_KEY ?? randomBytes(16).toString('hex'),
    NOTIFY_HMAC_KEY: existing.NOTIFY_HMAC_KEY ?? gen(),
  };
  const body = Object.entries(secrets)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  if (!existsSync(FILE) || readFileSync(FILE, 'utf8').trim() !== body) writeFileSync(FILE, `${body}\n`, { mode: 0o600 });
  return secrets;
}

/** Connection URLs of the local stack's servers (with secrets: keep them in memory and environments). */
export function stackUrls(s: StackSecrets) {
  return {
    pgAdmin: `postgres://postgres:${encodeURIComponent(s.PG_PASSWORD)}@${HOST}:${PORTS.postgres}/postgres`,
    pg: (db: string) => `postgres://postgres:${encodeURIComponent(s.PG_PASSWORD)}@${HOST}:${PORTS.postgres}/${db}`,
    redis: `redis://:${encodeURIComponent(s.REDIS_PASSWORD)}@${HOST}:${PORTS.redis}/0`,
    mongo: `mongodb://${HOST}:${PORTS.ferretdb}/`,
    temporal: `${HOST}:${PORTS.temporal}`,
    s3: `http://${HOST}:${PORTS.s3}`,
  };
}
