// FerretDB: the MongoDB wire protocol over SQLite files, for the demo service's documents.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import type { Component, StackContext } from '../component';
import { BIN, DATA, HOST, PORTS } from '../paths';
import { portOpen, startProcess } from '../process';

export function ferretdb({ urls }: StackContext): Component<'ferretdb'> {
  return {
    name: 'ferretdb',
    address: `${HOST}:${PORTS.ferretdb}`,
    startTimeoutMs: 20_000,
    async ready() {
      if (!(await portOpen(PORTS.ferretdb))) return false;
      const m = new MongoClient(urls.mongo, { serverSelectionTimeoutMS: 1500 });
      try {
        await m.db('admin').command({ ping: 1 });
        return true;
      } finally {
        await m.close();
      }
    },
    async start() {
      const dir = path.join(DATA, 'ferretdb');
      mkdirSync(dir, { recursive: true });
      startProcess('ferretdb', BIN.ferretdb, [
        '--handler=sqlite',
        `--sqlite-url=file:${dir}/`,
        `--state-dir=${dir}`,
        `--listen-addr=${HOST}:${PORTS.ferretdb}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=warn',
      ]);
    },
  };
}
