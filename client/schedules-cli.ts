// The schedules CLI: npm run schedules -- <command>. The declarations live in temporal-config/schedules/
// declarations.ts. Connection: the same profile as the worker and the runbook CLI (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, TLS/API key), or --address/--namespace/--task-queue.
import { Command, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { temporalProfile } from '../temporal-config/connection';
import { applyPlan, formatPlan, planSchedules, ScheduleDeclarationError, validateSchedules, type ValidatedSchedules } from '../temporal-config/schedules/apply';
import { SCHEDULES } from '../temporal-config/schedules/declarations';
import {
  backfillSchedule,
  listSchedules,
  pauseSchedule,
  ScheduleCommandError,
  triggerSchedule,
  unpauseSchedule,
  type ScheduleRow,
} from '../temporal-config/schedules/operate';
import { OVERLAP_POLICIES } from '../temporal-config/schedules/schema';
import { connectClient } from './runbooks';

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('schedules')
  .description('the seed routines as Temporal Schedules: apply the declarations, see what runs when, steer them')
  .option('--address <host:port>', 'Temporal frontend (default TEMPORAL_ADDRESS or 127.0.0.1:7233)')
  .option('--namespace <name>', 'namespace (default TEMPORAL_NAMESPACE or runbooks)')
  .option('--task-queue <name>', 'task queue of the runbook worker (default TEMPORAL_TASK_QUEUE or runbooks)')
  .showHelpAfterError();

let client: Client | undefined;
function profile() {
  const o = program.opts<{ address?: string; namespace?: string; taskQueue?: string }>();
  return temporalProfile({
    ...process.env,
    ...(o.address ? { TEMPORAL_ADDRESS: o.address } : {}),
    ...(o.namespace ? { TEMPORAL_NAMESPACE: o.namespace } : {}),
    ...(o.taskQueue ? { TEMPORAL_TASK_QUEUE: o.taskQueue } : {}),
  });
}
async function getClient(): Promise<Client> {
  client ??= await connectClient(profile());
  return client;
}
/** Validated before any connection is made: bad declarations never reach the server. */
const declared = (): ValidatedSchedules => validateSchedules(SCHEDULES, profile().taskQueue);

program
  .command('apply')
  .description('make the server match the declarations: create, update what changed, delete what is gone')
  .option('--dry-run', 'print the diff; change nothing')
  .action(async (opts: { dryRun?: boolean }) => {
    const v = declared();
    const plan = await planSchedules(await getClient(), v);
    for (const line of formatPlan(plan)) console.log(line);
    const count = (k: string) => plan.changes.filter((c) => c.kind === k).length;
    const summary = `${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete, ${count('unchanged')} unchanged, ${count('waiting')} waiting for their runbook`;
    if (opts.dryRun) {
      console.log(`dry run: ${summary}; nothing changed`);
    } else {
      const { applied, conflicts } = await applyPlan(await getClient(), plan);
      console.log(`applied ${applied.length} change(s) (${summary}) in namespace ${profile().namespace}`);
      if (conflicts.length) {
        console.error(`refused: ${conflicts.length} schedule id(s) belong to someone else: ${conflicts.map((c) => c.scheduleId).join(', ')}`);
        process.exitCode = 2;
      }
    }
  });

function printRows(rows: ScheduleRow[]): void {
  const w = Math.max(...rows.map((r) => r.scheduleId.length), 10);
  console.log(`${'SCHEDULE'.padEnd(w)}  ${'STATE'.padEnd(8)} ${'RUNBOOK'.padEnd(20)} ${'WHEN (UTC)'.padEnd(34)} NEXT RUN              LAST RUN`);
  for (const r of rows) {
    const last = r.last ? `${r.last.scheduledAt.slice(0, 16)}Z ${r.last.status}` : r.state === 'waiting' ? `waits for ${r.waitingFor}` : '-';
    const next = r.nextRuns[0] ? `${r.nextRuns[0].slice(0, 16)}Z` : '-';
    console.log(`${r.scheduleId.padEnd(w)}  ${r.state.padEnd(8)} ${r.runbook.padEnd(20)} ${r.when.padEnd(34)} ${next.padEnd(21)} ${last}`);
    if (r.note && r.state === 'paused') console.log(`${''.padEnd(w)}  note: ${r.note}`);
    if (r.running.length) console.log(`${''.padEnd(w)}  running now: ${r.running.join(', ')}`);
  }
}

program
  .command('list')
  .description('what runs when: state, next run, last run and how it ended; routines waiting for their runbook')
  .option('--json', 'machine-readable')
  .option('--seeds', 'also print the seed each schedule comes from')
  .action(async (opts: { json?: boolean; seeds?: boolean }) => {
    const rows = await listSchedules(await getClient(), declared());
    if (opts.json) return console.log(JSON.stringify(rows, null, 2));
    printRows(rows);
    if (opts.seeds) for (const r of rows) console.log(`  ${r.scheduleId}: ${r.seed}`);
  });

program
  .command('pause <schedule>')
  .description('pause a schedule (no runs start until unpaused); the note says why')
  .requiredOption('--note <text>', 'why, shown in `list` and the Web UI')
  .option('--as <person>', 'who you are (default RUNBOOK_USER or OS user)')
  .action(async (id: string, o: { note: string; as?: string }) => {
    console.log(`${id}: ${await pauseSchedule(await getClient(), declared(), id, o.note, o.as)}`);
  });

program
  .command('unpause <schedule>')
  .description('unpause a schedule')
  .requiredOption('--note <text>', 'why, shown in `list` and the Web UI')
  .option('--as <person>')
  .action(async (id: string, o: { note: string; as?: string }) => {
    console.log(`${id}: ${await unpauseSchedule(await getClient(), declared(), id, o.note, o.as)}`);
  });

program
  .command('trigger <schedule>')
  .description("start the schedule's runbook now, under its overlap policy")
  .action(async (id: string) => {
    await triggerSchedule(await getClient(), declared(), id);
    console.log(`${id}: triggered; see npm run schedules -- list, or npm run runbook -- list`);
  });

program
  .command('backfill <schedule>')
  .description('take the runs the schedule would have taken in a past time range (e.g. missed during an outage)')
  .requiredOption('--from <iso>', 'start of the range, e.g. 2026-11-22T00:00:00Z')
  .requiredOption('--to <iso>', 'end of the range (not in the future)')
  .addOption(new Option('--overlap <policy>', "overlap policy for the backfilled runs (default: the schedule's)").choices([...OVERLAP_POLICIES]))
  .action(async (id: string, o: { from: string; to: string; overlap?: (typeof OVERLAP_POLICIES)[number] }) => {
    const r = await backfillSchedule(await getClient(), declared(), id, o);
    console.log(`${id}: backfilling ${r.from.toISOString()} .. ${r.to.toISOString()} (overlap ${r.overlap})`);
  });

program
  .parseAsync()
  .then(() => client?.connection.close())
  .catch((err: Error) => {
    const known = err instanceof ScheduleDeclarationError || err instanceof ScheduleCommandError;
    console.error(`${known ? 'refused' : 'error'}: ${err.message}`);
    process.exit(known ? 2 : 1);
  });
