// Every routine the seeds run on a clock, as a Temporal Schedule. `npm run schedules -- apply` (and
// `npm start`) makes the server match this list; `npm run schedules -- list` shows it with next runs.
//
// Times are UTC. Cron fields: minute hour day-of-month month day-of-week; when day-of-month and
// day-of-week are both restricted, both must match (Temporal's rule, not Vixie cron's "either").
// A routine whose runbook has not landed carries `waitingFor`: it is listed, never created, and a unit
// test fails the day its runbook lands until `waitingFor` is removed and the input checked.
import type { ScheduleDeclarationInput } from './schema';

/** Scheduled runs are requested by this name (a person in config with role `automation`, who can vote on nothing). */
export const SCHEDULER = 'scheduler';

// Seed 002 weekly: VACUUM ANALYZE, reindex if bloated, check for deadlocks (the report task).
const weeklyTasks = [
  { kind: 'report', top: 10, over: '5m' },
  { kind: 'vacuum-analyze', table: 'public.reports' },
  { kind: 'vacuum-analyze', table: 'public.report_runs' },
  { kind: 'reindex-if-bloated', table: 'public.report_runs', minBloatRatio: 0.3 },
];

/** A person approves before anything changes; the run waits at its gate (see `npm run runbook -- inbox`). */
const maintenanceApproval = { quorum: 1, approverRoles: ['sre-lead', 'dba'], timeout: '3h' };

export const SCHEDULES: readonly ScheduleDeclarationInput[] = [
  {
    id: 'weekly-db-maintenance',
    title: 'weekly database maintenance: deadlock and long-query report, VACUUM ANALYZE, reindex if bloated',
    seed: '002 Database Maintenance > Weekly Maintenance: "Every Sunday at 2:00 AM UTC" (vacuum and analyze, reindex if bloated)',
    runbook: 'maintenance-window',
    // Every Sunday but the first of the month: that one runs the monthly maintenance, which includes this.
    when: { cron: '0 2 8-31 * SUN' },
    input: {
      service: 'reports',
      requestedBy: SCHEDULER,
      reason: 'weekly database maintenance (schedule weekly-db-maintenance)',
      window: { length: '4h' },
      tasks: weeklyTasks,
      approval: maintenanceApproval,
      monitoringPeriod: '30m',
    },
    overlap: 'skip',
    catchupWindow: '1h',
  },
  {
    id: 'monthly-db-maintenance',
    title: 'monthly database maintenance: the weekly tasks, archive old rows, data retention, rebuild indexes, refresh views',
    seed: '002 Database Maintenance > Monthly Maintenance: "First Sunday of month at 2:00 AM UTC"; 000 Monthly Maintenance "Database index optimization", 000 Data Cleanup',
    runbook: 'maintenance-window',
    when: { cron: '0 2 1-7 * SUN' },
    input: {
      service: 'reports',
      requestedBy: SCHEDULER,
      reason: 'monthly database maintenance (schedule monthly-db-maintenance)',
      window: { length: '4h' },
      // Seed 002 monthly (archive analytics older than 2 years, rebuild indexes) and 000 Data Cleanup
      // (audit logs older than 1 year, completed exports older than 7 days). Archive and retention are
      // refused unless a verified backup newer than backups.requireVerifiedWithin exists (the daily backup).
      tasks: [
        ...weeklyTasks,
        {
          kind: 'archive-rows',
          table: 'public.daily_analytics',
          archiveTable: 'public.daily_analytics_archive',
          timeColumn: 'day',
          olderThan: '2y',
          batchSize: 1000,
        },
        { kind: 'reindex-table', table: 'public.reports' },
        { kind: 'refresh-materialized-view', view: 'public.report_daily_stats' },
        { kind: 'analyze', table: 'public.report_runs' },
        { kind: 'mongo-retention', collection: 'report_audit_logs', timeField: 'createdAt', olderThan: '1y', batchSize: 500 },
        {
          kind: 'mongo-retention',
          collection: 'report_export_files',
          timeField: 'createdAt',
          olderThan: '7d',
          filter: { status: 'completed' },
          batchSize: 500,
        },
        { kind: 'mongo-rebuild-indexes', collection: 'report_audit_logs' },
      ],
      approval: maintenanceApproval,
      monitoringPeriod: '30m',
    },
    overlap: 'skip',
    catchupWindow: '1h',
  },
  {
    id: 'daily-health-check',
    title: 'daily health check before business hours',
    seed: '002 System Health Checks > Daily Health Check: "Every morning before business hours"',
    runbook: 'health-check',
    when: { cron: '0 6 * * *' },
    input: { service: 'reports', requestedBy: SCHEDULER, profile: 'daily' },
    overlap: 'skip',
    catchupWindow: '30m',
    jitter: '2m',
  },
  {
    id: 'morning-routine',
    title: 'morning routine: health check, overnight alerts, yesterday’s aggregation',
    seed: '002 Daily Operations > Morning Routine: "8:00 AM UTC"; 004 Daily Operations > Morning Checklist',
    runbook: 'health-check',
    when: { cron: '0 8 * * *' },
    input: { service: 'reports', requestedBy: SCHEDULER, profile: 'daily' },
    overlap: 'skip',
    catchupWindow: '30m',
  },
  {
    id: 'weekly-health-check',
    title: 'weekly health check: slow queries, cache hit rates, growth',
    seed: '002 System Health Checks > Weekly Health Check: "Every Monday morning"',
    runbook: 'health-check',
    when: { cron: '0 7 * * MON' },
    input: { service: 'reports', requestedBy: SCHEDULER, profile: 'weekly' },
    overlap: 'skip',
    catchupWindow: '2h',
  },
  {
    id: 'evening-routine',
    title: 'evening routine: refresh materialized views, warm the cache for active users',
    seed: '002 Daily Operations > Evening Routine: "6:00 PM UTC"',
    runbook: 'cache-warm',
    when: { cron: '0 18 * * *' },
    input: { service: 'reports', requestedBy: SCHEDULER, refreshViews: true },
    overlap: 'skip',
    catchupWindow: '30m',
  },
  {
    id: 'cache-warming',
    title: 'cache warming for users active in the last 7 days',
    seed: '002 Cache Management > Cache Warming: "Every 6 hours"',
    runbook: 'cache-warm',
    when: { every: '6h', offset: '30m' },
    input: { service: 'reports', requestedBy: SCHEDULER, activeDays: 7 },
    overlap: 'skip',
    catchupWindow: '30m',
    jitter: '5m',
  },
  {
    id: 'daily-backup',
    title: 'daily full backup of Postgres, MongoDB and Redis, 30-day retention',
    seed: '002 Backup Strategy: "Full backup: Daily at 3:00 AM UTC", "Retention: 30 days"; 004 Backup Schedule: MongoDB 2 AM, Redis 3 AM',
    runbook: 'backup',
    when: { cron: '0 3 * * *' },
    input: {
      service: 'reports',
      requestedBy: SCHEDULER,
      reason: 'daily full backup (schedule daily-backup)',
      stores: ['postgres', 'mongo', 'redis'],
      retentionDays: 30,
    },
    overlap: 'skip',
    catchupWindow: '6h',
  },
  {
    id: 'incremental-backup',
    // A full pg_dump stands in for the seed's incremental backup: true increments need WAL archiving
    // (or PostgreSQL 17's incremental pg_basebackup), which the stack does not run. Retention is left to
    // the daily backup, so these runs never delete a daily set.
    title: 'Postgres backup every 6 hours (a full dump in place of an incremental one)',
    seed: '002 Backup Strategy: "Incremental backup: Every 6 hours"',
    runbook: 'backup',
    when: { every: '6h' },
    input: {
      service: 'reports',
      requestedBy: SCHEDULER,
      reason: '6-hourly Postgres backup (schedule incremental-backup)',
      stores: ['postgres'],
      retention: false,
    },
    overlap: 'skip',
    catchupWindow: '1h',
  },
  {
    id: 'weekly-restore-drill',
    title: 'restore the latest backup into scratch databases and compare (measured RTO/RPO)',
    seed: '002 Backup Strategy > Verification: "Test restore on staging, verify data integrity"; 000 Weekly Maintenance "Check backup integrity"',
    runbook: 'restore-drill',
    when: { cron: '0 5 * * SAT' },
    input: { service: 'reports', requestedBy: SCHEDULER, reason: 'weekly restore drill (schedule weekly-restore-drill)' },
    overlap: 'skip',
    catchupWindow: '6h',
  },
  {
    id: 'quarterly-dr-drill',
    title: 'disaster recovery drill: rebuild the service from the newest verified backup into scratch stores',
    seed: '000 Quarterly Maintenance: "Disaster recovery testing"; 003 Disaster Recovery',
    runbook: 'disaster-recovery',
    when: { cron: '0 4 1-7 1,4,7,10 SUN' },
    input: { service: 'reports', requestedBy: SCHEDULER, drill: true },
    overlap: 'skip',
    catchupWindow: '12h',
  },
  {
    id: 'certificate-check',
    title: 'certificate expiry check; renew within 30 days of expiry (approval for production)',
    seed: '003 Certificate Renewal',
    runbook: 'certificate-renewal',
    when: { cron: '0 9 * * *' },
    input: { certificate: 'reports-tls', requestedBy: SCHEDULER, renewWithin: '30d' },
    overlap: 'skip',
    catchupWindow: '6h',
  },
  {
    id: 'queue-health',
    title: 'job queue depths against thresholds; retry failed jobs, recover stuck ones',
    seed: '004 Monitoring Queue Health (email > 500 warning, > 1000 critical; failed > 100 warning); 000 Job Queue Management',
    runbook: 'queue-recovery',
    when: { every: '15m' },
    input: { service: 'reports', requestedBy: SCHEDULER, mode: 'check' },
    overlap: 'skip',
    catchupWindow: '5m',
  },
];
