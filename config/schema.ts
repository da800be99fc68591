// The product's configuration: what runbooks may act on (targets) and who may approve (people).
// Secrets are never written here: a connection URL may name environment variables as ${VAR}, which are
// resolved in the worker's memory only (see load.ts). Every setting says what it is for and its default.
import { z } from 'zod';
import { checkKey } from '../activities/backups/contract';
import { parseDuration } from '../common/duration';
import { approvalPolicySchema } from '../workflows/lib/approval-rules';
import { certificateSchema } from './certificates';
import { dataRollbackSchema } from './data-rollback';
import { healthSchema } from './health';
import { incidentsSchema } from './incidents';
import { notifySchema } from './notify';

const name = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes, starting with a letter');

const url = z.string().min(1).describe('connection URL; may contain ${ENV_VAR} placeholders for secrets');

export const postgresTargetSchema = z.object({
  url: url.describe('postgres://user:${PASSWORD_VAR}@host:port/database'),
  description: z.string().optional(),
});

export const redisTargetSchema = z.object({
  url: url.describe('redis://:${PASSWORD_VAR}@host:port/db'),
  description: z.string().optional(),
});

export const mongoTargetSchema = z.object({
  url: url.describe('mongodb://host:port/'),
  database: z.string().min(1).describe('database the runbooks act on'),
  description: z.string().optional(),
});

export const localPlatformSchema = z.object({
  kind: z.literal('local').describe('the demo service supervisor (embedded default)'),
  adminUrl: z.string().url().describe('base URL of the service admin API, e.g. http://127.0.0.1:58080/admin'),
  token: z.string().min(1).describe('bearer token for the admin API (secret: use ${VAR})'),
});

/** A Kubernetes object name (RFC 1123 label: lowercase letters, digits and "-"). */
const k8sName = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes name: lowercase letters, digits and "-", at most 63');

/**
 * A service run by Kubernetes (activities/platform/kubernetes.ts). Versions are image tags of `image` on the
 * Deployment `deployment`; queue workers are the Deployment `workers`; feature flags live in the ConfigMap
 * `configMap`; maintenance mode points the Service `maintenance.service` at the pods labelled
 * `maintenance.selector`. Credentials: the kubeconfig file (default $KUBECONFIG, then ~/.kube/config), or the
 * pod's service account when `inCluster`; never in configuration values or workflow history.
 */
export type KubernetesPlatformConfig = z.infer<typeof kubernetesPlatformSchema>;

export const kubernetesPlatformSchema = z
  .object({
    kind: z.literal('kubernetes').describe('Deployments, a ConfigMap and a Service in one namespace'),
    kubeconfig: z.string().min(1).optional().describe('path of a kubeconfig file (default $KUBECONFIG, then ~/.kube/config)'),
    context: z.string().min(1).optional().describe('kubeconfig context (default its current-context)'),
    inCluster: z.boolean().default(false).describe("use the pod's service account (running inside the cluster)"),
    namespace: k8sName,
    deployment: k8sName.describe('the Deployment whose image is the version (deploy, roll back)'),
    container: k8sName.optional().describe('its container that runs `image` (default the first)'),
    image: z
      .string()
      .regex(/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, 'must be an image repository without tag, e.g. registry.example/reports')
      .describe('image repository; a version is its tag'),
    versions: z
      .array(z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be an image tag'))
      .optional()
      .describe('the versions that may be deployed (default: any valid tag)'),
    workers: k8sName.describe('the Deployment of queue workers (scale, restart)'),
    configMap: k8sName.describe('the ConfigMap of feature flags ("true"/"false" values)'),
    maintenance: z
      .object({
        service: k8sName.describe('the Service whose selector is switched'),
        selector: z.record(z.string().min(1), z.string()).describe('labels of the maintenance backend pods'),
      })
      .strict()
      .optional()
      .describe('maintenance routing: the Service selects these pods while maintenance mode is on'),
    readyTimeout: z
      .string()
      .refine((s) => parseDuration(s) !== undefined && parseDuration(s)! <= 50_000, 'must be a duration of at most 50s, such as "45s"')
      .default('45s')
      .describe('how long scaling waits for the ready replicas (at most 50s: a platform activity has 1m)'),
  })
  .strict();

const duration = (def: string) =>
  z
    .string()
    .refine((s) => parseDuration(s) !== undefined, 'must be a duration such as "10m"')
    .default(def);

/** Seed 004 "Alert Thresholds": queue > 500 warning, > 1000 critical; failed > 100 warning, > 500 critical. */
export const queueThresholdsSchema = z
  .object({
    warning: z.number().int().min(0).default(500).describe('waiting jobs above this: warning'),
    critical: z.number().int().min(0).default(1000).describe('waiting jobs above this: critical'),
    failedWarning: z.number().int().min(0).default(100).describe('failed jobs above this: warning'),
    failedCritical: z.number().int().min(0).default(500).describe('failed jobs above this: critical'),
  })
  .strict()
  .refine((t) => t.warning <= t.critical, { path: ['warning'], message: 'must not be above critical' })
  .refine((t) => t.failedWarning <= t.failedCritical, { path: ['failedWarning'], message: 'must not be above failedCritical' });

export const queueSchema = z.object({
  redis: name.describe('name of a redis target'),
  pending: z.string().min(1).default('report_jobs_queue').describe('list of jobs waiting'),
  processing: z.string().min(1).default('report_jobs_processing').describe('list of jobs being worked on'),
  failed: z.string().min(1).default('report_jobs_failed').describe('list of jobs that failed'),
  probeUrl: z.string().url().optional().describe('probe API: POST {probeUrl} {"probeId"} enqueues a probe job; GET {probeUrl}/{id} gives its status'),
  thresholds: queueThresholdsSchema.prefault({}).describe('depth thresholds the queue-recovery check reports against'),
  stuckAfter: duration('10m').describe('a job held in the processing list longer than this is stuck (queue-recovery puts it back)'),
  maxAttempts: z.number().int().min(1).max(100).default(3).describe('a stuck job put back this many times goes to the failed list instead'),
});

/** The seeds' cache-warming job (002 "Cache Warming"), and what cache invalidation may touch. */
export const CACHE_METRICS = ['task_totals', 'completion_rate', 'priority_distribution', 'status_distribution', 'productivity_score'] as const;

export const cacheSchema = z
  .object({
    redis: name.describe('name of the redis target holding the cache'),
    postgres: name.describe('name of the postgres target the cached metrics are computed from (tables app_users, user_tasks)'),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_:.-]{1,100}$/, 'must be 1-100 letters, digits and _ : . - (no glob characters)')
      .default('analytics:')
      .describe('every cache key starts with this: <prefix><userId>:<metric>'),
    ttl: duration('7h').describe('TTL of a warmed key (seed 002 warms every 6 hours: a key outlives one warming interval)'),
    activeDays: z.number().int().min(1).max(365).default(7).describe('users active in the last N days are warmed (seed 002 ACTIVE_USER_THRESHOLD_DAYS)'),
    metrics: z
      .array(z.enum(CACHE_METRICS))
      .min(1)
      .default([...CACHE_METRICS])
      .describe('metrics cached per user (seed 002 METRICS_TO_CACHE)'),
    hitRate: z
      .object({
        warnBelow: z.number().min(0).max(1).default(0.8).describe('seed 002: "Target: Cache hit rate > 80%"'),
        actBelow: z.number().min(0).max(1).default(0.7).describe('seed 002: "Hit rate < 70%: Investigate cache strategy"'),
      })
      .strict()
      .refine((h) => h.actBelow <= h.warnBelow, { path: ['actBelow'], message: 'must not be above warnBelow' })
      .prefault({}),
    maxInvalidate: z
      .number()
      .int()
      .min(1)
      .default(10_000)
      .describe('an invalidation matching more keys than this needs force: true (the count is shown first)'),
    protect: z
      .array(z.string().min(1).max(200))
      .default([])
      .describe('Redis glob patterns invalidation never unlinks, whatever the pattern (queues, platform state)'),
  })
  .strict();

/** BullMQ queues of a service (seed 004: webhooks, reports, notifications). */
export const bullmqSchema = z
  .object({
    redis: name.describe('name of the redis target BullMQ uses'),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_:.-]{1,100}$/)
      .default('bull')
      .describe("BullMQ's key prefix (its `prefix` option)"),
    queues: z
      .array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ and -'))
      .min(1)
      .describe('queue names, e.g. ["webhooks", "reports", "notifications"]'),
    thresholds: queueThresholdsSchema.prefault({}),
  })
  .strict();

export const serviceSchema = z.object({
  description: z.string().optional(),
  healthUrl: z.string().url().describe('GET returns 2xx when the service is healthy'),
  platform: z.discriminatedUnion('kind', [localPlatformSchema, kubernetesPlatformSchema]),
  queue: queueSchema.optional().describe('the job queue its workers consume; drained before maintenance'),
  bullmq: bullmqSchema.optional().describe('BullMQ queues of the service (queue-recovery acts on them through BullMQ)'),
  cache: cacheSchema.optional().describe('the per-user metrics cache (cache-warm, cache-invalidate)'),
  health: healthSchema.prefault({}).describe('what the health check adds: thresholds, data directories, job freshness, certificates'),
  postgres: z.array(name).default([]).describe('postgres targets the service owns (first is the default)'),
  mongo: z.array(name).default([]).describe('mongo targets the service owns (first is the default)'),
  smoke: z
    .array(
      z
        .object({
          name: z.string().min(1).max(80),
          method: z.enum(['GET', 'POST']).default('GET'),
          url: z.string().url(),
          body: z.record(z.string(), z.unknown()).optional().describe('JSON body of a POST'),
          expectStatus: z.array(z.number().int().min(100).max(599)).min(1).default([200]),
        })
        .strict(),
    )
    .default([])
    .describe('smoke requests a verification sends (seed 001 "Functional Testing"), each expecting one of its statuses'),
  rollback: z
    .object({
      pauseFlags: z
        .array(z.string().regex(/^[A-Z][A-Z0-9_]{0,62}$/))
        .default([])
        .describe('feature flags turned off while a rollback runs and restored after it (stop new work)'),
      releaseFlags: z
        .array(z.string().regex(/^[A-Z][A-Z0-9_]{0,62}$/))
        .default([])
        .describe('feature flags of the release being rolled back: turned off and left off'),
      verifyWindow: z
        .string()
        .refine((s) => parseDuration(s) !== undefined && parseDuration(s)! <= 15 * 60_000, 'must be a duration of at most 15m, such as "1m"')
        .default('1m')
        .describe('after a rollback: how long traffic is watched before the 5xx share and p95 are read (input verifyWindow overrides)'),
    })
    .strict()
    .prefault({})
    .describe('what a rollback switches off'),
  environment: name.default('production').describe('the environment it runs in; rollbacks look up their approval policy by it'),
  dataRollback: dataRollbackSchema.optional().describe("database rollback steps of the service's latest release (reviewed configuration)"),
  metrics: z
    .object({
      prometheusUrl: z.string().url().describe('Prometheus that scrapes the service, e.g. http://127.0.0.1:59090'),
      errorRatio: z.string().min(1).describe('PromQL: share of requests answered 5xx; $window is replaced by the measuring window, e.g. 1m'),
      p95Seconds: z.string().min(1).describe('PromQL: 95th percentile response time in seconds; $window as above'),
      maxErrorRatio: z.number().min(0).max(1).default(0.05).describe('verification fails above this share of 5xx'),
      maxP95Seconds: z.number().positive().default(10).describe('verification fails above this p95'),
    })
    .optional()
    .describe('how rollbacks verify the service through Prometheus (5xx rate and p95)'),
});

export const personSchema = z.object({
  roles: z.array(name).min(1).describe('roles checked by approval policies, e.g. sre-lead, dba'),
  email: z.string().email().optional(),
});

export const fsBackupStoreSchema = z
  .object({
    kind: z.literal('fs'),
    dir: z.string().min(1).optional().describe('the directory; default: backups.dir'),
  })
  .strict();

export const s3BackupStoreSchema = z
  .object({
    kind: z.literal('s3'),
    endpoint: z
      .string()
      .url()
      .refine((u) => {
        const p = URL.canParse(u) ? new URL(u) : undefined;
        return !!p && /^https?:$/.test(p.protocol) && !p.username && !p.password;
      }, 'must be an http(s) URL without credentials (they go in accessKeyId and secretAccessKey)')
      .describe('the S3 API, e.g. http://127.0.0.1:59000 (the local stack) or https://s3.eu-west-1.amazonaws.com; path-style addressing'),
    region: z.string().min(1).default('us-east-1').describe('signing region'),
    bucket: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name: 3-63 lower-case letters, digits, dots and dashes')
      .describe('an existing bucket'),
    prefix: z
      .string()
      .refine((p) => {
        try {
          return checkKey(p.replace(/\/+$/, '')) !== undefined;
        } catch {
          return false;
        }
      }, 'must be a relative path such as "backups/prod" (no "..", empty segments or leading "/")')
      .optional()
      .describe('folder of the bucket the backup sets go under; default: the whole bucket'),
    accessKeyId: z.string().min(1).describe('access key id (secret: use ${VAR}, e.g. ${S3_ACCESS_KEY})'),
    secretAccessKey: z.string().min(1).describe('secret access key (secret: use ${VAR}, e.g. ${S3_SECRET_KEY})'),
  })
  .strict();

export const backupStoreSchema = z.discriminatedUnion('kind', [fsBackupStoreSchema, s3BackupStoreSchema]);

export const configSchema = z
  .object({
    services: z.record(name, serviceSchema).describe('services runbooks act on, by target name'),
    postgres: z.record(name, postgresTargetSchema).default({}),
    redis: z.record(name, redisTargetSchema).default({}),
    mongo: z.record(name, mongoTargetSchema).default({}),
    environments: z
      .record(
        name,
        z
          .object({
            rollbackApproval: approvalPolicySchema
              .optional()
              .describe('who must approve an emergency rollback in this environment (none: rollbacks run at once)'),
          })
          .strict(),
      )
      .default({})
      .describe('per-environment policies, by the environment name services declare'),
    people: z.record(name, personSchema).default({}).describe('approver directory: person -> roles'),
    notify: notifySchema,
    incidents: incidentsSchema,
    certificates: z.record(name, certificateSchema).default({}).describe('TLS certificates certificate-renewal keeps valid, by name'),
    audit: z.object({ url: url.describe('postgres URL of the append-only audit store') }),
    api: z
      .object({
        listen: z
          .string()
          .regex(/^[^:]+:\d+$/, 'host:port')
          .default('127.0.0.1:58090')
          .describe('where the HTTP API listens'),
        tokens: z
          .array(
            z.object({
              name: name.describe('what the token is for, shown in logs instead of the token'),
              token: z.string().min(24, 'must be at least 24 characters').describe('bearer token (secret: use ${VAR})'),
              person: name.describe('who calls with it: the identity of its starts and votes (a key of people)'),
              roles: z.array(z.enum(['operator', 'approver', 'admin'])).min(1),
            }),
          )
          .default([])
          .describe('who may call the API: operator starts runs, approver votes, admin cancels'),
      })
      .prefault({})
      .describe('the HTTP API (client/api)'),
    locks: z
      .object({
        holderCheck: z
          .string()
          .refine((s) => parseDuration(s) !== undefined, 'must be a duration such as "30s"')
          .default('30s')
          .describe('how often a target lock checks that its holder still runs (the lease of a dead holder)'),
      })
      .prefault({})
      .transform((l) => ({ holderCheck: l.holderCheck, holderCheckMs: parseDuration(l.holderCheck)! })),
    backups: z.object({
      dir: z.string().min(1).default('.data/backups').describe('where pre-maintenance dumps are written'),
      pgBinDir: z.string().optional().describe('folder holding pg_dump/pg_restore; default: found on PATH'),
      store: backupStoreSchema
        .optional()
        .describe('where backup sets are kept: { kind: "fs", dir } or an S3-compatible bucket { kind: "s3", ... }; default: fs in backups.dir'),
      requireVerifiedWithin: z
        .string()
        .refine((s) => parseDuration(s) !== undefined, 'must be a duration such as "24h"')
        .default('24h')
        .describe('archive-rows and mongo-retention run only when a verified backup newer than this exists'),
      retention: z
        .object({
          maxAge: z
            .string()
            .refine((s) => parseDuration(s) !== undefined, 'must be a duration such as "30d"')
            .default('30d')
            .describe('backup sets older than this are deleted (the newest verified set never is)'),
          keepDaily: z.number().int().min(0).max(366).default(7).describe('also keep the newest verified set of each of the last N days, whatever its age'),
          keepWeekly: z
            .number()
            .int()
            .min(0)
            .max(520)
            .default(4)
            .describe('also keep the newest verified set of each of the last N ISO weeks, whatever its age'),
        })
        .strict()
        .prefault({})
        .describe('what the backup runbook keeps (the input may override it per run)'),
    }),
  })
  .superRefine((cfg, ctx) => {
    for (const [i, t] of cfg.api.tokens.entries()) {
      if (!(t.person in cfg.people)) {
        ctx.addIssue({
          code: 'custom',
          path: ['api', 'tokens', i, 'person'],
          message: `"${t.person}" is not in people; known: ${Object.keys(cfg.people).join(', ') || '(none)'}`,
        });
      }
    }
    const person = (p: string, path: Array<string | number>, what: string) => {
      if (p in cfg.people) return;
      ctx.addIssue({ code: 'custom', path, message: `${what} "${p}" is not in people; known: ${Object.keys(cfg.people).join(', ') || '(none)'}` });
    };
    for (const [i, l] of cfg.incidents.escalation.entries()) {
      for (const [j, p] of l.people.entries()) person(p, ['incidents', 'escalation', i, 'people', j], 'person');
    }
    for (const [aud, list] of Object.entries(cfg.notify.email?.to ?? {})) {
      for (const [j, r] of list.entries()) if (!r.includes('@')) person(r, ['notify', 'email', 'to', aud, j], 'recipient');
    }
    for (const [svcName, svc] of Object.entries(cfg.services)) {
      for (const [i, c] of svc.health.certificates.entries()) {
        if (!(c in cfg.certificates)) {
          ctx.addIssue({
            code: 'custom',
            path: ['services', svcName, 'health', 'certificates', i],
            message: `certificate "${c}" is not configured; known: ${Object.keys(cfg.certificates).join(', ') || '(none)'}`,
          });
        }
      }
      for (const [i, step] of (svc.dataRollback?.steps ?? []).entries()) {
        const owned = step.store === 'mongo' ? svc.mongo : svc.postgres;
        if (!owned.includes(step.target)) {
          ctx.addIssue({
            code: 'custom',
            path: ['services', svcName, 'dataRollback', 'steps', i, 'target'],
            message: `${step.store} target "${step.target}" is not one of the service's (${owned.join(', ') || 'none'})`,
          });
        }
      }
      const refs: Array<[string, string[], Record<string, unknown>]> = [
        ['postgres', svc.postgres, cfg.postgres],
        ['mongo', svc.mongo, cfg.mongo],
        ['redis', [svc.queue?.redis, svc.cache?.redis, svc.bullmq?.redis].filter((n): n is string => !!n), cfg.redis],
        ['postgres', svc.cache ? [svc.cache.postgres] : [], cfg.postgres],
      ];
      for (const [kind, names, known] of refs) {
        for (const n of names) {
          if (!(n in known)) {
            ctx.addIssue({
              code: 'custom',
              path: ['services', svcName, kind],
              message: `${kind} target "${n}" is not configured; known: ${Object.keys(known).join(', ') || '(none)'}`,
            });
          }
        }
      }
    }
  });

export type Config = z.infer<typeof configSchema>;
export type ServiceConfig = z.infer<typeof serviceSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type BackupStoreConfig = z.infer<typeof backupStoreSchema>;
