import { ConfigError, parseConfig } from '../../config/load';
import { maintenanceSql, qualifiedName } from '../../activities/postgres/sql';
import { pgConnectionArgs, safeFileName } from '../../activities/backup-store/pg-dump';
import { ErrorType } from '../../workflows/lib/errors';
import { InvalidTargetError, UnsafeOperationError, redactUrl } from '../../activities/errors';
import { Compensations } from '../../workflows/lib/saga';

const minimal = {
  services: {
    reports: {
      healthUrl: 'http://127.0.0.1:1/health',
      platform: { kind: 'local', adminUrl: 'http://127.0.0.1:1/admin', token: '${DEMO_TOKEN}' },
      postgres: ['reports-db'],
    },
  },
  postgres: { 'reports-db': { url: 'postgres://u:${PG_PASSWORD}@127.0.0.1:5432/reports' } },
  audit: { url: 'postgres://u:${PG_PASSWORD}@127.0.0.1:5432/runbooks' },
  backups: {},
};

describe('configuration', () => {
  test('secrets come from the environment by ${VAR}, and defaults are filled in', () => {
    const cfg = parseConfig(minimal, { PG_PASSWORD: 's3cret', DEMO_TOKEN: 't0ken' });
    expect(cfg.postgres['reports-db']!.url).toBe('postgres://u:s3cret@127.0.0.1:5432/reports');
    expect(cfg.backups.dir).toBe('.data/backups');
    expect(cfg.services.reports!.mongo).toEqual([]);
  });

  test('a missing secret names the variable and where it is used, never a value', () => {
    expect(() => parseConfig(minimal, { DEMO_TOKEN: 't' })).toThrow(new ConfigError('postgres.reports-db.url: environment variable PG_PASSWORD is not set'));
  });

  test('cache, BullMQ and queue settings: defaults from the seeds, references and orderings checked', () => {
    const env = { PG_PASSWORD: 'x', DEMO_TOKEN: 'y' };
    const withCache = (cache: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      ...minimal,
      services: { reports: { ...minimal.services.reports, cache, ...extra } },
      redis: { cache: { url: 'redis://127.0.0.1:6379/0' } },
    });
    const cfg = parseConfig(withCache({ redis: 'cache', postgres: 'reports-db' }), env);
    expect(cfg.services.reports!.cache).toMatchObject({
      prefix: 'analytics:',
      ttl: '7h',
      activeDays: 7,
      hitRate: { warnBelow: 0.8, actBelow: 0.7 },
      maxInvalidate: 10000,
    });
    expect(cfg.services.reports!.cache!.metrics).toHaveLength(5);
    expect(() => parseConfig(withCache({ redis: 'nope', postgres: 'reports-db' }), env)).toThrow(/redis target "nope" is not configured; known: cache/);
    expect(() => parseConfig(withCache({ redis: 'cache', postgres: 'reports-db', hitRate: { warnBelow: 0.6, actBelow: 0.7 } }), env)).toThrow(
      /cache\.hitRate\.actBelow: must not be above warnBelow/,
    );
    expect(() => parseConfig(withCache({ redis: 'cache', postgres: 'reports-db', prefix: 'analytics:*' }), env)).toThrow(
      /cache\.prefix: must be 1-100 letters/,
    );
    const bull = { bullmq: { redis: 'cache', queues: ['webhooks'], thresholds: { warning: 900, critical: 100 } } };
    expect(() => parseConfig(withCache({ redis: 'cache', postgres: 'reports-db' }, bull), env)).toThrow(
      /bullmq\.thresholds\.warning: must not be above critical/,
    );
    const ok = parseConfig(withCache({ redis: 'cache', postgres: 'reports-db' }, { bullmq: { redis: 'cache', queues: ['webhooks'] } }), env);
    expect(ok.services.reports!.bullmq!.thresholds).toEqual({ warning: 500, critical: 1000, failedWarning: 100, failedCritical: 500 });
  });

  test('a service naming an unconfigured target is refused with the known ones', () => {
    const bad = { ...minimal, services: { reports: { ...minimal.services.reports, postgres: ['nope'] } } };
    expect(() => parseConfig(bad, { PG_PASSWORD: 'x', DEMO_TOKEN: 'y' })).toThrow(
      /services\.reports\.postgres: postgres target "nope" is not configured; known: reports-db/,
    );
  });

  test('notification channels, escalation people, email recipients and health certificates are checked', () => {
    const env = { PG_PASSWORD: 'x', DEMO_TOKEN: 'y' };
    const people = { alice: { roles: ['sre-lead'], email: 'alice@example.test' } };
    const hook = (name: string) => ({ name, url: 'http://127.0.0.1:1/hook' });
    expect(() => parseConfig({ ...minimal, notify: { webhooks: [hook('ops')], slack: [hook('ops')] } }, env)).toThrow(
      /notify\.slack\.0\.name: "ops" is already a channel name/,
    );
    expect(() => parseConfig({ ...minimal, notify: { webhooks: [hook('email')] } }, env)).toThrow(
      /notify\.webhooks\.0\.name: "email" is already a channel name/,
    );
    expect(() => parseConfig({ ...minimal, people, incidents: { escalation: [{ level: 'on-call', people: ['alice', 'zed'] }] } }, env)).toThrow(
      /incidents\.escalation\.0\.people\.1: person "zed" is not in people; known: alice/,
    );
    const ladder = [
      { level: 'on-call', people: ['alice'], after: '10m' },
      { level: 'team-lead', people: ['alice'], after: '5m' },
    ];
    expect(() => parseConfig({ ...minimal, people, incidents: { escalation: ladder } }, env)).toThrow(/each level must come later than the one before/);
    const email = { host: '127.0.0.1', from: 'runbooks@example.test', to: { escalation: ['alice', 'ops@example.test', 'bob'] } };
    expect(() => parseConfig({ ...minimal, people, notify: { email } }, env)).toThrow(/notify\.email\.to\.escalation\.2: recipient "bob" is not in people/);
    const svc = { ...minimal.services.reports, health: { certificates: ['web-tls'] } };
    expect(() => parseConfig({ ...minimal, services: { reports: svc } }, env)).toThrow(
      /services\.reports\.health\.certificates\.0: certificate "web-tls" is not configured/,
    );
    const ok = parseConfig({ ...minimal, people, notify: { email: { ...email, to: { escalation: ['alice'] } } } }, env);
    expect(ok.incidents.updateEvery).toBe('15m');
    expect(ok.incidents.severities.P1).toMatchObject({ page: true, respondWithin: '1h' });
  });
});

describe('SQL and process arguments', () => {
  test('identifiers are quoted by the pg driver helper, schema and table separately', () => {
    expect(qualifiedName('public.reports')).toBe('"public"."reports"');
    expect(maintenanceSql({ kind: 'reindex-table', table: 'report_runs' })).toBe('REINDEX TABLE CONCURRENTLY "report_runs"');
    expect(maintenanceSql({ kind: 'refresh-materialized-view', view: 'public.daily' })).toBe('REFRESH MATERIALIZED VIEW CONCURRENTLY "public"."daily"');
    // Even if a bad name got past the schema, quoting keeps it one identifier.
    expect(qualifiedName('x"; DROP TABLE y; --')).toBe('"x""; DROP TABLE y; --"');
  });

  test('pg_dump gets the password through its environment, never its arguments', () => {
    const { args, env } = pgConnectionArgs('postgres://admin:p%40ss@127.0.0.1:55432/reports');
    expect(args).toEqual(['--host', '127.0.0.1', '--port', '55432', '--dbname', 'reports', '--username', 'admin']);
    expect(args.join(' ')).not.toContain('p@ss');
    expect(env).toEqual({ PGPASSWORD: 'p@ss' });
    expect(redactUrl('postgres://admin:p%40ss@h/db')).toBe('postgres://admin:***@h/db');
  });

  test('activity error class names match the failure types workflows treat as non-retryable', () => {
    expect(new InvalidTargetError('x').name).toBe(ErrorType.InvalidTarget);
    expect(new UnsafeOperationError('x').name).toBe(ErrorType.UnsafeOperation);
  });
});

describe('backup file names', () => {
  test('long run names get distinct backup file names', () => {
    const a = safeFileName(`${'x'.repeat(200)}-run-a`);
    const b = safeFileName(`${'x'.repeat(200)}-run-b`);
    expect(a).not.toBe(b);
    expect(a.length).toBeLessThanOrEqual(180);
    expect(safeFileName('maint/../etc passwd')).toBe('maint_.._etc_passwd');
  });
});

describe('compensations', () => {
  test('run newest first, keep going past a failing undo, and report each', async () => {
    const order: string[] = [];
    const comp = new Compensations();
    comp.add('maintenance-off', async () => void order.push('maintenance-off'));
    comp.add('scale-up', async () => {
      order.push('scale-up');
      throw new Error('platform down');
    });
    comp.add('settled', async () => void order.push('settled'));
    comp.settle('settled');
    expect(await comp.run()).toEqual([
      { name: 'scale-up', ok: false, error: 'platform down' },
      { name: 'maintenance-off', ok: true },
    ]);
    expect(order).toEqual(['scale-up', 'maintenance-off']);
  });
});
