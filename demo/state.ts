// The platform state the service must remember across its own restarts, in one Redis hash: the desired
// processor count, maintenance mode and the processor generation, plus the restart requests already applied.
import type { Redis } from 'ioredis';

export interface SavedState {
  replicas: number | undefined;
  maintenance: boolean;
  generation: number;
}

export class PlatformStore {
  /** Read on every public request, so it is kept in memory and only written through to Redis. */
  maintenance = false;
  /** Fault injection: the share of report requests answered 500, as a bad release would (memory only). */
  errorRate = 0;
  private errorDebt = 0;

  /**
   * Whether this request gets the injected 500: exactly the larger of `errorRate` and the deployed
   * release's own error share (`releaseRate`, see versions.ts) of requests, spread evenly.
   */
  injectError(releaseRate = 0): boolean {
    this.errorDebt += Math.max(this.errorRate, releaseRate);
    if (this.errorDebt < 1) return false;
    this.errorDebt -= 1;
    return true;
  }

  constructor(
    private readonly redis: Redis,
    private readonly stateKey: string,
  ) {}

  private get restartsKey(): string {
    return `${this.stateKey}:restarts`;
  }

  async load(): Promise<SavedState> {
    const saved = await this.redis.hgetall(this.stateKey);
    this.maintenance = saved.maintenance === 'true';
    return {
      replicas: saved.replicas !== undefined ? Number(saved.replicas) : undefined,
      maintenance: this.maintenance,
      generation: saved.generation !== undefined ? Number(saved.generation) : 1,
    };
  }

  async saveReplicas(replicas: number): Promise<void> {
    await this.redis.hset(this.stateKey, 'replicas', String(replicas));
  }

  async setMaintenance(enabled: boolean): Promise<boolean> {
    const previous = this.maintenance;
    this.maintenance = enabled;
    await this.redis.hset(this.stateKey, 'maintenance', String(enabled));
    return previous;
  }

  /** The answer recorded for a restart request already applied, as JSON. */
  async appliedRestart(requestId: string): Promise<string | null> {
    return this.redis.hget(this.restartsKey, requestId);
  }

  /** One MULTI, so a generation is never persisted without the request that made it, nor the reverse. */
  async recordRestart(requestId: string, generation: number, answer: string): Promise<void> {
    await this.redis.multi().hset(this.stateKey, 'generation', String(generation)).hset(this.restartsKey, requestId, answer).exec();
  }
}
