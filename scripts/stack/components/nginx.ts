// The TLS front: Debian nginx on loopback serving the local CA's certificate for "localhost" in front of
// the demo service (seed 003 Certificate Renewal). The certificate-renewal runbook renews its pair and
// reloads it (nginx -s reload: graceful, open connections finish on the old workers).
import * as tls from 'node:tls';
import type { Component } from '../component';
import { HOST, PORTS } from '../paths';
import { portOpen, startProcess } from '../process';
import { NGINX_BIN, prepareStackTls, STACK_TLS } from '../tls';

/** A TLS handshake succeeds (any certificate: an expired one is the runbook's business, not the stack's). */
function handshake(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: HOST, port, servername: STACK_TLS.host, rejectUnauthorized: false, timeout: 2000 });
    s.once('secureConnect', () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

export function nginx(): Component<'tls'> {
  return {
    name: 'tls',
    address: `https://${STACK_TLS.host}:${PORTS.tls}   (nginx, CA .data/tls/ca/ca.crt, pair .data/tls/live)`,
    startTimeoutMs: 20_000,
    ready: async () => (await portOpen(PORTS.tls)) && handshake(PORTS.tls),
    async start() {
      const { args } = await prepareStackTls();
      startProcess('tls', NGINX_BIN, args, { cwd: STACK_TLS.prefix });
    },
  };
}
