// The runbook CLI: npm run runbook -- <command>. Uses the same connection profile as the worker
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, TLS/API key for production clusters).
// Identity: --as, else RUNBOOK_USER, else the OS user. The CLI trusts whoever may reach the cluster;
// the approval gate still refuses self-approval, unknown people and roles outside the policy.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { temporalProfile } from '../temporal-config/connection';
import { RunbookStatus } from '../common/search-attributes';
import type { RunbookResult } from '../workflows/lib/result';
import { RUNBOOKS, runbookByName, runbookByType, UnknownRunbookError } from './registry';
import { castVote, connectClient, describeRun, InputError, startRunbookRun, VoteRefusedError } from './runbooks';

// Output piped into `head` or `grep -m1` closes early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const profile = temporalProfile();
const uiBase = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
const runUrl = (id: string): string => `${uiBase}/namespaces/${profile.namespace}/workflows/${encodeURIComponent(id)}`;
const me = (): string => process.env.RUNBOOK_USER ?? userInfo().username;

const MARK: Record<string, string> = { pending: '·', running: '▶', done: '✓', skipped: '–', failed: '✗' };

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

async function start(name: string, opts: { example?: boolean; input?: string; id?: string; as?: string; dryRun?: boolean; wait?: boolean }): Promise<void> {
  const entry = runbookByName(name);
  if (!opts.example && !opts.input) throw new InputError(`give --input <file.json|-> or --example (see: npm run runbook -- example ${name})`);
  const input = (opts.input ? readInput(opts.input) : entry.example()) as Record<string, unknown>;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InputError('the input must be a JSON object');
  if (opts.as) input.requestedBy = opts.as;
  else if (opts.example && process.env.RUNBOOK_USER) input.requestedBy = process.env.RUNBOOK_USER;
  if (opts.dryRun) input.dryRun = true;
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

async function status(workflowId: string): Promise<void> {
  const d = await describeRun(await getClient(), workflowId);
  console.log(`${d.workflowId}  ${d.type}  execution ${d.status}`);
  if (d.progress)
    console.log(`  ${d.progress.status}: ${d.progress.message}  (${d.progress.stepsDone}/${d.progress.stepsTotal} steps, ${d.progress.percent}%)`);
  for (const s of d.plan ?? []) console.log(`  ${MARK[s.status] ?? '?'} ${s.title}${s.detail ? `  — ${s.detail}` : ''}`);
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
  .action(start);
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
  .command('list')
  .description('recent runbook runs')
  .option('--status <status>', 'e.g. awaiting-approval')
  .option('--limit <n>', 'at most n', '20')
  .action(list);

program
  .parseAsync()
  .then(() => client?.connection.close())
  .catch((err: Error) => {
    const known = err instanceof InputError || err instanceof VoteRefusedError || err instanceof UnknownRunbookError;
    console.error(`${known ? 'refused' : 'error'}: ${err.message}`);
    process.exit(known ? 2 : 1);
  });
