// Redis: the demo service's job queue, password-protected, append-only file persistence.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Component, StackContext } from '../component';
import { BIN, DATA, HOST, PORTS } from '../paths';
import { portOpen, startProcess } from '../process';

export function redis({ secrets, urls }: StackContext): Component<'redis'> {
  return {
    name: 'redis',
    address: `${HOST}:${PORTS.redis}`,
    startTimeoutMs: 15_000,
    async ready() {
      if (!(await portOpen(PORTS.redis))) return false;
      const r = new Redis(urls.redis, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await r.connect();
        return (await r.ping()) === 'PONG';
      } finally {
        r.disconnect();
      }
    },
    async start() {
      const dir = path.join(DATA, 'redis');
      mkdirSync(dir, { recursive: true });
      const conf = path.join(dir, 'redis.conf');
      writeFileSync(
        conf,
        [
          `bind ${HOST}`,
          `port ${PORTS.redis}`,
          `dir ${dir}`,
          'appendonly yes',
          'save ""',
          'protected-mode yes',
          `requirepass ${secrets.REDIS_PASSWORD}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      startProcess('redis', BIN.redis, [conf]);
    },
  };
}
