// The platform port: what runbooks ask of the thing that runs a service. Adapters: `local` (the demo
// service's own supervisor, the embedded default). A Kubernetes adapter implements the same calls.
export interface PlatformState {
  /** Desired number of queue workers. */
  replicas: number;
  /** Workers currently busy with a job. */
  busy: number;
  /** Maintenance mode: the service refuses new work and says so. */
  maintenance: boolean;
  /** Increases with every restart (a Deployment's template generation). */
  generation?: number;
  /** The latest restart's progress: processors of the newest generation running, of `total`. */
  rollout?: { status: 'none' | 'in-progress' | 'complete'; generation: number; updated: number; total: number };
}

export type RestartMode = 'graceful' | 'force';

export interface RestartResult {
  mode: RestartMode;
  requestId: string;
  generation: number;
  replicas: number;
  /** Processors killed at once (force). */
  killed?: number;
  /** The platform had already applied this request id: nothing was restarted again. */
  repeated: boolean;
}

export interface Platform {
  state(): Promise<PlatformState>;
  /** Scale to exactly `replicas` (scale-to-N, never by N, so retries are safe). */
  scaleWorkers(replicas: number): Promise<{ previous: number; replicas: number }>;
  setMaintenance(enabled: boolean): Promise<{ previous: boolean; enabled: boolean }>;
  /**
   * graceful: replace the workers one at a time, each finishing its job first (`rollout restart`); returns
   * once started. force: kill them all at once and start new ones (`delete pod`). Idempotent by requestId.
   */
  restartWorkers(mode: RestartMode, requestId: string): Promise<RestartResult>;
}
