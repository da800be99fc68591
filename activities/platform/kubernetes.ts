// Kubernetes platform adapter (issue 10): being written.
import type { KubernetesPlatformConfig } from '../../config/schema';
import type { Platform } from './port';

export function kubernetesPlatform(_service: string, _cfg: KubernetesPlatformConfig): Platform {
  throw new Error('the Kubernetes adapter is not written yet');
}
