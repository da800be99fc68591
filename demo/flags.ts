// Feature flags of the demo reports service (what a ConfigMap of flags is on Kubernetes): one Redis hash
// `${stateKey}:flags` of "true"/"false", so they survive a restart of the service. Read on every report
// request, so they are kept in memory and written through.
import type { Redis } from 'ioredis';

export const DEFAULT_FLAGS: Readonly<Record<string, boolean>> = { REPORTS_MODULE_ENABLED: true, REPORTS_V2_ENABLED: true };

/** Upper-case letters, digits and _, starting with a letter (an environment variable's shape). */
export const FLAG_NAME_PATTERN = '^[A-Z][A-Z0-9_]{0,62}$';

export class FeatureFlags {
  private values: Record<string, boolean> = { ...DEFAULT_FLAGS };
  /** Changes run one after another, so each answers the values it really replaced. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    private readonly stateKey: string,
  ) {}

  private get key(): string {
    return `${this.stateKey}:flags`;
  }

  async load(): Promise<void> {
    const saved = await this.redis.hgetall(this.key);
    this.values = { ...DEFAULT_FLAGS };
    for (const [name, value] of Object.entries(saved)) this.values[name] = value === 'true';
  }

  /** Every flag, the defaults included, by name. */
  all(): Record<string, boolean> {
    return Object.fromEntries(Object.entries(this.values).sort(([a], [b]) => a.localeCompare(b)));
  }

  /** A flag never set and without a default is off. */
  enabled(name: string): boolean {
    return this.values[name] ?? false;
  }

  /**
   * Sets the named flags and leaves the others. `previous` has the value each named flag had; a flag that
   * did not exist before is absent from it.
   */
  set(flags: Record<string, boolean>): Promise<{ previous: Record<string, boolean>; flags: Record<string, boolean> }> {
    const run = this.tail.then(async () => {
      const previous: Record<string, boolean> = {};
      for (const name of Object.keys(flags)) if (Object.hasOwn(this.values, name)) previous[name] = this.values[name]!;
      await this.redis.hset(this.key, Object.fromEntries(Object.entries(flags).map(([name, on]) => [name, String(on)])));
      Object.assign(this.values, flags);
      return { previous, flags: this.all() };
    });
    this.tail = run.catch(() => undefined);
    return run;
  }
}
