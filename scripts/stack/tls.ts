// The stack's TLS front material (seed 003 Certificate Renewal): a local CA made once with openssl, the
// front's first server pair (short-lived on purpose, so a renewal is due on a fresh stack), and the nginx
// configuration that serves it in front of the demo service. Tests make private fronts with the same code.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureCa, issueCertificate, type CaFiles } from '../../activities/tls/openssl';
import { DATA, HOST, PORTS } from './paths';

export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

export const TLS_DIR = path.join(DATA, 'tls');
export const STACK_TLS = {
  caDir: path.join(TLS_DIR, 'ca'),
  certFile: path.join(TLS_DIR, 'live', 'reports.crt'),
  keyFile: path.join(TLS_DIR, 'live', 'reports.key'),
  prefix: path.join(TLS_DIR, 'nginx'),
  config: path.join(TLS_DIR, 'nginx', 'nginx.conf'),
  host: 'localhost',
  /** Days the first pair is valid: below the 30-day renewal threshold, so the example run really renews. */
  initialDays: 20,
};

export interface FrontConfig {
  /** nginx -p prefix: pid, logs and temp folders live here. */
  prefix: string;
  port: number;
  serverName: string;
  certFile: string;
  keyFile: string;
  /** http://host:port the front proxies to. */
  upstream: string;
}

// A quoted nginx string: the paths may hold spaces; quotes and backslashes are escaped.
const q = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** The front's nginx.conf: one master in the foreground, loopback only, TLS 1.2+, proxy to the upstream. */
export function nginxConfig(f: FrontConfig): string {
  const p = (...parts: string[]): string => q(path.join(f.prefix, ...parts));
  return [
    '# Rendered by scripts/stack/tls.ts; the stack (or a test) rewrites it at every start.',
    'daemon off;',
    'worker_processes 1;',
    // As root nginx would switch its workers to "nobody", who cannot enter a checkout under /root.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    `pid ${p('nginx.pid')};`,
    `error_log ${p('logs', 'error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    `  access_log ${p('logs', 'access.log')};`,
    `  client_body_temp_path ${p('tmp', 'body')};`,
    `  proxy_temp_path ${p('tmp', 'proxy')};`,
    `  fastcgi_temp_path ${p('tmp', 'fastcgi')};`,
    `  uwsgi_temp_path ${p('tmp', 'uwsgi')};`,
    `  scgi_temp_path ${p('tmp', 'scgi')};`,
    '  server {',
    `    listen ${HOST}:${f.port} ssl;`,
    `    server_name ${f.serverName};`,
    `    ssl_certificate ${q(f.certFile)};`,
    `    ssl_certificate_key ${q(f.keyFile)};`,
    '    ssl_protocols TLSv1.2 TLSv1.3;',
    '    location / {',
    `      proxy_pass ${f.upstream};`,
    '      proxy_set_header Host $host;',
    '      proxy_set_header X-Forwarded-Proto https;',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Writes the config and makes the folders nginx needs; returns nginx's command-line arguments. */
export async function prepareFront(f: FrontConfig, configFile = path.join(f.prefix, 'nginx.conf')): Promise<string[]> {
  for (const d of ['logs', 'tmp']) await mkdir(path.join(f.prefix, d), { recursive: true });
  await writeFile(configFile, nginxConfig(f));
  // -e: errors before the config is read go to the prefix too, not to /var/log/nginx.
  return ['-p', f.prefix, '-c', configFile, '-e', path.join(f.prefix, 'logs', 'error.log')];
}

/** The stack's CA and first server pair (created once), and its front config; returns nginx's arguments. */
export async function prepareStackTls(): Promise<{ ca: CaFiles; args: string[] }> {
  const ca = await ensureCa(STACK_TLS.caDir);
  if (!existsSync(STACK_TLS.certFile) || !existsSync(STACK_TLS.keyFile)) {
    await issueCertificate({
      ca,
      host: STACK_TLS.host,
      extraSans: [`IP:${HOST}`],
      days: STACK_TLS.initialDays,
      certFile: STACK_TLS.certFile,
      keyFile: STACK_TLS.keyFile,
    });
  }
  await mkdir(path.join(TLS_DIR, 'backup'), { recursive: true, mode: 0o700 });
  const args = await prepareFront(
    {
      prefix: STACK_TLS.prefix,
      port: PORTS.tls,
      serverName: STACK_TLS.host,
      certFile: STACK_TLS.certFile,
      keyFile: STACK_TLS.keyFile,
      upstream: `http://${HOST}:${PORTS.demo}`,
    },
    STACK_TLS.config,
  );
  return { ca, args };
}
