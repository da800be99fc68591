import type { Deps } from '../deps';
import { LocalPlatform } from './local';
import type { Platform, PlatformState, RestartMode, RestartResult } from './port';

export type { PlatformState, RestartMode, RestartResult } from './port';

export function platformFor(deps: Deps, service: string): Platform {
  const svc = deps.service(service);
  switch (svc.platform.kind) {
    case 'local':
      return new LocalPlatform(svc.platform.adminUrl, svc.platform.token, service);
  }
}

export type PlatformActivities = ReturnType<typeof createPlatformActivities>;

export function createPlatformActivities(deps: Deps) {
  return {
    async platformState(input: { service: string }): Promise<PlatformState> {
      return platformFor(deps, input.service).state();
    },
    async scaleWorkers(input: { service: string; replicas: number }): Promise<{ previous: number; replicas: number }> {
      return platformFor(deps, input.service).scaleWorkers(input.replicas);
    },
    async setMaintenanceMode(input: { service: string; enabled: boolean }): Promise<{ previous: boolean; enabled: boolean }> {
      return platformFor(deps, input.service).setMaintenance(input.enabled);
    },
    /** `requestId` makes a retried call (reply lost) a no-op on the platform instead of a second restart. */
    async restartWorkers(input: { service: string; mode: RestartMode; requestId: string }): Promise<RestartResult> {
      return platformFor(deps, input.service).restartWorkers(input.mode, input.requestId);
    },
  };
}
