// Connection profile. The same names work against the local dev server and a production cluster:
//   TEMPORAL_ADDRESS    host:port of the frontend           (default 127.0.0.1:7233, the local stack)
//   TEMPORAL_NAMESPACE  namespace the runbooks live in      (default runbooks)
//   TEMPORAL_TASK_QUEUE task queue the runbook worker polls (default runbooks)
//   TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY  client certificate files for mTLS (Temporal Cloud); unset: no TLS
//   TEMPORAL_API_KEY    API key (Temporal Cloud); implies TLS. A secret: keep it in the environment only.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';

export interface TemporalProfile {
  address: string;
  namespace: string;
  taskQueue: string;
  tls?: ConnectionOptions['tls'];
  apiKey?: string;
}

export const DEFAULT_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_NAMESPACE = 'runbooks';
export const DEFAULT_TASK_QUEUE = 'runbooks';
/** Namespaces the local stack creates: one for people, one the test suite uses so runs never mix. */
export const LOCAL_NAMESPACES = [DEFAULT_NAMESPACE, 'runbooks-test'] as const;

export function temporalProfile(env: NodeJS.ProcessEnv = process.env): TemporalProfile {
  const profile: TemporalProfile = {
    address: env.TEMPORAL_ADDRESS || DEFAULT_ADDRESS,
    namespace: env.TEMPORAL_NAMESPACE || DEFAULT_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE || DEFAULT_TASK_QUEUE,
  };
  if (env.TEMPORAL_TLS_CERT && env.TEMPORAL_TLS_KEY) {
    profile.tls = {
      clientCertPair: { crt: readFileSync(env.TEMPORAL_TLS_CERT), key: readFileSync(env.TEMPORAL_TLS_KEY) },
    };
  }
  if (env.TEMPORAL_API_KEY) {
    profile.apiKey = env.TEMPORAL_API_KEY;
    profile.tls ??= true;
  }
  return profile;
}

/** Options for Connection.connect / NativeConnection.connect. */
export function connectionOptions(p: TemporalProfile): { address: string; tls?: ConnectionOptions['tls']; apiKey?: string } {
  return { address: p.address, ...(p.tls ? { tls: p.tls } : {}), ...(p.apiKey ? { apiKey: p.apiKey } : {}) };
}
