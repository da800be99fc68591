// API clients, one set per credentials source (kubeconfig files and context, or the pod's service account),
// built once and reused by every call; a kubeconfig file that changed on disk (a rotated token) is read
// again. A kubeconfig holds secrets: no error here quotes its content, only its path and what was wrong.
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { KubernetesPlatformConfig } from '../../../config/schema';
import { InvalidTargetError } from '../../errors';

export interface Clients {
  apps: k8s.AppsV1Api;
  core: k8s.CoreV1Api;
}

type Credentials = Pick<KubernetesPlatformConfig, 'kubeconfig' | 'context' | 'inCluster'>;

const cache = new Map<string, { stamp: string; clients: Clients }>();

/** The kubeconfig files of `cfg`, and which setting named them (for messages). */
function kubeconfigFiles(cfg: Credentials): { files: string[]; from: string } {
  if (cfg.kubeconfig) return { files: [cfg.kubeconfig], from: 'platform.kubeconfig' };
  const env = process.env.KUBECONFIG?.split(path.delimiter).filter(Boolean) ?? [];
  if (env.length) return { files: env, from: '$KUBECONFIG' };
  return { files: [path.join(os.homedir(), '.kube', 'config')], from: 'the default ~/.kube/config' };
}

/** Changes when a file is rewritten: size and modification time of each. */
function stampOf(files: string[], from: string): string {
  return files
    .map((file) => {
      try {
        const s = statSync(file);
        return `${s.size}:${s.mtimeMs}`;
      } catch {
        throw new InvalidTargetError(`kubeconfig "${file}" (${from}) cannot be read: no such file, or no permission`);
      }
    })
    .join(',');
}

/** Why a kubeconfig did not load, without quoting it (a YAML error shows the lines around the fault). */
function loadFailure(file: string, err: unknown): InvalidTargetError {
  const e = err as { name?: string; message?: string; mark?: { line?: number } };
  const why = e.name === 'YAMLException' ? `not valid YAML (line ${(e.mark?.line ?? 0) + 1})` : (e.message ?? String(err)).split('\n')[0]!.slice(0, 200);
  return new InvalidTargetError(`kubeconfig "${file}" cannot be used: ${why}`);
}

function fromFiles(files: string[], context: string | undefined): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  files.forEach((file, i) => {
    try {
      if (i === 0) kc.loadFromFile(file);
      else {
        const more = new k8s.KubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more, true);
      }
    } catch (err) {
      throw loadFailure(file, err);
    }
  });
  const where = files.join(path.delimiter);
  if (context) {
    if (!kc.getContextObject(context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new InvalidTargetError(`kubeconfig "${where}" has no context "${context}"; its contexts: ${known.join(', ') || '(none)'}`);
    }
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new InvalidTargetError(`kubeconfig "${where}" has no current context with a cluster; set platform.context`);
  return kc;
}

function inCluster(): k8s.KubeConfig {
  if (!process.env.KUBERNETES_SERVICE_HOST) {
    throw new InvalidTargetError('platform.inCluster is set but this process is not running in a Kubernetes pod (no KUBERNETES_SERVICE_HOST)');
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromCluster();
  return kc;
}

/** The API clients for `cfg`'s credentials, built on first use. */
export function clientsFor(cfg: Credentials): Clients {
  let key: string;
  let stamp = '';
  let load: () => k8s.KubeConfig;
  if (cfg.inCluster) {
    key = 'in-cluster';
    load = inCluster;
  } else {
    const { files, from } = kubeconfigFiles(cfg);
    key = JSON.stringify([files, cfg.context ?? null]);
    stamp = stampOf(files, from);
    load = () => fromFiles(files, cfg.context);
  }
  const hit = cache.get(key);
  if (hit && hit.stamp === stamp) return hit.clients;
  const kc = load();
  const clients = { apps: kc.makeApiClient(k8s.AppsV1Api), core: kc.makeApiClient(k8s.CoreV1Api) };
  cache.set(key, { stamp, clients });
  return clients;
}
