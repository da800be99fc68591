// The platform adapter of a configured service. Front doors use it too (the HTTP API reads a service's
// current revision to tell whether an earlier rollback still covers it), so it needs nothing but config.
import type { ServiceConfig } from '../../config/schema';
import { kubernetesPlatform } from './kubernetes';
import { LocalPlatform } from './local';
import type { Platform } from './port';

export function platformForService(name: string, svc: ServiceConfig): Platform {
  switch (svc.platform.kind) {
    case 'local':
      return new LocalPlatform(svc.platform.adminUrl, svc.platform.token, name);
    case 'kubernetes':
      return kubernetesPlatform(name, svc.platform);
  }
}
