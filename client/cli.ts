// The runbook CLI: npm run runbook -- <command>. Uses the same connection profile as the worker
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, TLS/API key for production clusters).
// Identity: --as, else RUNBOOK_USER, else the OS user. The CLI trusts whoever may reach the cluster;
// the approval gate still refuses self-approval, unknown people and roles outside the policy.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { temporalProfile } from '../temporal-config/connection';
import { parseDuration } from '../common/duration';
import { RunbookStatus } from '../common/search-attributes';
import { describeChange, STEP_MARK } from '../workflows/lib/details';
import type { RunbookResult } from '../workflows/lib/result';
import { inbox, timeLeft } from './inbox';
import { IncidentArgsError, IncidentRefusedError, sendIncidentMessage, type IncidentMessage } from './incidents';
import { RUNBOOKS, runbookByName, runbookByType, UnknownRunbookError } from './registry';
import { castVote, connectClient, describeRun, InputError, startRunbookRun, VoteRefusedError, watchRun } from './runbooks';

// Output piped into `head` or `grep -m1` closes early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const profile = temporalProfile();
const uiBase = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
const runUrl = (id: string): string => `${uiBase}/namespaces/${profile.namespace}/workflows/${encodeURIComponent(id)}`;
const me = (): string => process.env.RUNBOOK_USER ?? userInfo().username;

let client: Client | undefined;
async function getClient(): Promise<Client> {
  client ??= await connectClient(profile);
  return client;
}

function readInput(file: string): unknown {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file === '-' ? 'standard input' : file} is not valid JSON: ${(err as Error).message}`);
  }
}

async function start(
  name: string,
  opts: { example?: boolean; input?: string; id?: string; as?: string; dryRun?: boolean; wait?: boolean; incident?: string },
): Promise<void> {
  const entry = runbookByName(name);
  if (!opts.example && !opts.input) throw new InputError(`give --input <file.json|-> or --example (see: npm run runbook -- example ${name})`);
  const input = (opts.input ? readInput(opts.input) : entry.example()) as Record<string, unknown>;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InputError('the input must be a JSON object');
  if (opts.as) input.requestedBy = opts.as;
  else if (opts.example && process.env.RUNBOOK_USER) input.requestedBy = process.env.RUNBOOK_USER;
  if (opts.dryRun) input.dryRun = true;
  if (opts.incident) input.incident = opts.incident;
  const run = await startRunbookRun(await getClient(), entry, input, { taskQueue: profile.taskQueue, ...(opts.id ? { workflowId: opts.id } : {}) });
  const handle = run.handle;
  if (run.created) console.log(`started ${handle.workflowId}  (${entry.workflowType})`);
  else
    console.log(
      `joined ${handle.workflowId}  (${entry.workflowType}): the same was started less than ${entry.dedupe ? Math.round(entry.dedupe.windowMs / 60_000) : '?'} min ago`,
    );
  console.log(`  web UI:  ${runUrl(handle.workflowId)}`);
  console.log(`  status:  npm run runbook -- status ${handle.workflowId}`);
  console.log(`  approve: npm run runbook -- approve ${handle.workflowId} --as <approver>   (when it waits at an approval gate)`);
  if (input.dryRun || opts.wait) printResult(await handle.result());
}

async function vote(decision: 'approve' | 'reject', workflowId: string, opts: { as?: string; comment?: string }): Promise<void> {
  const approver = opts.as ?? me();
  const state = await castVote(await getClient(), workflowId, { approver, decision, ...(opts.comment ? { comment: opts.comment } : {}) });
  const approvals = state.votes.filter((v) => v.decision === 'approve').length;
  console.log(`${approver} voted ${decision}: the gate is ${state.status} (${approvals} of ${state.policy.quorum} approvals)`);
  if (state.status === 'rejected' && state.reason) console.log(`  ${state.reason}`);
}

async function incidentMessage(workflowId: string, m: IncidentMessage): Promise<void> {
  const state = await sendIncidentMessage(await getClient(), workflowId, m);
  const what = { acknowledge: 'acknowledged', status: 'status update posted', resolve: 'resolved' }[m.kind];
  if (m.kind === 'acknowledge' && state?.acknowledgedBy && state.acknowledgedBy !== m.args.by)
    console.log(`${workflowId}: already acknowledged by ${state.acknowledgedBy}; nothing changed`);
  else console.log(`${workflowId}: ${what} by ${m.args.by}`);
  if (state)
    console.log(
      `  incident ${state.status}; ${state.acknowledgedBy ? `acknowledged by ${state.acknowledgedBy}` : 'unacknowledged'}` +
        `${state.escalatedTo.length ? `; escalated to ${state.escalatedTo.join(', ')}` : ''}; ${state.timeline.length} timeline event(s)`,
    );
  if (m.kind === 'resolve') console.log(`  report: npm run runbook -- result ${workflowId}`);
}

async function status(workflowId: string): Promise<void> {
  const d = await describeRun(await getClient(), workflowId);
  console.log(`${d.workflowId}  ${d.type}  execution ${d.status}`);
  if (d.progress)
    console.log(`  ${d.progress.status}: ${d.progress.message}  (${d.progress.stepsDone}/${d.progress.stepsTotal} steps, ${d.progress.percent}%)`);
  for (const s of d.plan ?? []) console.log(`  ${STEP_MARK[s.status] ?? '?'} ${s.title}${s.detail ? `  — ${s.detail}` : ''}`);
  const a = d.approvals;
  if (a && a.status !== 'not-requested') {
    console.log(
      `  approval: ${a.status}${a.deadline ? `, deadline ${a.deadline}` : ''}; eligible: ${Object.keys(a.eligible)
        .filter((p) => p !== a.requestedBy)
        .join(', ')}`,
    );
    for (const v of a.votes) console.log(`    ${v.decision} by ${v.approver} at ${v.at} via ${v.via}${v.comment ? `: ${v.comment}` : ''}`);
    for (const r of a.refused) console.log(`    refused ${r.decision} by ${r.approver} at ${r.at}: ${r.reason}`);
  }
  console.log(`  ${runUrl(workflowId)}`);
}

function printResult(r: RunbookResult): void {
  console.log(`outcome: ${r.outcome}`);
  console.log(`  ${r.reason}`);
  if (r.outcome === 'dry-run') for (const [i, st] of r.plan.entries()) console.log(`  ${i + 1}. ${st.title}`);
  for (const line of runbookByType(r.runbook)?.summarize(r) ?? []) console.log(`  ${line}`);
  for (const c of r.compensations) console.log(`  undo ${c.name}: ${c.ok ? 'ok' : `FAILED (${c.error})`}`);
  for (const w of r.warnings) console.log(`  warning: ${w}`);
}

async function result(workflowId: string): Promise<void> {
  printResult((await (await getClient()).workflow.getHandle(workflowId).result()) as RunbookResult);
}

async function showInbox(opts: { as?: string; json?: boolean; limit: string }): Promise<void> {
  const person = opts.as ?? me();
  const box = await inbox(await getClient(), person, { runUrl, limit: Number(opts.limit) });
  if (opts.json) {
    console.log(JSON.stringify(box, null, 2));
    return;
  }
  if (!box.items.length) console.log(`nothing waits for ${person}`);
  else console.log(`${box.items.length} run(s) wait for ${person} to decide:`);
  for (const i of box.items) {
    const votes = i.votes.map((v) => `${v.approver} ${v.decision}`).join(', ');
    console.log('');
    console.log(`${i.workflowId}`);
    console.log(`  ${i.name ?? i.runbook} on ${i.target ?? '?'}, requested by ${i.requestedBy}; you may decide as ${i.yourRoles.join(', ')}`);
    console.log(`  votes:    ${i.approvals} of ${i.quorum} approval(s)${votes ? ` (${votes})` : ', none yet'}`);
    if (i.deadline) console.log(`  deadline: ${i.deadline}${i.msLeft !== undefined ? ` (${timeLeft(i.msLeft)}${i.msLeft > 0 ? ' left' : ''})` : ''}`);
    console.log(`  after approval it will:`);
    for (const t of i.next) console.log(`    · ${t}`);
    console.log(`  approve:  ${i.approve}`);
    console.log(`  reject:   ${i.reject}`);
    console.log(`  web UI:   ${i.url}`);
  }
  if (box.unreadable.length) console.log('');
  for (const u of box.unreadable) console.log(`could not ask ${u.workflowId}, which waits at its gate (it may wait for ${person} too): ${u.error}`);
}

async function watch(workflowId: string, opts: { interval: string }): Promise<void> {
  const text = opts.interval.trim();
  const intervalMs = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : parseDuration(text);
  if (intervalMs === undefined || intervalMs < 200 || intervalMs > 3_600_000)
    throw new InputError(`--interval must be a duration from 200ms to 1h, such as 1s or 500ms (a bare number is seconds), not "${opts.interval}"`);
  console.log(`watching ${workflowId} every ${intervalMs}ms (Ctrl-C stops watching, not the run)`);
  console.log(`  ${runUrl(workflowId)}`);
  const end = await watchRun(await getClient(), workflowId, {
    intervalMs,
    onChange: (c) => {
      if (c.kind === 'outcome') return;
      const time = new Date().toISOString().slice(11, 19);
      for (const [n, line] of describeChange(c).entries()) console.log(`${n ? ' '.repeat(time.length) : time} ${line}`);
    },
  });
  if (end.result) printResult(end.result);
  else {
    console.log(`outcome: ${end.outcome}`);
    console.log(`  ${end.reason}`);
  }
  process.exitCode = end.ok ? 0 : 1;
}

function listRunbooks(): void {
  for (const r of RUNBOOKS) console.log(`${r.name.padEnd(20)} ${r.workflowType.padEnd(20)} ${r.summary}`);
}

function example(name: string): void {
  console.log(JSON.stringify(runbookByName(name).example(), null, 2));
}

async function list(opts: { status?: string; limit: string }): Promise<void> {
  const q = opts.status ? `RunbookStatus = "${opts.status.replace(/[^a-z-]/g, '')}"` : 'RunbookType IS NOT NULL';
  let n = 0;
  // Newest first is the default order; some visibility stores (SQLite) refuse ORDER BY.
  for await (const w of (await getClient()).workflow.list({ query: q })) {
    const state = w.typedSearchAttributes.get(RunbookStatus) ?? w.status.name;
    console.log(`${w.workflowId.padEnd(48)} ${w.type.padEnd(18)} ${state.padEnd(24)} ${w.startTime.toISOString()}`);
    if (++n >= Number(opts.limit)) break;
  }
  if (n === 0) console.log('no runs match');
}

const program = new Command('runbook').description('start and steer runbooks on Temporal').showHelpAfterError();
program.command('runbooks').description('the runbooks you can start').action(listRunbooks);
program.command('example <runbook>').description("print a runbook's example input (edit it, then start --input)").action(example);
program
  .command('start <runbook>')
  .description(`start a runbook (${RUNBOOKS.map((r) => r.name).join(', ')})`)
  .addOption(new Option('--input <file>', 'input JSON file, or - for stdin').conflicts('example'))
  .option('--example', 'use the example input (acts on the demo reports service of the local stack)')
  .option('--id <workflowId>', 'workflow id (default <prefix>-<target>-<time>-<rand>)')
  .option('--as <person>', "requester (default: RUNBOOK_USER, or the input's requestedBy)")
  .option('--dry-run', 'validate, resolve targets and print the plan; change nothing')
  .option('--wait', 'wait for the run to end and print its outcome')
  .option('--incident <workflowId>', 'the incident this run is part of: it records when the run begins changing things and how it ends')
  .action(start);
program
  .command('ack <incidentId>')
  .description('acknowledge an incident: its escalation stops')
  .option('--as <person>', 'who you are (default RUNBOOK_USER or OS user)')
  .option('--note <text>')
  .action((id: string, o: { as?: string; note?: string }) =>
    incidentMessage(id, { kind: 'acknowledge', args: { by: o.as ?? me(), ...(o.note ? { note: o.note } : {}) } }),
  );
program
  .command('update <incidentId>')
  .description('post an incident status update (sent with the communication template at once; repeated every updateEvery)')
  .option('--as <person>', 'who you are (default RUNBOOK_USER or OS user)')
  .requiredOption('--status <status>', 'investigating, identified or monitoring')
  .requiredOption('--text <text>', 'Current Status: what we know so far')
  .option('--next <text>', 'Next Steps')
  .option('--eta <text>', 'ETA for resolution')
  .action((id: string, o: { as?: string; status: string; text: string; next?: string; eta?: string }) =>
    incidentMessage(id, {
      kind: 'status',
      args: {
        by: o.as ?? me(),
        status: o.status as 'investigating',
        text: o.text,
        ...(o.next ? { nextSteps: o.next } : {}),
        ...(o.eta ? { eta: o.eta } : {}),
      },
    }),
  );
program
  .command('resolve <incidentId>')
  .description('resolve an incident with its root cause: the resolve message goes out and the post-incident report is written')
  .option('--as <person>', 'who you are (default RUNBOOK_USER or OS user)')
  .requiredOption('--root-cause <text>')
  .option('--resolution <text>')
  .action((id: string, o: { as?: string; rootCause: string; resolution?: string }) =>
    incidentMessage(id, { kind: 'resolve', args: { by: o.as ?? me(), rootCause: o.rootCause, ...(o.resolution ? { resolution: o.resolution } : {}) } }),
  );
program
  .command('approve <workflowId>')
  .description('approve a run waiting at its approval gate')
  .option('--as <person>', 'who you are (default RUNBOOK_USER or OS user)')
  .option('--comment <text>')
  .action((id: string, o: { as?: string; comment?: string }) => vote('approve', id, o));
program
  .command('reject <workflowId>')
  .description('reject a run (its requester may withdraw it this way)')
  .option('--as <person>')
  .option('--comment <text>')
  .action((id: string, o: { as?: string; comment?: string }) => vote('reject', id, o));
program.command('status <workflowId>').description('progress, plan and approvals of a run').action(status);
program.command('result <workflowId>').description('wait for a run to end and print its outcome').action(result);
program
  .command('inbox')
  .description('the runs waiting at an approval gate that you may decide now')
  .option('--as <person>', 'who you are (default RUNBOOK_USER or OS user)')
  .option('--json', 'print the inbox as JSON (for scripts)')
  .option('--limit <n>', 'ask at most n waiting runs', '200')
  .action(showInbox);
program
  .command('watch <workflowId>')
  .description("follow a run's plan live until it ends; exit code 0 when it completed successfully, 1 otherwise")
  .option('--interval <duration>', 'how often to look (e.g. 1s, 500ms)', '1s')
  .action(watch);
program
  .command('list')
  .description('recent runbook runs')
  .option('--status <status>', 'e.g. awaiting-approval')
  .option('--limit <n>', 'at most n', '20')
  .action(list);

program
  .parseAsync()
  .then(() => client?.connection.close())
  .catch((err: Error) => {
    const known =
      err instanceof InputError ||
      err instanceof VoteRefusedError ||
      err instanceof UnknownRunbookError ||
      err instanceof IncidentRefusedError ||
      err instanceof IncidentArgsError;
    console.error(`${known ? 'refused' : 'error'}: ${err.message}`);
    process.exit(known ? 2 : 1);
  });
