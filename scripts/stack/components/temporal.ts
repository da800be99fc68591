// Temporal: the CLI's dev server (SQLite file) with its Web UI; namespaces and search attributes are
// registered as code once it is up.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { LOCAL_NAMESPACES } from '../../../temporal-config/connection';
import { setupTemporal } from '../../../temporal-config/setup';
import type { Component, StackContext } from '../component';
import { BIN, DATA, HOST, PORTS } from '../paths';
import { portOpen, startProcess } from '../process';

export function temporal({ urls }: StackContext): Component<'temporal'> {
  return {
    name: 'temporal',
    address: `${HOST}:${PORTS.temporal} (Web UI http://${HOST}:${PORTS.temporalUi})`,
    startTimeoutMs: 60_000,
    async ready() {
      if (!(await portOpen(PORTS.temporal)) || !(await portOpen(PORTS.temporalUi))) return false;
      const c = await Connection.connect({ address: urls.temporal, connectTimeout: 2000 });
      try {
        await c.workflowService.getSystemInfo({});
        return true;
      } finally {
        await c.close();
      }
    },
    async start() {
      const dir = path.join(DATA, 'temporal');
      mkdirSync(dir, { recursive: true });
      startProcess('temporal', BIN.temporal, [
        'server',
        'start-dev',
        '--db-filename',
        path.join(dir, 'temporal.db'),
        '--ip',
        HOST,
        '--port',
        String(PORTS.temporal),
        '--ui-ip',
        HOST,
        '--ui-port',
        String(PORTS.temporalUi),
        '--log-level',
        'warn',
        ...LOCAL_NAMESPACES.flatMap((ns) => ['--namespace', ns]),
      ]);
    },
    async after() {
      const c = await Connection.connect({ address: urls.temporal });
      try {
        await setupTemporal(c, LOCAL_NAMESPACES);
      } finally {
        await c.close();
      }
    },
  };
}
