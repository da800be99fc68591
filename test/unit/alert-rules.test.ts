// The automatic rollback triggers as alerting rules (temporal-config/prometheus/alert-rules.yml), tested by
// Prometheus's own tool: promtool checks the rules and runs their unit tests (alert-rules.test.yml: each
// alert fires only once its condition has held for its `for:`, and never just below its threshold). The
// stack's rendered Prometheus and Alertmanager configs are checked the same way, and the Alertmanager
// route is asked where a rollback alert goes. promtool and amtool come from scripts/install.sh (Debian
// prometheus, prometheus-alertmanager); without them these tests fail and say so.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { alertmanagerConfig } from '../../scripts/stack/components/alertmanager';
import { ALERT_RULES_FILE, PROMETHEUS_CONFIG_DIR, prometheusConfig } from '../../scripts/stack/components/prometheus';

const RULE_TESTS = path.join(PROMETHEUS_CONFIG_DIR, 'alert-rules.test.yml');
const TOOLS: Record<string, string> = { promtool: 'prometheus', amtool: 'prometheus-alertmanager' };

interface Run {
  code: number;
  stdout: string;
  /** stdout and stderr. */
  output: string;
}

/** Runs a tool without a shell; a missing tool is an error that says how to install it. */
function run(tool: 'promtool' | 'amtool', args: string[]): Promise<Run> {
  const bin = process.env[`${tool.toUpperCase()}_BIN`] ?? `/usr/bin/${tool}`;
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      // err.code: the exit status, or a string when the tool could not be run at all.
      const code = (err as { code?: number | string } | null)?.code;
      if (code === 'ENOENT' || code === 'EACCES') {
        reject(new Error(`${bin} is missing (${code}): run \`bash scripts/install.sh\`, which installs the Debian package ${TOOLS[tool]}`));
        return;
      }
      resolve({ code: err ? (typeof code === 'number' ? code : -1) : 0, stdout, output: `${stdout}${stderr}` });
    });
  });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rbt-alert-rules-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('promtool check rules: the four rollback triggers are valid alerting rules', async () => {
  const r = await run('promtool', ['check', 'rules', ALERT_RULES_FILE]);
  expect(r).toMatchObject({ code: 0, output: expect.stringContaining('SUCCESS: 4 rules found') });
});

test('promtool test rules: each trigger fires only after its for:, and not below its threshold', async () => {
  const r = await run('promtool', ['test', 'rules', RULE_TESTS]);
  expect(r.output).toContain('SUCCESS');
  expect(r.output).not.toContain('FAILED');
  expect(r).toMatchObject({ code: 0 });
});

test("promtool check config: the stack's rendered Prometheus config (with the rules) is valid", async () => {
  const conf = path.join(dir, 'prometheus.yml');
  writeFileSync(
    conf,
    prometheusConfig({ demo: '127.0.0.1:58080', worker: '127.0.0.1:59464', alertmanager: '127.0.0.1:59093', rulesFile: ALERT_RULES_FILE, interval: '5s' }),
  );
  const r = await run('promtool', ['check', 'config', conf]);
  expect(r).toMatchObject({ code: 0, output: expect.stringMatching(/SUCCESS: .*prometheus\.yml is valid prometheus config file syntax/) });
  expect(r.output).toContain('SUCCESS: 4 rules found');
});

test('amtool: rollback alerts go to the runbook API webhook, every other alert to the null receiver', async () => {
  const conf = path.join(dir, 'alertmanager.yml');
  const tokenFile = path.join(dir, 'api-token');
  writeFileSync(tokenFile, 'a-token-for-the-check', { mode: 0o600 });
  writeFileSync(conf, alertmanagerConfig({ webhookUrl: 'http://127.0.0.1:58090/alertmanager/webhook', tokenFile }));
  const check = await run('amtool', ['check-config', conf]);
  expect(check).toMatchObject({ code: 0, output: expect.stringContaining('SUCCESS') });
  expect(check.output).toMatch(/- 2 receivers/);

  const route = (labels: string[]) => run('amtool', ['config', 'routes', 'test', `--config.file=${conf}`, ...labels]);
  expect((await route(['alertname=ReportsErrorRateHigh', 'service=reports', 'runbook_action=rollback'])).stdout.trim()).toBe('runbook-api');
  expect((await route(['alertname=ReportsErrorRateHigh', 'service=reports'])).stdout.trim()).toBe('null');
  expect((await route(['alertname=Other', 'runbook_action=page'])).stdout.trim()).toBe('null');
});
