// Connections are built once per worker from configuration and shared by every activity. Clients are
// created lazily, so a worker starts even when a target is down (its activities then fail and retry).
import type { Client } from '@temporalio/client';
import { Redis } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { Pool } from 'pg';
import type { Config, ServiceConfig } from '../config/schema';
import { AuditStore } from './audit/store';
import { InvalidTargetError } from './errors';

export interface Deps {
  config: Config;
  pg(target: string): Pool;
  redis(target: string): Redis;
  mongo(target: string): Db;
  mongoClient(target: string): MongoClient;
  audit: AuditStore;
  /** The Temporal client of the worker (target locks); throws when the worker was built without one. */
  temporal(): Client;
  service(name: string): ServiceConfig;
  close(): Promise<void>;
}

function known(kind: string, name: string, table: Record<string, unknown>): never {
  throw new InvalidTargetError(`${kind} target "${name}" is not configured; known ${kind} targets: ${Object.keys(table).join(', ') || '(none)'}`);
}

export function createDeps(config: Config, opts: { temporal?: Client } = {}): Deps {
  const pools = new Map<string, Pool>();
  const redises = new Map<string, Redis>();
  const mongos = new Map<string, MongoClient>();

  const pool = (name: string, url: string): Pool => {
    let p = pools.get(name);
    if (!p) {
      p = new Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000 });
      // An idle client losing its server must not crash the worker; the next query reconnects.
      p.on('error', () => undefined);
      pools.set(name, p);
    }
    return p;
  };

  const mongoClient = (target: string): MongoClient => {
    const cfg = config.mongo[target] ?? known('mongo', target, config.mongo);
    let c = mongos.get(target);
    if (!c) {
      c = new MongoClient(cfg.url, { serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000 });
      mongos.set(target, c);
    }
    return c;
  };

  const deps: Deps = {
    config,
    pg: (target) => pool(`pg:${target}`, (config.postgres[target] ?? known('postgres', target, config.postgres)).url),
    redis: (target) => {
      const cfg = config.redis[target] ?? known('redis', target, config.redis);
      let r = redises.get(target);
      // A client that gave up on a server nobody answered is replaced: the server may be up by now.
      if (!r || r.status === 'end') {
        let answered = false;
        r = new Redis(cfg.url, {
          lazyConnect: true,
          maxRetriesPerRequest: 2,
          enableOfflineQueue: true,
          // A server that answered once is reconnected to for as long as it takes (a restart). One that never
          // answered is given up on after the 3rd attempt, where maxRetriesPerRequest has failed its commands,
          // instead of being retried in the background for the worker's lifetime.
          retryStrategy: (times) => (answered || times <= 3 ? Math.min(times * 50, 2000) : null),
        });
        r.once('ready', () => (answered = true));
        r.on('error', () => undefined);
        redises.set(target, r);
      }
      return r;
    },
    mongoClient,
    mongo: (target) => mongoClient(target).db((config.mongo[target] ?? known('mongo', target, config.mongo)).database),
    audit: new AuditStore(pool('audit', config.audit.url)),
    temporal: () => {
      if (!opts.temporal) throw new Error('this worker has no Temporal client: createDeps(config, { temporal })');
      return opts.temporal;
    },
    service: (name) =>
      config.services[name] ??
      (() => {
        throw new InvalidTargetError(`service "${name}" is not configured; known services: ${Object.keys(config.services).join(', ') || '(none)'}`);
      })(),
    async close() {
      await Promise.allSettled([
        ...[...pools.values()].map((p) => p.end()),
        // QUIT only where there is a connection: on a client still retrying an unreachable server it would
        // wait for that server, holding the process open. An ended client is left alone: disconnect() on its
        // closed socket arms a 2 s timer (ioredis' disconnectTimeout) for a 'close' that already happened.
        ...[...redises.values()].map((r) => (r.status === 'ready' ? r.quit() : r.status === 'end' ? undefined : r.disconnect())),
        ...[...mongos.values()].map((m) => m.close()),
      ]);
    },
  };
  return deps;
}
