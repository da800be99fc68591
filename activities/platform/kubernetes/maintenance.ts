// Maintenance mode on Kubernetes: the Service `maintenance.service` is pointed at the maintenance pods
// (`maintenance.selector`) and back. The selector it had is kept in an annotation of the Service, written in
// the same conditional patch as the switch, so turning maintenance off restores exactly what was there.
import type { KubernetesPlatformConfig } from '../../../config/schema';
import { InvalidTargetError, UnsafeOperationError } from '../../errors';
import { retryOnConflict } from './errors';
import type { Kube } from './kube';

export const SELECTOR_BEFORE_ANNOTATION = 'runbooks.temporal.io/selector-before-maintenance';
const FIELD = 'maintenance.service';

type Labels = Record<string, string>;

export function sameLabels(a: Labels, b: Labels): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}

/** A merge patch that turns selector `from` into `to` (a key `to` lacks is removed with null). */
export function selectorPatch(from: Labels, to: Labels): Record<string, string | null> {
  return { ...Object.fromEntries(Object.keys(from).map((k) => [k, null])), ...to };
}

/** The selector saved when maintenance was turned on, or undefined when the annotation is missing or edited. */
export function savedSelector(raw: string | undefined): Labels | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    const ok = typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
    return ok ? (v as Labels) : undefined;
  } catch {
    return undefined;
  }
}

function routing(kube: Kube): NonNullable<KubernetesPlatformConfig['maintenance']> {
  const m = kube.cfg.maintenance;
  if (!m) {
    throw new InvalidTargetError(
      `service "${kube.service}" has no maintenance routing configured: set platform.maintenance (the Service to switch and the selector of the maintenance pods)`,
    );
  }
  return m;
}

export class KubernetesMaintenance {
  constructor(private readonly kube: Kube) {}

  /** Whether the Service selects the maintenance pods now; false when no routing is configured. */
  async enabled(): Promise<boolean> {
    const m = this.kube.cfg.maintenance;
    if (!m) return false;
    const svc = await this.kube.readService(m.service, FIELD);
    return sameLabels(svc.spec?.selector ?? {}, m.selector);
  }

  async set(enabled: boolean): Promise<{ previous: boolean; enabled: boolean }> {
    const m = routing(this.kube);
    return retryOnConflict(async () => {
      const svc = await this.kube.readService(m.service, FIELD);
      const selector = svc.spec?.selector ?? {};
      const previous = sameLabels(selector, m.selector);
      if (previous === enabled) return { previous, enabled };
      const before = enabled ? selector : savedSelector(svc.metadata?.annotations?.[SELECTOR_BEFORE_ANNOTATION]);
      if (!before) {
        throw new UnsafeOperationError(
          `Service "${m.service}" in namespace "${this.kube.namespace}" selects the maintenance pods but its annotation ${SELECTOR_BEFORE_ANNOTATION} does not say what it selected before: set its selector back by hand`,
        );
      }
      await this.kube.patchService(m.service, FIELD, {
        metadata: { resourceVersion: svc.metadata?.resourceVersion, annotations: { [SELECTOR_BEFORE_ANNOTATION]: enabled ? JSON.stringify(before) : null } },
        spec: { selector: selectorPatch(selector, enabled ? m.selector : before) },
      });
      return { previous, enabled };
    });
  }
}
