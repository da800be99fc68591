// The platform port: what runbooks ask of the thing that runs a service. Adapters: `local` (the demo
// service's own supervisor, the embedded default) and `kubernetes` (Deployments, a ConfigMap and a Service).
export interface PlatformState {
  /** Desired number of queue workers. */
  replicas: number;
  /** Workers currently busy with a job (a platform that cannot tell leaves it out). */
  busy?: number;
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

export interface Platform extends Deployments {
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

/** One revision of the service's deployment history (a Deployment's ReplicaSet revision). */
export interface Revision {
  /** 1, 2, 3 ...: a rollback makes a new revision with an older version, as `kubectl rollout undo` does. */
  revision: number;
  version: string;
  cause: 'deploy' | 'rollback';
  /** The request that made it: a retried call with the same id makes no second revision. */
  requestId: string;
  at: string;
}

export interface RolloutStatus {
  /** The revision being rolled out (or rolled out). */
  revision: number;
  /**
   * failed: the platform gave up on it (Kubernetes: the Deployment's Progressing condition is False with
   * ProgressDeadlineExceeded); it will not complete without a new change.
   */
  status: 'in-progress' | 'complete' | 'failed';
  /** Why it failed (e.g. ProgressDeadlineExceeded), with the platform's message. */
  reason?: string;
  message?: string;
  /** Processes running the revision, of `total` wanted. */
  updated: number;
  total: number;
}

export interface DeploymentState {
  current: Revision;
  /** Oldest first; the last one is `current`. */
  history: Revision[];
  rollout: RolloutStatus;
  /** Versions the platform can deploy. */
  available: string[];
}

export interface DeployResult {
  revision: Revision;
  previous: Revision;
  /** The platform had already applied this request id: nothing was deployed again. */
  repeated: boolean;
}

export interface Deployments {
  deployment(): Promise<DeploymentState>;
  /** Deploys `version` as a new revision (`kubectl set image`); idempotent by requestId. */
  deploy(version: string, requestId: string): Promise<DeployResult>;
  /** Back to `toRevision`, default the one before current (`kubectl rollout undo`); idempotent by requestId. */
  rollback(requestId: string, toRevision?: number): Promise<DeployResult>;
  /** Feature flags (a ConfigMap): sets the named flags, leaves the others; returns the previous values. */
  flags(): Promise<Record<string, boolean>>;
  setFlags(flags: Record<string, boolean>): Promise<{ previous: Record<string, boolean>; flags: Record<string, boolean> }>;
}
