// The HTTP API (client/api/main.ts): starts, approves and steers runbooks over HTTP.
import path from 'node:path';
import { TSX, type Component, type StackContext } from '../component';
import { HOST, PORTS, ROOT } from '../paths';
import { portOpen, startProcess } from '../process';

export function api({ env }: StackContext): Component<'api'> {
  return {
    name: 'api',
    address: `http://${HOST}:${PORTS.api}   (OpenAPI http://${HOST}:${PORTS.api}/openapi.json)`,
    startTimeoutMs: 30_000,
    ready: async () => (await portOpen(PORTS.api)) && (await fetch(`http://${HOST}:${PORTS.api}/health`)).ok,
    async start() {
      startProcess('api', process.execPath, [...TSX, path.join(ROOT, 'client', 'api', 'main.ts')], { env, cwd: ROOT });
    },
  };
}
