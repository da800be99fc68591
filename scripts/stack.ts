// npm start / npm stop / npm run status: the local stack (the embedded default).
//   up            start what is missing, print where everything is, follow the worker log; Ctrl-C stops all
//   up --detach   the same, then return (stop later with npm stop)
//   up --platform kubernetes   (or RUNBOOK_PLATFORM=kubernetes) also the local Kubernetes plane, and the
//                 runbooks act on the demo service's objects there (config/kubernetes.json); default local
//   down          stop everything this project started
//   status        what is running where
import { existsSync, readFileSync, statSync } from 'node:fs';
import { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { RUNBOOKS } from '../client/registry';
import { DEFAULT_NAMESPACE, DEFAULT_TASK_QUEUE } from '../temporal-config/connection';
import { applySchedules, describeWhen } from '../temporal-config/schedules/apply';
import { SCHEDULES } from '../temporal-config/schedules/declarations';
import { configFile, readSelection, writeSelection } from '../config/load';
import { API_URL, KUBECONFIG, KUBECTL } from './k8s/plane';
import { ORDER, STACK, components, ensure, startCommand, stop } from './stack/components';
import { DEMO_NAMESPACE } from './stack/components/kubernetes';
import { HOST, PORTS, shownPath } from './stack/paths';
import { choosePlatform, PLATFORMS, type PlatformName } from './stack/platform';
import { logFile, readPid } from './stack/process';

const c = {
  bold: (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s),
  dim: (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s),
  green: (s: string) => (process.stdout.isTTY ? `\x1b[32m${s}\x1b[0m` : s),
};

function platformLines(platform: PlatformName): string[] {
  const config = `  Config             ${shownPath(configFile())}   (platform ${platform}; the worker, the API and later npm run commands use it until the next npm start)`;
  if (platform !== 'kubernetes') return [config];
  return [
    config,
    `  Kubernetes         ${API_URL}   namespace ${DEMO_NAMESPACE} (Deployments reports, reports-worker, reports-maintenance; Service reports); kubeconfig ${shownPath(KUBECONFIG)}`,
    `                     ${shownPath(KUBECTL)} --kubeconfig ${shownPath(KUBECONFIG)} -n ${DEMO_NAMESPACE} get deploy`,
  ];
}

function banner(platform: PlatformName): string {
  const ui = `http://${HOST}:${PORTS.temporalUi}`;
  return [
    '',
    c.bold('Runbook stack is up'),
    `  Temporal Web UI    ${ui}/namespaces/runbooks/workflows`,
    `  Temporal frontend  ${HOST}:${PORTS.temporal}   namespace runbooks, task queue runbooks`,
    `  Worker metrics     http://${HOST}:${PORTS.workerMetrics}/metrics`,
    `  Demo service       http://${HOST}:${PORTS.demo}/health`,
    `  HTTP API           http://${HOST}:${PORTS.api}   OpenAPI /openapi.json; tokens in .data/secrets.env (API_TOKEN_BOB operator, _ALICE approver, _DAVE admin, _ALERTMANAGER the webhook)`,
    `  Prometheus         http://${HOST}:${PORTS.prometheus}   alerts /classic/alerts; rollback triggers in temporal-config/prometheus/alert-rules.yml`,
    `  Alertmanager       http://${HOST}:${PORTS.alertmanager}   rollback alerts -> http://${HOST}:${PORTS.api}/alertmanager/webhook`,
    `  PostgreSQL         ${HOST}:${PORTS.postgres}   databases reports, runbooks (password in .data/secrets.env)`,
    `  Redis              ${HOST}:${PORTS.redis}`,
    `  MongoDB (FerretDB) ${HOST}:${PORTS.ferretdb}`,
    `  S3 (versitygw)     http://${HOST}:${PORTS.s3}   bucket runbook-backups (S3_ACCESS_KEY/S3_SECRET_KEY in .data/secrets.env)`,
    `  Mail sink          smtp://${HOST}:${PORTS.mailSmtp}   what notifications sent: http://${HOST}:${PORTS.mailHttp}/messages (email), /hooks (Slack, PagerDuty, webhook)`,
    `  TLS front (nginx)  https://localhost:${PORTS.tls}   -> demo service; CA .data/tls/ca/ca.crt (curl --cacert .data/tls/ca/ca.crt https://localhost:${PORTS.tls}/health)`,
    ...platformLines(platform),
    `  Logs               .data/logs/`,
    '',
    c.bold('Runbooks (npm run runbook -- runbooks)'),
    ...RUNBOOKS.flatMap((r) => [
      `  ${c.bold(r.name)}: ${r.summary}`,
      `    CLI:  npm run runbook -- start ${r.name} --example`,
      `    UI:   ${ui}/namespaces/runbooks/workflows/start-workflow  Task Queue: runbooks  Workflow Type: ${r.workflowType}`,
      `          Input: ${JSON.stringify(r.example())}`,
    ]),
    '',
    c.bold('Approve a run waiting at its gate'),
    `  CLI:  npm run runbook -- inbox --as alice; npm run runbook -- approve <workflow-id> --as alice`,
    `  UI:   the run's page > More Actions > Send a Signal > approveFromUi > {"approver":"alice","decision":"approve"}`,
    '',
  ].join('\n');
}

/** The seed routines as Temporal Schedules on the local server (npm run schedules -- apply does the same). */
async function applyLocalSchedules(): Promise<string[]> {
  const connection = await Connection.connect({ address: `${HOST}:${PORTS.temporal}` });
  try {
    const { plan, report } = await applySchedules(new Client({ connection, namespace: DEFAULT_NAMESPACE }), SCHEDULES, DEFAULT_TASK_QUEUE);
    const waiting = plan.changes.filter((x) => x.kind === 'waiting').length;
    return [
      c.bold('Schedules (npm run schedules -- list)'),
      `  applied ${report.applied.length} change(s); ${plan.wired.size} scheduled, ${waiting} waiting for their runbook; UI: http://${HOST}:${PORTS.temporalUi}/namespaces/${DEFAULT_NAMESPACE}/schedules`,
      ...[...plan.wired.values()].map((w, _, all) => {
        const width = Math.max(...all.map((x) => describeWhen(x.decl).length));
        return `  ${w.scheduleId.padEnd(24)} ${describeWhen(w.decl).padEnd(width)}  ${w.decl.runbook}`;
      }),
      ...report.conflicts.map((x) => `  refused ${x.scheduleId}: ${x.detail}`),
      '',
    ];
  } finally {
    await connection.close();
  }
}

async function up(opts: { detach?: boolean; platform?: string }): Promise<void> {
  const platform = choosePlatform(opts.platform);
  const t0 = Date.now();
  const workerLog = logFile('worker');
  // Follow the worker log from here on: this start's lines, not earlier runs'.
  let offset = existsSync(workerLog) ? statSync(workerLog).size : 0;
  // Recorded first: the worker and the API started below read it (RUNBOOK_CONFIG, if set, still wins).
  writeSelection({ platform, config: process.env.RUNBOOK_CONFIG ?? PLATFORMS[platform].config });
  console.log(c.bold(`Starting the runbook stack (platform ${platform}, config ${shownPath(configFile())})`));
  const reports = await ensure([...STACK, ...PLATFORMS[platform].components], (r) => {
    console.log(`  ${r.state === 'started' ? c.green('started') : 'reused '} ${r.name.padEnd(12)} ${r.address} ${c.dim(`${(r.ms / 1000).toFixed(1)}s`)}`);
    if (r.note) console.log(`               ${r.note}`);
  });
  console.log(c.dim(`  ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`));
  console.log(banner(platform));
  try {
    console.log((await applyLocalSchedules()).join('\n'));
  } catch (err) {
    console.log(`Schedules NOT applied: ${(err as Error).message}\n  fix temporal-config/schedules/declarations.ts, then: npm run schedules -- apply\n`);
  }
  if (opts.detach) {
    console.log('Running in the background. Stop it with: npm stop');
    return;
  }
  console.log(c.dim('Following the worker log. Ctrl-C stops what this start started.\n'));
  const file = workerLog;
  const follow = setInterval(() => {
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size > offset) {
      process.stdout.write(readFileSync(file).subarray(offset, size).toString('utf8'));
      offset = size;
    }
  }, 500);
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(follow);
    // Stop what this start started; servers it found running (a detached stack) are someone else's.
    const started = reports.filter((r) => r.state === 'started').map((r) => r.name);
    const reused = reports.filter((r) => r.state === 'reused').map((r) => r.name);
    console.log('\nStopping the runbook stack (state is kept in .data/)');
    void stop(started, (name, how) => console.log(`  ${how.padEnd(11)} ${name}`)).then(() => {
      if (reused.length) console.log(`  left running (they were up before this start; npm stop stops them): ${reused.join(', ')}`);
      process.exit(0);
    });
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

async function down(): Promise<void> {
  await stop(ORDER, (name, how) => console.log(`  ${how.padEnd(11)} ${name}`));
}

async function status(): Promise<void> {
  const all = components();
  const sel = readSelection();
  console.log(`  config ${shownPath(configFile())}${sel ? ` (platform ${sel.platform}, as the last npm start selected)` : ''}`);
  for (const name of ORDER) {
    const pid = readPid(name);
    const ready = await all[name].ready().catch(() => false);
    const state = ready ? c.green('up  ') : 'down';
    const how = startCommand(name);
    const where = !ready && how ? `stopped; start it with: ${how}` : all[name].address;
    console.log(`  ${state} ${name.padEnd(12)} ${where}${pid ? c.dim(` pid ${pid}`) : ''}`);
  }
}

const program = new Command('stack').description('the local runbook stack');
program
  .command('up')
  .option('--detach', 'start and return')
  .option('--platform <name>', `what the demo service runs on: ${Object.keys(PLATFORMS).join(' or ')} (default RUNBOOK_PLATFORM, else local)`)
  .action(up);
program.command('down').action(down);
program.command('status').action(status);
program.parseAsync().catch((err: Error) => {
  console.error(`\n${err.message}`);
  process.exit(1);
});
