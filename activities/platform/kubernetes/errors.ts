// How a failed Kubernetes API request reaches a runbook, decided in one place. Messages are built from the
// API's Status only: the client's own message carries the response headers, and nothing here ever sees the
// request's (where the token is).
import { InvalidTargetError, UnsafeOperationError } from '../../errors';

const KINDS = {
  deployments: 'Deployment',
  'deployments/scale': 'Deployment',
  replicasets: 'ReplicaSet',
  pods: 'Pod',
  configmaps: 'ConfigMap',
  services: 'Service',
} as const;

export type Resource = keyof typeof KINDS;

/** One API request, as RBAC sees it: what a refusal or a missing object is reported as. */
export interface ApiCall {
  verb: 'get' | 'list' | 'patch' | 'delete';
  resource: Resource;
  name?: string;
  namespace: string;
  /** The platform setting that names the object, pointed at when it does not exist. */
  field?: string;
}

/** The object changed between our read and our write (409): the call re-reads and tries again. */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

interface Status {
  message?: string;
}

/** The API's Status of a failed request (the client hands it over as a JSON string or as an object). */
function statusOf(err: unknown): Status {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'object' && body !== null) return body;
  if (typeof body !== 'string') return {};
  try {
    const parsed = JSON.parse(body) as unknown;
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return { message: body.slice(0, 300) };
  }
}

/** A credential that slipped into a message (a proxy echoing a header) is cut out. */
export function redact(message: string): string {
  return message.replace(/(bearer\s+)\S+/gi, '$1***').replace(/(token["':=\s]+)[A-Za-z0-9._~+/-]{16,}/gi, '$1***');
}

export function describeCall(c: ApiCall): string {
  return `${c.verb} ${c.resource}${c.name ? ` "${c.name}"` : ''} in namespace "${c.namespace}"`;
}

/**
 * The error a failed request becomes: a missing configured object or a refusal (403) is a configuration
 * problem and an invalid change (400, 422) fails the same way every time, so those are never retried; a
 * conflict (409) is retried inside the call; anything else (network, 401, 429, 5xx) is a plain Error that
 * Temporal retries.
 */
export function apiError(err: unknown, call: ApiCall): Error {
  const code = (err as { code?: unknown }).code;
  const what = describeCall(call);
  if (typeof code !== 'number') {
    const message = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 300) : String(err);
    return new Error(redact(`kubernetes: ${what} failed: ${message}`));
  }
  const message = redact(statusOf(err).message ?? '');
  switch (code) {
    case 404: {
      const hint = call.field ? `: check platform.${call.field}` : '';
      return new InvalidTargetError(`${KINDS[call.resource]} "${call.name ?? ''}" not found in namespace "${call.namespace}"${hint}`);
    }
    case 403: {
      const user = /User "([^"]+)"/.exec(message)?.[1];
      return new InvalidTargetError(
        `kubernetes refused: ${what}: forbidden${user ? ` (${user})` : ''}; the runbooks need the Role of deploy/k8s/role.yaml bound in that namespace`,
      );
    }
    case 409:
      return new ConflictError(`kubernetes: ${what}: ${message || 'conflict'}`);
    case 400:
    case 422:
      return new UnsafeOperationError(`kubernetes rejected: ${what}: ${message || `HTTP ${code}`}`);
    case 401:
      return new Error(`kubernetes: ${what}: the credentials were not accepted (401 Unauthorized)`);
    default:
      return new Error(`kubernetes: ${what} failed: HTTP ${code}${message ? `: ${message}` : ''}`);
  }
}

/** Runs `attempt` again while it ends in a conflict (someone else changed the object): it re-reads first. */
export async function retryOnConflict<T>(attempt: () => Promise<T>, times = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // Out of tries: a plain Error, so the activity's retry policy has another go later.
      if (i >= times) throw new Error(`${err.message} (still conflicting after ${times} tries)`);
    }
  }
}
