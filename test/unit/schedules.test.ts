// The schedule declarations as shipped, and the checks `schedules apply` makes before it connects.
import { RUNBOOKS, type RunbookEntry } from '../../client/registry';
import { formatPlan, scheduleIdOf, ScheduleDeclarationError, validateSchedules, type SchedulePlan } from '../../temporal-config/schedules/apply';
import { SCHEDULES } from '../../temporal-config/schedules/declarations';
import type { ScheduleDeclarationInput } from '../../temporal-config/schedules/schema';

const decl = (id: string): ScheduleDeclarationInput => structuredClone(SCHEDULES.find((s) => s.id === id)!);

function refusal(decls: unknown[], registry: readonly RunbookEntry[] = RUNBOOKS): string[] {
  try {
    validateSchedules(decls, 'runbooks', registry);
  } catch (err) {
    expect(err).toBeInstanceOf(ScheduleDeclarationError);
    return (err as ScheduleDeclarationError).problems;
  }
  throw new Error('the declarations were accepted');
}

test('every shipped declaration validates and is wired: each input passes its runbook schema', () => {
  const v = validateSchedules(SCHEDULES, 'runbooks');
  expect(v.wired.map((w) => [w.scheduleId, w.entry.workflowType])).toEqual([
    ['weekly-db-maintenance', 'maintenanceWindow'],
    ['monthly-db-maintenance', 'maintenanceWindow'],
    ['daily-health-check', 'healthCheck'],
    ['morning-routine', 'healthCheck'],
    ['weekly-health-check', 'healthCheck'],
    ['evening-routine', 'cacheWarm'],
    ['cache-warming', 'cacheWarm'],
    ['daily-backup', 'backup'],
    ['incremental-backup', 'backup'],
    ['weekly-restore-drill', 'restoreDrill'],
    ['quarterly-dr-drill', 'disasterRecovery'],
    ['certificate-check', 'certificateRenewal'],
    ['queue-health', 'queueRecovery'],
  ]);
  // Every 15 minutes only looks: a schedule never retries or cleans jobs by itself.
  expect(decl('queue-health').input).toMatchObject({ mode: 'check' });
  // The quarterly drill rebuilds into scratch copies: a schedule never recovers over live stores.
  expect(decl('quarterly-dr-drill').input).toMatchObject({ drill: true });
  // Certificates renew only within 30 days of expiry, and the daily checks open incidents, never fix.
  expect(decl('certificate-check').input).toMatchObject({ certificate: 'reports-tls', renewWithin: '30d' });
  expect(decl('weekly-health-check').input).toMatchObject({ profile: 'weekly' });
  expect(v.waiting).toEqual([]);
  expect(v.wired.length).toBe(SCHEDULES.length);
});

test('the seeds’ clock times are all declared, in UTC', () => {
  const when = (id: string) => decl(id).when;
  expect(when('weekly-db-maintenance')).toEqual({ cron: '0 2 8-31 * SUN' }); // 002: Sunday 02:00 (the first Sunday runs the monthly)
  expect(when('monthly-db-maintenance')).toEqual({ cron: '0 2 1-7 * SUN' }); // 002: first Sunday of month 02:00
  expect(when('morning-routine')).toEqual({ cron: '0 8 * * *' }); // 002: 8:00 AM UTC
  expect(when('evening-routine')).toEqual({ cron: '0 18 * * *' }); // 002: 6:00 PM UTC
  expect(when('cache-warming')).toMatchObject({ every: '6h' }); // 002: every 6 hours
  expect(when('daily-backup')).toEqual({ cron: '0 3 * * *' }); // 002: daily 03:00 UTC
  expect(decl('daily-backup').input).toMatchObject({ retentionDays: 30 });
  expect(when('weekly-health-check')).toEqual({ cron: '0 7 * * MON' }); // 002: every Monday morning
  expect(decl('weekly-restore-drill').runbook).toBe('restore-drill');
  for (const d of SCHEDULES) expect(d.seed).toMatch(/^00[0-4] /);
});

test('a waiting routine whose runbook has landed must be wired: apply refuses until waitingFor is removed', () => {
  const waiting = { ...decl('daily-health-check'), waitingFor: 'issue 11 (healthCheck)' };
  expect(refusal([waiting])).toEqual(['schedule "daily-health-check": waitingFor: runbook "health-check" has landed; remove waitingFor and check the input']);
  // Waiting for a runbook that has not landed is listed, not refused.
  const future = { ...decl('daily-health-check'), runbook: 'capacity-report', waitingFor: 'a later issue' };
  const v = validateSchedules([future], 'runbooks');
  expect(v.waiting.map((w) => w.runbook)).toEqual(['capacity-report']);
});

test.each<[string, Partial<ScheduleDeclarationInput>, RegExp]>([
  ['a six-field cron', { when: { cron: '0 0 2 * * SUN' } }, /when\.cron: "0 0 2 \* \* SUN" is not a five-field cron expression/],
  ['a macro', { when: { cron: '@weekly' } }, /when\.cron: .*not a five-field cron expression/],
  ['a time zone', { when: { cron: 'TZ=Europe/Paris 0 2 * * *' } }, /not a five-field cron expression/],
  ['an hour out of range', { when: { cron: '0 24 * * SUN' } }, /when\.cron: "0 24 \* \* SUN" is not a valid cron expression/],
  ['an unknown day name', { when: { cron: '0 2 * * SUNDAY' } }, /when\.cron: .*not a valid cron expression/],
  ['an interval that is not a duration', { when: { every: 'often' } }, /when\.every: every must be a positive duration/],
  ['a catch-up window that is not a duration', { catchupWindow: 'soon' }, /catchupWindow: catchupWindow must be a positive duration/],
  ['an unknown overlap policy', { overlap: 'queue' as never }, /overlap: /],
  ['an id that is not kebab case', { id: 'Weekly_Maintenance' }, /schedule "Weekly_Maintenance": id: must be kebab case/],
  ['an unknown runbook', { runbook: 'maintenance-windows' }, /runbook: unknown runbook "maintenance-windows"; known runbooks: maintenance-window, /],
  [
    'an input the runbook refuses',
    { input: { service: 'reports', requestedBy: 'scheduler', tasks: [{ kind: 'vacuum', table: 'x' }] } },
    /input: invalid maintenance-window input: tasks\[0\]\.kind: unknown task kind/,
  ],
  ['an unknown field', { cronSchedule: '0 2 * * *' } as never, /Unrecognized key.*cronSchedule/],
])('refused: %s', (_, change, message) => {
  const problems = refusal([{ ...decl('weekly-db-maintenance'), ...change }]);
  expect(problems).toHaveLength(1);
  expect(problems[0]).toMatch(message);
});

test('every problem is reported at once, and an id declared twice is refused', () => {
  const problems = refusal([
    decl('weekly-db-maintenance'),
    decl('weekly-db-maintenance'),
    { ...decl('monthly-db-maintenance'), when: { cron: '0 2 1-7 * XYZ' } },
  ]);
  expect(problems).toEqual([
    expect.stringMatching(/^schedule "weekly-db-maintenance": id: declared twice$/),
    expect.stringMatching(/^schedule "monthly-db-maintenance": when\.cron:/),
  ]);
});

test('schedule ids: the declaration id on the default task queue, prefixed by the task queue elsewhere', () => {
  expect(scheduleIdOf('weekly-db-maintenance', 'runbooks')).toBe('weekly-db-maintenance');
  expect(scheduleIdOf('weekly-db-maintenance', 'staging')).toBe('staging-weekly-db-maintenance');
});

test('the dry-run diff names each change and each changed field', () => {
  const plan: SchedulePlan = {
    taskQueue: 'runbooks',
    wired: new Map(),
    changes: [
      { kind: 'create', scheduleId: 'a', detail: 'cron "0 2 * * SUN" UTC' },
      { kind: 'update', scheduleId: 'b', fields: [{ field: 'when', from: '{"cron":"0 2 * * SUN"}', to: '{"cron":"0 3 * * SUN"}' }] },
      { kind: 'delete', scheduleId: 'c', detail: 'no longer declared' },
      { kind: 'unchanged', scheduleId: 'd' },
    ],
  };
  expect(formatPlan(plan)).toEqual([
    '+ create    a  (cron "0 2 * * SUN" UTC)',
    '~ update    b',
    '      when: {"cron":"0 2 * * SUN"} -> {"cron":"0 3 * * SUN"}',
    '- delete    c  (no longer declared)',
    '= unchanged d',
  ]);
});
