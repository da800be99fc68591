// Restart requests, idempotent by request id: an activity retried after a lost reply must not restart the
// processors a second time, so the answer to each applied request is kept and replayed.
import type { Processors } from './processors';
import type { PlatformStore } from './state';

export type RestartMode = 'graceful' | 'force';

export interface RestartAnswer {
  mode: RestartMode;
  requestId: string;
  generation: number;
  replicas: number;
  /** Force only: processors killed. */
  killed?: number;
  repeated: boolean;
}

export type RestartResult = { code: 200 | 202; body: RestartAnswer } | { code: 409; body: { error: string } };

// A graceful restart is accepted and runs on; a force restart is done when it answers.
const CODE = { graceful: 202, force: 200 } as const;

export class Restarts {
  /** Requests run one after another, so two deliveries of one request id cannot both apply. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: PlatformStore,
    private readonly processors: Processors,
  ) {}

  apply(mode: RestartMode, requestId: string): Promise<RestartResult> {
    return this.serialize(() => this.applyNow(mode, requestId));
  }

  /**
   * Runs `fn` once every request queued before it has ended. Deployments (deployments.ts) queue here too:
   * they restart the processors as well, and two writers of the generation must not interleave.
   */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async applyNow(mode: RestartMode, requestId: string): Promise<RestartResult> {
    const applied = await this.store.appliedRestart(requestId);
    if (applied !== null) {
      const first = JSON.parse(applied) as RestartAnswer;
      // The same id with another mode is a caller's bug, not a retry: replaying would hide it.
      if (first.mode !== mode) return { code: 409, body: { error: `restart request ${requestId} was applied as a ${first.mode} restart` } };
      return { code: CODE[mode], body: { ...first, repeated: true } };
    }
    let body: RestartAnswer;
    if (mode === 'graceful') {
      const generation = this.processors.gracefulRestart();
      body = { mode, requestId, generation, replicas: this.processors.replicas, repeated: false };
    } else {
      const { generation, killed } = await this.processors.forceRestart();
      body = { mode, requestId, generation, replicas: this.processors.replicas, killed, repeated: false };
    }
    // Recorded after the restart, not before: if Redis fails in between, the caller's retry restarts once
    // more (harmless), whereas recording first could answer "repeated" for a restart that never happened.
    await this.store.recordRestart(requestId, body.generation, JSON.stringify(body));
    return { code: CODE[mode], body };
  }
}
