// The platform port: what runbooks ask of the thing that runs a service. Adapters: `local` (the demo
// service's own supervisor, the embedded default). A Kubernetes adapter implements the same calls.
export interface PlatformState {
  /** Desired number of queue workers. */
  replicas: number;
  /** Workers currently busy with a job. */
  busy: number;
  /** Maintenance mode: the service refuses new work and says so. */
  maintenance: boolean;
}

export interface Platform {
  state(): Promise<PlatformState>;
  /** Scale to exactly `replicas` (scale-to-N, never by N, so retries are safe). */
  scaleWorkers(replicas: number): Promise<{ previous: number; replicas: number }>;
  setMaintenance(enabled: boolean): Promise<{ previous: boolean; enabled: boolean }>;
}
