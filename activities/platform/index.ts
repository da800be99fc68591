import type { Deps } from '../deps';
import { LocalPlatform } from './local';
import type { Platform, PlatformState } from './port';

export function platformFor(deps: Deps, service: string): Platform {
  const svc = deps.service(service);
  switch (svc.platform.kind) {
    case 'local':
      return new LocalPlatform(svc.platform.adminUrl, svc.platform.token, service);
  }
}

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
  };
}
