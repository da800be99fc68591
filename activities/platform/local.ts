// Local platform adapter: talks to the admin API of a service run by the local stack (see demo/admin.ts).
import { UnsafeOperationError } from '../errors';
import type { DeployResult, DeploymentState, Platform, PlatformState, RestartMode, RestartResult } from './port';

export class LocalPlatform implements Platform {
  constructor(
    private readonly adminUrl: string,
    private readonly token: string,
    private readonly service: string,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.adminUrl.replace(/\/$/, '')}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new Error(`${this.service} platform: ${method} ${url} failed: ${(err as Error).message}`);
    }
    const text = await res.text();
    const message = `${this.service} platform: ${method} ${url} answered ${res.status}: ${text.slice(0, 300)}`;
    // A refused request (bad token, conflicting request id, invalid body) fails the same way every time.
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) throw new UnsafeOperationError(message);
    if (!res.ok) throw new Error(message);
    return JSON.parse(text) as T;
  }

  state(): Promise<PlatformState> {
    return this.call('GET', '/state');
  }

  scaleWorkers(replicas: number): Promise<{ previous: number; replicas: number }> {
    return this.call('PUT', '/workers', { replicas });
  }

  setMaintenance(enabled: boolean): Promise<{ previous: boolean; enabled: boolean }> {
    return this.call('PUT', '/maintenance', { enabled });
  }

  restartWorkers(mode: RestartMode, requestId: string): Promise<RestartResult> {
    return this.call('POST', '/workers/restart', { mode, requestId });
  }

  deployment(): Promise<DeploymentState> {
    return this.call('GET', '/deployment');
  }

  deploy(version: string, requestId: string): Promise<DeployResult> {
    return this.call('POST', '/deployment', { version, requestId });
  }

  rollback(requestId: string, toRevision?: number): Promise<DeployResult> {
    return this.call('POST', '/deployment/rollback', { requestId, ...(toRevision !== undefined ? { toRevision } : {}) });
  }

  async flags(): Promise<Record<string, boolean>> {
    return (await this.call<{ flags: Record<string, boolean> }>('GET', '/flags')).flags;
  }

  setFlags(flags: Record<string, boolean>): Promise<{ previous: Record<string, boolean>; flags: Record<string, boolean> }> {
    return this.call('PUT', '/flags', { flags });
  }
}
