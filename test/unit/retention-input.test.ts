// The retention and session tasks' input: defaults, and every refusal naming its field (pure: the schema
// and the cutoff rule, no servers).
import { resolveCutoff } from '../../activities/maintenance/resolve';
import { archiveBatchSql } from '../../activities/maintenance/archive-rows';
import { describeIssues } from '../../workflows/lib/validate';
import { exampleMaintenanceInput, maintenanceWindowInputSchema } from '../../workflows/maintenance-window/contract';

function parse(task: Record<string, unknown>): { issues: string; task?: Record<string, unknown> } {
  const r = maintenanceWindowInputSchema.safeParse({ ...exampleMaintenanceInput(), tasks: [task] });
  return r.success ? { issues: '', task: r.data.tasks[0] } : { issues: describeIssues(r.error) };
}

const archive = { kind: 'archive-rows', table: 'daily_analytics', archiveTable: 'daily_analytics_archive', timeColumn: 'day' };
const retention = { kind: 'mongo-retention', collection: 'report_export_files', timeField: 'createdAt', olderThan: '7d' };

describe('retention task inputs', () => {
  test('defaults: archive older than 2y in batches of 1000; bloat threshold 30%; report top 10 over 1m', () => {
    expect(parse(archive).task).toMatchObject({ olderThan: '2y', batchSize: 1000 });
    expect(parse({ kind: 'reindex-if-bloated', table: 'report_runs' }).task).toMatchObject({ minBloatRatio: 0.3 });
    expect(parse({ kind: 'report' }).task).toMatchObject({ top: 10, over: '1m' });
    expect(parse({ kind: 'terminate-sessions', idleInTransactionOver: '30m' }).task).toMatchObject({ allowUsers: [], allowApplications: [] });
    expect(parse({ ...retention, filter: { status: 'completed' } }).task).toMatchObject({ batchSize: 1000, filter: { status: 'completed' } });
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['batchSize 0', { ...archive, batchSize: 0 }, /^tasks\[0\]\.batchSize: must be at least 1/],
    ['SQL in the archive table', { ...archive, archiveTable: 'x; DELETE FROM reports' }, /^tasks\[0\]\.archiveTable: must be a plain table name/],
    ['a quoted column', { ...archive, timeColumn: '"day"' }, /^tasks\[0\]\.timeColumn: must be a plain column name/],
    ['archive into itself', { ...archive, archiveTable: 'daily_analytics' }, /^tasks\[0\]\.archiveTable: must differ from table/],
    ['olderThan neither a duration nor a time', { ...archive, olderThan: 'ages ago' }, /^tasks\[0\]\.olderThan: must be a duration such as "2y"/],
    ['a filter with an operator', { ...retention, filter: { $where: '1' } }, /^tasks\[0\]\.filter/],
    ['a filter with an object value', { ...retention, filter: { status: { $ne: 'pending' } } }, /^tasks\[0\]\.filter\.status/],
    ['a time field with an operator', { ...retention, timeField: '$where' }, /^tasks\[0\]\.timeField: must be a field name/],
    ['a bloat ratio over 1', { kind: 'reindex-if-bloated', table: 'reports', minBloatRatio: 2 }, /^tasks\[0\]\.minBloatRatio:/],
    [
      'an idle threshold that is not a duration',
      { kind: 'terminate-sessions', idleInTransactionOver: 'long' },
      /^tasks\[0\]\.idleInTransactionOver: must be a positive duration/,
    ],
  ])('%s is refused, naming the field', (_name, task, expected) => {
    expect(parse(task).issues).toMatch(expected);
  });

  test('the cutoff: a duration back from now, an ISO time as given, a future one refused naming the field', () => {
    const now = Date.parse('2026-11-26T00:00:00Z');
    expect(resolveCutoff('7d', 'tasks[0].olderThan', now)).toBe('2026-11-19T00:00:00.000Z');
    expect(resolveCutoff('2024-01-01T00:00:00Z', 'tasks[0].olderThan', now)).toBe('2024-01-01T00:00:00.000Z');
    expect(() => resolveCutoff('2027-01-01T00:00:00Z', 'tasks[2].olderThan', now)).toThrow(
      /^tasks\[2\]\.olderThan: the cutoff 2027-01-01T00:00:00\.000Z is in the future/,
    );
  });

  test('one batch is one statement: delete and insert together, identifiers quoted by the driver', () => {
    const sql = archiveBatchSql(
      { kind: 'archive-rows', table: 'public.daily_analytics', archiveTable: 'archive', timeColumn: 'day', olderThan: '2y', batchSize: 5 },
      ['id', 'day'],
    );
    expect(sql).toBe(
      'WITH moved AS (DELETE FROM "public"."daily_analytics" WHERE ctid IN (SELECT ctid FROM "public"."daily_analytics" WHERE "day" < $1 ORDER BY "day" LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING "id", "day") ' +
        'INSERT INTO "archive" ("id", "day") SELECT "id", "day" FROM moved',
    );
  });
});
