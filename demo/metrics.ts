// Prometheus metrics of the demo service. The job counters are created up front for the processors; the
// gauges read the live state when scraped, so they are registered once that state exists.
// The automatic rollback triggers (temporal-config/prometheus/alert-rules.yml) read: the request counter
// (error rate), the request latency histogram (p95), the process's resident memory (default metrics)
// over reports_memory_limit_bytes, and reports_health_up (with Prometheus's own `up`). What is deployed:
// reports_version_info and reports_deployment_revision.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The memory limit when DEMO_MEMORY_LIMIT_BYTES is not set: 512 MiB. */
export const DEFAULT_MEMORY_LIMIT_BYTES = 512 * 1024 * 1024;

/** How long the health check evaluated at a scrape may take before it counts as failing. */
const HEALTH_SCRAPE_TIMEOUT_MS = 2000;

/** The process's memory limit: DEMO_MEMORY_LIMIT_BYTES (a positive integer), else 512 MiB. */
export function memoryLimitBytes(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.DEMO_MEMORY_LIMIT_BYTES;
  if (raw === undefined || raw === '') return DEFAULT_MEMORY_LIMIT_BYTES;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`DEMO_MEMORY_LIMIT_BYTES must be a positive whole number of bytes, not "${raw}"`);
  return n;
}

export interface StateSources {
  queueDepth(): Promise<{ pending: number; processing: number; failed: number }>;
  running(): number;
  maintenance(): boolean;
  generation(): number;
  wedged(): number;
}

export class DemoMetrics {
  readonly registry = new Registry();
  readonly processed = new Counter({ name: 'reports_jobs_processed_total', help: 'jobs done', registers: [this.registry] });
  readonly failedJobs = new Counter({ name: 'reports_jobs_failed_total', help: 'jobs that failed', registers: [this.registry] });
  readonly jobSeconds = new Histogram({ name: 'reports_job_duration_seconds', help: 'job duration', registers: [this.registry] });
  readonly httpRequests = new Counter({
    name: 'reports_http_requests_total',
    help: 'HTTP requests',
    labelNames: ['route', 'code'],
    registers: [this.registry],
  });
  // Buckets above 10 s too: the rollback trigger is "p95 > 10 s", and a p95 beyond the last finite bucket
  // reads as that bucket's bound (a last bucket of 10 would make p95 > 10 s impossible to see).
  readonly httpSeconds = new Histogram({
    name: 'reports_http_request_duration_seconds',
    help: 'HTTP request latency of the public API (not the admin API), in seconds',
    labelNames: ['route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  /** Per metric key of GET /users/:id/analytics (cache-aside): found in the cache, or computed and stored. */
  readonly cacheHits = new Counter({ name: 'reports_cache_hits_total', help: 'analytics cache keys found', registers: [this.registry] });
  readonly cacheMisses = new Counter({ name: 'reports_cache_misses_total', help: 'analytics cache keys computed', registers: [this.registry] });
  readonly memoryLimit = new Gauge({
    name: 'reports_memory_limit_bytes',
    help: 'memory limit of the process (DEMO_MEMORY_LIMIT_BYTES, default 512 MiB); compare process_resident_memory_bytes',
    registers: [this.registry],
  });

  constructor() {
    // process_resident_memory_bytes, heap, event loop lag, ...
    collectDefaultMetrics({ register: this.registry });
    this.memoryLimit.set(memoryLimitBytes());
  }

  /**
   * reports_health_up: 1 when the service's health check (the same checks /health runs) passes, evaluated
   * at every scrape so it is current without anyone calling /health. A check slower than 2 s counts as
   * failing. When the process is down the series is gone: Prometheus's `up` is 0 then.
   */
  watchHealth(healthy: () => Promise<boolean>): void {
    new Gauge({
      name: 'reports_health_up',
      help: '1 when the health check (/health: postgres, redis, mongo) passes, evaluated at each scrape',
      registers: [this.registry],
      async collect() {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), HEALTH_SCRAPE_TIMEOUT_MS);
        });
        try {
          this.set((await Promise.race([healthy().catch(() => false), timeout])) ? 1 : 0);
        } finally {
          clearTimeout(timer);
        }
      },
    });
  }

  /**
   * reports_version_info{version} (1, only the deployed version's series) and reports_deployment_revision:
   * what is deployed, to tell from a dashboard or an alert which release it concerns.
   */
  watchDeployment(deployed: () => { version: string; revision: number }): void {
    new Gauge({
      name: 'reports_version_info',
      help: 'the deployed version of the reports service (1 for the current version only)',
      labelNames: ['version'],
      registers: [this.registry],
      collect() {
        // Only the current series: a version deployed before would otherwise still read 1.
        this.reset();
        this.set({ version: deployed().version }, 1);
      },
    });
    new Gauge({
      name: 'reports_deployment_revision',
      help: 'the current revision of the deployment history (+1 per deploy or rollback)',
      registers: [this.registry],
      collect() {
        this.set(deployed().revision);
      },
    });
  }

  watch(state: StateSources): void {
    const registers = [this.registry];
    new Gauge({
      name: 'reports_queue_depth',
      help: 'jobs per list',
      labelNames: ['list'],
      registers,
      async collect() {
        const depth = await state.queueDepth();
        this.set({ list: 'pending' }, depth.pending);
        this.set({ list: 'processing' }, depth.processing);
        this.set({ list: 'failed' }, depth.failed);
      },
    });
    new Gauge({
      name: 'reports_worker_replicas',
      help: 'job processors running',
      registers,
      collect() {
        this.set(state.running());
      },
    });
    new Gauge({
      name: 'reports_maintenance_mode',
      help: '1 in maintenance mode',
      registers,
      collect() {
        this.set(state.maintenance() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'reports_worker_generation',
      help: 'generation of the newest job processors (+1 per restart)',
      registers,
      collect() {
        this.set(state.generation());
      },
    });
    new Gauge({
      name: 'reports_workers_wedged',
      help: 'job processors wedged by fault injection',
      registers,
      collect() {
        this.set(state.wedged());
      },
    });
  }
}

/** What a processor reports about the jobs it runs. */
export type JobMetrics = Pick<DemoMetrics, 'processed' | 'failedJobs' | 'jobSeconds'>;
