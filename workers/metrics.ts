// The worker's /metrics: runbook metrics from prom-client (fed by workflow sinks, which never fire during
// replay, so a restarted worker does not count a run twice), followed by the Temporal SDK's own metrics
// (task latencies, slots, polls) which the SDK core serves on an internal address.
import { createServer, type Server } from 'node:http';
import type { InjectedSinks } from '@temporalio/worker';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunbookSinks } from '../workflows/lib/progress';

export class RunbookMetrics {
  readonly registry = new Registry();
  /** /healthz answers 200 once the worker is polling. */
  ready = false;
  private readonly started = new Counter({
    name: 'runbook_runs_started_total',
    help: 'runbook runs started',
    labelNames: ['runbook'],
    registers: [this.registry],
  });
  private readonly completed = new Counter({
    name: 'runbook_runs_completed_total',
    help: 'runbook runs that ended with an outcome (completed, rejected, timed-out, window-ended, aborted, dry-run, ...)',
    labelNames: ['runbook', 'outcome'],
    registers: [this.registry],
  });
  private readonly failed = new Counter({
    name: 'runbook_runs_failed_total',
    help: 'runbook runs that failed',
    labelNames: ['runbook'],
    registers: [this.registry],
  });
  private readonly steps = new Histogram({
    name: 'runbook_step_duration_seconds',
    help: 'duration of runbook steps, by kind and final status',
    labelNames: ['runbook', 'kind', 'status'],
    buckets: [0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600, 14400],
    registers: [this.registry],
  });

  constructor(countPendingApprovals?: () => Promise<number>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'runbook_worker_' });
    if (countPendingApprovals) {
      new Gauge({
        name: 'runbook_approvals_pending',
        help: 'runs waiting for human approval (from Temporal visibility, so every worker reports the same)',
        registers: [this.registry],
        async collect() {
          this.set(await countPendingApprovals());
        },
      });
    }
  }

  sinks(): InjectedSinks<RunbookSinks> {
    return {
      metrics: {
        runStarted: { fn: (_info, runbook) => this.started.inc({ runbook }), callDuringReplay: false },
        runFinished: {
          fn: (_info, runbook, outcome) => (outcome === 'failed' ? this.failed.inc({ runbook }) : this.completed.inc({ runbook, outcome })),
          callDuringReplay: false,
        },
        stepFinished: {
          fn: (_info, runbook, kind, status, ms) => this.steps.observe({ runbook, kind, status }, ms / 1000),
          callDuringReplay: false,
        },
      },
    };
  }

  /** Serves /metrics (ours, then the SDK's from `sdkMetricsUrl`) and /healthz on host:port. */
  serve(address: string, sdkMetricsUrl?: string): Promise<Server> {
    const [host, port] = address.split(':');
    const server = createServer((req, res) => {
      if (req.url === '/healthz') {
        res.writeHead(this.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(this.ready ? 'ok\n' : 'starting\n');
        return;
      }
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      void (async () => {
        let body = await this.registry.metrics();
        if (sdkMetricsUrl) {
          try {
            body += `\n${await (await fetch(sdkMetricsUrl, { signal: AbortSignal.timeout(2000) })).text()}`;
          } catch (err) {
            body += `\n# Temporal SDK metrics unavailable: ${(err as Error).message}\n`;
          }
        }
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
      })().catch((err: Error) => res.writeHead(500).end(err.message));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(port), host, () => resolve(server));
    });
  }
}
