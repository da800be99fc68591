// The runbook CLI: npm run runbook -- <command>. Uses the same connection profile as the worker
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, TLS/API key for production clusters).
// Identity: --as, else RUNBOOK_USER, else the OS user. The CLI trusts whoever may reach the cluster;
// the approval gate still refuses self-approval, unknown people and roles outside the policy.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { temporalProfile } from '../temporal-config/connection';
import { RunbookStatus } from '../temporal-config/search-attributes';
import { exampleMaintenanceInput, type MaintenanceWindowInput, type MaintenanceWindowResult } from '../workflows/maintenance-window.input';
import { castVote, connectClient, describeRun, InputError, startMaintenanceWindow, VoteRefusedError } from './runbooks';

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

async function startMaintenance(opts: { example?: boolean; input?: string; id?: string; as?: string; dryRun?: boolean }): Promise<void> {
  if (!opts.example && !opts.input) throw new InputError('give --input <file.json|-> or --example');
  const input = (opts.input ? readInput(opts.input) : exampleMaintenanceInput()) as MaintenanceWindowInput;
  if (opts.as) input.requestedBy = opts.as;
  else if (opts.example) input.requestedBy = process.env.RUNBOOK_USER ?? input.requestedBy;
  if (opts.dryRun) input.dryRun = true;
  const handle = await startMaintenanceWindow(await getClient(), input, { taskQueue: profile.taskQueue, ...(opts.id ? { workflowId: opts.id } : {}) });
  console.log(`started ${handle.workflowId}`);
  console.log(`  web UI:  ${runUrl(handle.workflowId)}`);
  console.log(`  status:  npm run runbook -- status ${handle.workflowId}`);
  if (!input.dryRun) console.log(`  approve: npm run runbook -- approve ${handle.workflowId} --as <approver>`);
  else printResult(await handle.result());
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
  if (d.progress) console.log(`  ${d.progress.status}: ${d.progress.message}  (${d.progress.stepsDone}/${d.progress.stepsTotal} steps, ${d.progress.percent}%)`);
  for (const s of d.plan ?? []) console.log(`  ${MARK[s.status] ?? '?'} ${s.title}${s.detail ? `  — ${s.detail}` : ''}`);
  const a = d.approvals;
  if (a && a.status !== 'not-requested') {
    console.log(`  approval: ${a.status}${a.deadline ? `, deadline ${a.deadline}` : ''}; eligible: ${Object.keys(a.eligible).filter((p) => p !== a.requestedBy).join(', ')}`);
    for (const v of a.votes) console.log(`    ${v.decision} by ${v.approver} at ${v.at} via ${v.via}${v.comment ? `: ${v.comment}` : ''}`);
    for (const r of a.refused) console.log(`    refused ${r.decision} by ${r.approver} at ${r.at}: ${r.reason}`);
  }
  console.log(`  ${runUrl(workflowId)}`);
}

function printResult(r: MaintenanceWindowResult): void {
  console.log(`outcome: ${r.outcome}`);
  console.log(`  ${r.reason}`);
  for (const t of r.tasks) console.log(`  ${MARK[t.status === 'not-run' ? 'pending' : t.status]} ${t.description}${t.durationMs !== undefined ? ` (${t.durationMs}ms)` : ''}`);
  if (r.backup) console.log(`  backup: ${r.backup.file} (${r.backup.bytes} bytes, ${r.backup.tables} tables)`);
  for (const w of r.warnings) console.log(`  warning: ${w}`);
}

async function result(workflowId: string): Promise<void> {
  printResult((await (await getClient()).workflow.getHandle(workflowId).result()) as MaintenanceWindowResult);
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
const start = program.command('start').description('start a runbook');
start
  .command('maintenance-window')
  .description('planned maintenance: backup, drain, tasks, verify, monitor — after approval')
  .addOption(new Option('--input <file>', 'input JSON file, or - for stdin').conflicts('example'))
  .option('--example', 'use the example input (the demo reports service, a window starting now)')
  .option('--id <workflowId>', 'workflow id (default maintenance-<service>-<time>-<rand>)')
  .option('--as <person>', 'requester (default: RUNBOOK_USER, or the input\'s requestedBy)')
  .option('--dry-run', 'validate and print the plan; change nothing')
  .action(startMaintenance);
program.command('approve <workflowId>').description('approve a run waiting at its approval gate').option('--as <person>', 'who you are (default RUNBOOK_USER or OS user)').option('--comment <text>').action((id: string, o: { as?: string; comment?: string }) => vote('approve', id, o));
program.command('reject <workflowId>').description('reject a run (its requester may withdraw it this way)').option('--as <person>').option('--comment <text>').action((id: string, o: { as?: string; comment?: string }) => vote('reject', id, o));
program.command('status <workflowId>').description('progress, plan and approvals of a run').action(status);
program.command('result <workflowId>').description('wait for a run to end and print its outcome').action(result);
program.command('list').description('recent runbook runs').option('--status <status>', 'e.g. awaiting-approval').option('--limit <n>', 'at most n', '20').action(list);

program
  .parseAsync()
  .then(() => client?.connection.close())
  .catch((err: Error) => {
    const known = err instanceof InputError || err instanceof VoteRefusedError;
    console.error(`${known ? 'refused' : 'error'}: ${err.message}`);
    process.exit(known ? 2 : 1);
  });
