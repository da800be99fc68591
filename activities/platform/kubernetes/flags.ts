// Feature flags on Kubernetes: the ConfigMap `configMap`, one key per flag, "true" or "false". Keys of
// another shape (settings that live beside the flags) are not flags and are left alone.
import { UnsafeOperationError } from '../../errors';
import { retryOnConflict } from './errors';
import type { Kube } from './kube';

const FIELD = 'configMap';
/** Upper-case letters, digits and _, starting with a letter (an environment variable's shape). */
export const FLAG_PATTERN = /^[A-Z][A-Z0-9_]{0,62}$/;
const MAX_FLAGS_PER_CHANGE = 32;

/** The flags of a ConfigMap's data, by name: "true" is on, anything else off. */
export function flagsOf(data: Record<string, string> | undefined): Record<string, boolean> {
  return Object.fromEntries(
    Object.entries(data ?? {})
      .filter(([k]) => FLAG_PATTERN.test(k))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, v === 'true']),
  );
}

export function checkFlags(flags: unknown): Record<string, boolean> {
  if (typeof flags !== 'object' || flags === null || Array.isArray(flags))
    throw new UnsafeOperationError('flags must be an object of flag names to true/false');
  const entries = Object.entries(flags);
  if (!entries.length || entries.length > MAX_FLAGS_PER_CHANGE)
    throw new UnsafeOperationError(`flags must name 1 to ${MAX_FLAGS_PER_CHANGE} flags; got ${entries.length}`);
  for (const [name, on] of entries) {
    if (!FLAG_PATTERN.test(name))
      throw new UnsafeOperationError(`flag name ${JSON.stringify(name).slice(0, 80)} must be upper-case letters, digits and _, starting with a letter`);
    if (typeof on !== 'boolean') throw new UnsafeOperationError(`flag ${name} must be true or false; got ${JSON.stringify(on)?.slice(0, 80)}`);
  }
  return flags as Record<string, boolean>;
}

export class KubernetesFlags {
  constructor(private readonly kube: Kube) {}

  private get name(): string {
    return this.kube.cfg.configMap;
  }

  async all(): Promise<Record<string, boolean>> {
    return flagsOf((await this.kube.readConfigMap(this.name, FIELD)).data);
  }

  /** Sets the named flags in one conditional patch, so `previous` is exactly what it replaced. */
  async set(flags: Record<string, boolean>): Promise<{ previous: Record<string, boolean>; flags: Record<string, boolean> }> {
    checkFlags(flags);
    return retryOnConflict(async () => {
      const cm = await this.kube.readConfigMap(this.name, FIELD);
      const before = flagsOf(cm.data);
      const previous = Object.fromEntries(Object.keys(flags).flatMap((k) => (k in before ? [[k, before[k]!]] : [])));
      const data = Object.fromEntries(Object.entries(flags).map(([k, on]) => [k, String(on)]));
      const patched = await this.kube.patchConfigMap(this.name, FIELD, { metadata: { resourceVersion: cm.metadata?.resourceVersion }, data });
      return { previous, flags: flagsOf(patched.data) };
    });
  }
}
