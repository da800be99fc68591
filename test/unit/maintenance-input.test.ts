import { describeIssues } from '../../workflows/lib/validate';
import { exampleMaintenanceInput, maintenanceWindowInputSchema, resolveWindow } from '../../workflows/maintenance-window/contract';

function issues(input: unknown): string {
  const r = maintenanceWindowInputSchema.safeParse(input);
  return r.success ? '' : describeIssues(r.error);
}

describe('maintenance-window input schema', () => {
  test('the example input is valid and gets the documented defaults', () => {
    const r = maintenanceWindowInputSchema.parse({ ...exampleMaintenanceInput(), approval: undefined, monitoringPeriod: undefined });
    expect(r.approval).toEqual({ quorum: 1, approverRoles: ['sre-lead'], timeout: '4h', allowUiVotes: true });
    expect(r.monitoringPeriod).toBe('30m');
    expect(r.dryRun).toBe(false);
    expect(r.backup).toBe(true);
  });

  test('a window that ends before it starts is refused, naming window.end', () => {
    const window = { start: '2026-11-24T22:00:00Z', end: '2026-11-24T21:00:00Z' };
    expect(issues({ ...exampleMaintenanceInput(), window })).toBe('window.end: must be after window.start');
    expect(issues({ ...exampleMaintenanceInput(), window: { end: '2026-11-24T21:00:00Z', length: '1h' } })).toBe(
      'window.length: give window.end or window.length, not both',
    );
  });

  test('the window defaults to "from when the run starts, for 2 hours"', () => {
    const now = Date.parse('2026-11-24T20:00:00Z');
    const w = maintenanceWindowInputSchema.parse({ ...exampleMaintenanceInput(), window: undefined }).window;
    expect(resolveWindow(w, now)).toEqual({ start: now, end: now + 2 * 3600_000 });
    expect(resolveWindow({ start: '2026-11-24T22:00:00Z', length: '30m' }, now)).toEqual({
      start: Date.parse('2026-11-24T22:00:00Z'),
      end: Date.parse('2026-11-24T22:30:00Z'),
    });
  });

  test.each([
    ['reports; DROP TABLE reports', 'tasks[0].table'],
    ['"reports"', 'tasks[0].table'],
    ['public.reports.extra', 'tasks[0].table'],
  ])('a table name with SQL metacharacters (%s) is refused, naming %s', (table, field) => {
    expect(issues({ ...exampleMaintenanceInput(), tasks: [{ kind: 'vacuum-analyze', table }] })).toMatch(
      new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}: must be a plain table name`),
    );
  });

  test('an unknown task kind is refused, naming the field and the known kinds', () => {
    expect(issues({ ...exampleMaintenanceInput(), tasks: [{ kind: 'vacuum-analyze', table: 'reports' }, { kind: 'drop-database' }] })).toBe(
      'tasks[1].kind: unknown task kind; known kinds: vacuum-analyze, analyze, reindex-table, refresh-materialized-view, mongo-rebuild-indexes, ' +
        'reindex-if-bloated, report, terminate-sessions, archive-rows, mongo-retention',
    );
  });

  test('durations, people and unknown fields are checked too', () => {
    expect(issues({ ...exampleMaintenanceInput(), monitoringPeriod: 'soon' })).toMatch(/^monitoringPeriod: must be a positive duration/);
    expect(issues({ ...exampleMaintenanceInput(), requestedBy: 'Robert Tables' })).toMatch(/^requestedBy: must be a configured name/);
    expect(issues({ ...exampleMaintenanceInput(), force: true })).toMatch(/Unrecognized key.*force/);
    expect(issues({ ...exampleMaintenanceInput(), approval: { quorum: 0 } })).toMatch(/^approval\.quorum:/);
  });
});

describe('every duration and count in an input has a maximum', () => {
  test.each([
    ['monitoringPeriod', { monitoringPeriod: '48h' }, 'monitoringPeriod: must be at most 24h'],
    ['drainTimeout', { drainTimeout: '5h' }, 'drainTimeout: must be at most 4h'],
    ['window.length', { window: { length: '8d' } }, 'window.length: must be at most 7d'],
    ['approval.timeout', { approval: { timeout: '31d' } }, 'approval.timeout: must be at most 30d'],
    ['historyLimit', { historyLimit: 100 }, 'historyLimit: Too small: expected number to be >=200'],
    ['not a duration', { monitorInterval: 'often' }, 'monitorInterval: must be a positive duration such as "90s", "30m" or "4h"'],
    // `ms` throws on an empty string: found by the API's property test (it was a 500).
    ['an empty duration', { monitorInterval: '' }, 'monitorInterval: must be a positive duration such as "90s", "30m" or "4h"'],
    ['a blank duration', { approval: { timeout: ' \t' } }, 'approval.timeout: must be a positive duration such as "90s", "30m" or "4h"'],
    ['a misspelt approval field', { approval: { quorom: 2 } }, 'approval: Unrecognized key: "quorom"'],
  ])('%s', (_name, override, message) => {
    expect(issues({ ...exampleMaintenanceInput(), ...override })).toBe(message);
  });

  test('tasks: at most 50', () => {
    const tasks = Array.from({ length: 51 }, () => ({ kind: 'analyze', table: 'reports' }));
    expect(issues({ ...exampleMaintenanceInput(), tasks })).toMatch(/^tasks: Too big/);
  });
});
