// Prometheus metrics of the demo service. The job counters are created up front for the processors; the
// gauges read the live state when scraped, so they are registered once that state exists.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor() {
    collectDefaultMetrics({ register: this.registry });
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
