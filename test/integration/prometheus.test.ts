// Prometheus and Alertmanager for real: the stack's own instances load the rollback triggers and route them
// to the runbook API; and a private Prometheus + Alertmanager, from the same templates and the same alert
// expressions (only the `for:` durations shortened), scrape this test's demo service and turn a real 5xx
// burst (the demo's fault injection: POST /reports answers 500 to a share of requests) into a firing alert and a webhook call.
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { memoryLimitBytes } from '../../demo/metrics';
import { ensure, stop, type ComponentName } from '../../scripts/stack/components';
import { WEBHOOK_PATH } from '../../scripts/stack/components/alertmanager';
import { ALERT_RULES_FILE } from '../../scripts/stack/components/prometheus';
import { HOST, PORTS } from '../../scripts/stack/paths';
import { keepPosting, startAlerting, type Alerting, type PromAlert, type Sample } from '../helpers/alerting';
import { createTestEnv, eventually, type TestEnv } from '../helpers/env';
import { adminToken } from '../helpers/runs';

interface PromResponse<T> {
  status: string;
  data: T;
}
interface WebhookBody {
  receiver: string;
  status: string;
  groupLabels: Record<string, string>;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}

async function get<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as PromResponse<T>).data;
}

const ROLLBACK_ALERTS = ['ReportsErrorRateHigh', 'ReportsHealthCheckFailing', 'ReportsLatencyP95High', 'ReportsMemoryHigh'];

describe("the stack's Prometheus and Alertmanager (scripts/stack/components)", () => {
  const prom = `http://${HOST}:${PORTS.prometheus}`;
  const am = `http://${HOST}:${PORTS.alertmanager}`;
  let startedHere: ComponentName[] = [];
  beforeAll(async () => {
    // Not among the suite's SERVERS: started (or reused) here, and stopped here when started here.
    const reports = await ensure(['prometheus', 'alertmanager']);
    startedHere = reports.filter((r) => r.state === 'started').map((r) => r.name);
  });
  afterAll(async () => stop(startedHere));

  test('Prometheus loads the four rollback triggers with their for: and labels', async () => {
    const { groups } = await get<{ groups: { file: string; rules: { name: string; type: string; duration: number; labels: Record<string, string> }[] }[] }>(
      `${prom}/api/v1/rules`,
    );
    expect(groups.map((g) => g.file)).toEqual([ALERT_RULES_FILE]);
    const rules = groups.flatMap((g) => g.rules).sort((a, b) => a.name.localeCompare(b.name));
    expect(rules.map((r) => [r.name, r.type, r.duration, r.labels])).toEqual(
      [
        ['ReportsErrorRateHigh', 120],
        ['ReportsHealthCheckFailing', 300],
        ['ReportsLatencyP95High', 180],
        ['ReportsMemoryHigh', 180],
      ].map(([name, duration]) => [name, 'alerting', duration, { service: 'reports', severity: 'critical', runbook_action: 'rollback' }]),
    );
  });

  test('Prometheus scrapes the demo service (job reports) and the worker (job runbook-worker) every 5s, and alerts the local Alertmanager', async () => {
    // Targets appear a few seconds after a start (service discovery updates are batched every 5 s).
    const activeTargets = await eventually(
      async () => {
        const { activeTargets: t } = await get<{ activeTargets: { labels: Record<string, string>; scrapeUrl: string; scrapeInterval: string }[] }>(
          `${prom}/api/v1/targets`,
        );
        return t.length === 2 ? t : undefined;
      },
      15_000,
      'two scrape targets',
    );
    expect(activeTargets.map((t) => [t.labels.job, t.labels.service, t.scrapeUrl, t.scrapeInterval]).sort()).toEqual([
      ['reports', 'reports', `http://${HOST}:${PORTS.demo}/metrics`, '5s'],
      ['runbook-worker', undefined, `http://${HOST}:${PORTS.workerMetrics}/metrics`, '5s'],
    ]);
    const { activeAlertmanagers } = await get<{ activeAlertmanagers: { url: string }[] }>(`${prom}/api/v1/alertmanagers`);
    expect(activeAlertmanagers).toEqual([{ url: `http://${HOST}:${PORTS.alertmanager}/api/v2/alerts` }]);
  });

  test('Alertmanager runs without clustering and routes rollback alerts to the runbook API webhook', async () => {
    const res = await fetch(`${am}/api/v2/status`);
    expect(res.status).toBe(200);
    const status = (await res.json()) as { cluster: { status: string }; config: { original: string } };
    expect(status.cluster.status).toBe('disabled');
    expect(status.config.original).toContain(`url: http://${HOST}:${PORTS.api}${WEBHOOK_PATH}`);
    expect(status.config.original).toContain('runbook_action="rollback"');
  });
});

describe('the rollback triggers against a real demo service (a private Prometheus + Alertmanager)', () => {
  let env: TestEnv;
  let alerting: Alerting;
  let sink: Server;
  const webhooks: WebhookBody[] = [];
  const authorizations: string[] = [];

  const query = (q: string): Promise<Sample[]> => alerting.query(q);
  const alerts = (): Promise<PromAlert[]> => alerting.alerts();
  const post = (body: unknown): Promise<Response> =>
    fetch(`${env.demo.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  /** The demo's fault injection: this share of report requests answers 500, as a bad release would. */
  const errorRate = async (rate: number): Promise<void> => {
    const res = await fetch(`${env.demo.url}/admin/faults`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken(env)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ errorRate: rate }),
    });
    expect(res.status).toBe(200);
  };
  const logs = (): string => alerting.logs();

  beforeAll(async () => {
    env = await createTestEnv();
    sink = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === WEBHOOK_PATH) {
          webhooks.push(JSON.parse(body) as WebhookBody);
          authorizations.push(String(req.headers.authorization));
        }
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => sink.listen(0, HOST, r));
    const sinkPort = (sink.address() as { port: number }).port;
    alerting = await startAlerting({
      demo: new URL(env.demo.url).host,
      webhookUrl: `http://${HOST}:${sinkPort}${WEBHOOK_PATH}`,
      token: 'test-webhook-token-0123456789',
      forDuration: '3s',
      interval: '1s',
    });
  });

  afterAll(async () => {
    await alerting?.stop();
    if (sink) {
      sink.closeAllConnections();
      await new Promise((r) => sink.close(r));
    }
    await env?.cleanup();
  });

  test('the demo is scraped: up, health, the latency histogram and the memory series', async () => {
    for (let i = 0; i < 5; i++) expect((await post({ reportId: 1 })).status).toBe(202);
    const up = await eventually(async () => (await query('up{job="reports"} == 1')).at(0), 15_000, 'up{job="reports"} == 1');
    expect(up.metric).toMatchObject({ job: 'reports', service: 'reports', instance: new URL(env.demo.url).host });

    const one = (q: string): Promise<Sample> => eventually(async () => (await query(q)).at(0), 10_000, q);
    expect((await one('reports_health_up{job="reports"}')).value[1]).toBe('1');
    // Every bucket up to 10 s and above it is there for p95 > 10 s to be seen.
    const buckets = await eventually(
      async () => {
        const r = await query('reports_http_request_duration_seconds_bucket{job="reports", route="/reports"}');
        return r.length ? r : undefined;
      },
      10_000,
      'the latency histogram of POST /reports',
    );
    expect(buckets.map((b) => b.metric.le)).toEqual(expect.arrayContaining(['10', '30', '+Inf']));
    expect(Number(buckets.find((b) => b.metric.le === '+Inf')!.value[1])).toBe(5);
    expect(Number((await one('process_resident_memory_bytes{job="reports"}')).value[1])).toBeGreaterThan(0);
    expect((await one('reports_memory_limit_bytes{job="reports"}')).value[1]).toBe(String(memoryLimitBytes())); // 512 MiB unless DEMO_MEMORY_LIMIT_BYTES
    // The memory rule's ratio evaluates (whatever this jest process's own memory is).
    expect(Number((await one('process_resident_memory_bytes{job="reports"} / reports_memory_limit_bytes{job="reports"}')).value[1])).toBeGreaterThan(0);
  });

  const traffic0 = (): ReturnType<typeof keepPosting> => keepPosting(`${env.demo.url}/reports`, { reportId: 1 });

  test('a release answering 500 to 30 % of requests raises the error-rate alert: pending, then firing after its for:, then the runbook webhook is called', async () => {
    const errorAlert = async (): Promise<PromAlert | undefined> => (await alerts()).find((a) => a.labels.alertname === 'ReportsErrorRateHigh');
    const ratio = async (): Promise<number | undefined> => {
      const [s] = await query(
        'sum by (service) (rate(reports_http_requests_total{job="reports", route!="/metrics", code=~"5.."}[1m])) / sum by (service) (rate(reports_http_requests_total{job="reports", route!="/metrics"}[1m]))',
      );
      return s ? Number(s.value[1]) : undefined;
    };

    // Healthy traffic: the alert stays silent for several evaluations, longer than its for:.
    let traffic = traffic0();
    try {
      await eventually(
        async () => (await query('rate(reports_http_requests_total{job="reports", route="/reports", code="202"}[1m]) > 0')).length > 0,
        15_000,
        'a rate of 202s',
      );
      const quietUntil = Date.now() + 5_000;
      while (Date.now() < quietUntil) {
        expect(await errorAlert()).toBeUndefined();
        await sleep(250);
      }
    } finally {
      expect(Object.keys(await traffic.stop())).toEqual(['202']);
    }

    await errorRate(0.3);
    traffic = traffic0();
    try {
      const seen = new Set<string>();
      const firing = await eventually(
        async () => {
          const a = await errorAlert();
          if (a) seen.add(a.state);
          return a?.state === 'firing' ? a : undefined;
        },
        30_000,
        'ReportsErrorRateHigh firing',
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}; error ratio ${await ratio()}; alerts ${JSON.stringify(await alerts())}${logs()}`);
      });
      // It waited out its for: (pending first), and carries what Alertmanager routes on.
      expect([...seen]).toEqual(['pending', 'firing']);
      expect(firing.labels).toEqual({ alertname: 'ReportsErrorRateHigh', service: 'reports', severity: 'critical', runbook_action: 'rollback' });
      expect(Number(firing.value)).toBeGreaterThan(0.05);
      expect(firing.annotations.summary).toMatch(/^reports error rate \d+(\.\d+)?% \(> 5 %\) for more than 2 minutes$/);

      // Alertmanager (group_wait 5s) calls the runbook API's webhook with it, as receiver runbook-api.
      const hook = await eventually(
        async () => webhooks.find((w) => w.alerts.some((a) => a.labels.alertname === 'ReportsErrorRateHigh')),
        30_000,
        'the webhook call for ReportsErrorRateHigh',
      ).catch((err: Error) => {
        throw new Error(`${err.message}; calls ${JSON.stringify(webhooks)}${logs()}`);
      });
      expect(hook).toMatchObject({ receiver: 'runbook-api', status: 'firing', groupLabels: { alertname: 'ReportsErrorRateHigh', service: 'reports' } });
      expect(hook.alerts[0]).toMatchObject({ status: 'firing', labels: { service: 'reports', runbook_action: 'rollback' } });
      // With the API token from its token file.
      expect(authorizations[webhooks.indexOf(hook)]).toBe('Bearer test-webhook-token-0123456789');
      // Only rollback triggers reach it.
      expect(webhooks.flatMap((w) => w.alerts.map((a) => a.labels.alertname ?? '')).filter((n) => !ROLLBACK_ALERTS.includes(n))).toEqual([]);
    } finally {
      const codes = await traffic.stop();
      await errorRate(0);
      expect(Object.keys(codes).sort()).toEqual(['202', '500']);
    }
  });
});
