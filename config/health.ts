// What the health-check runbook checks per service (seed 002 "Daily Health Check", 004 "Morning
// Checklist"), with thresholds. Postgres, Redis, Mongo, queues, metrics and certificates come from the
// service's own configuration; this adds what only the health check needs.
import { z } from 'zod';
import { parseDuration } from '../common/duration';

const ratio = (def: number) => z.number().min(0).max(1).default(def);

export const healthSchema = z
  .object({
    thresholds: z
      .object({
        pgConnections: ratio(0.8).describe('connections / max_connections must stay below this (seed 002: < 80%)'),
        redisMemory: ratio(0.75).describe('used_memory / maxmemory must stay below this (seed 002: < 75%)'),
        errorRate: ratio(0.05).describe('share of 5xx answers must stay below this'),
        disk: ratio(0.85).describe('used share of each data directory filesystem must stay below this'),
        growth: z.number().positive().default(0.5).describe('weekly: a data store growing by more than this share since last week is a warning'),
        slowQueryMs: z.number().positive().default(1000).describe('weekly: statements whose mean execution time (pg_stat_statements) is above this are slow'),
      })
      .strict()
      .prefault({}),
    metricsUrl: z
      .string()
      .url()
      .optional()
      .describe(
        "the service's Prometheus text endpoint, read for the error rate when metrics.prometheusUrl is not configured or does not answer (default: /metrics beside healthUrl)",
      ),
    errorWindow: z
      .string()
      .refine((s) => parseDuration(s) !== undefined, 'must be a duration such as "15m"')
      .default('15m')
      .describe('the window the error rate is measured over in Prometheus ($window of metrics.errorRatio)'),
    dataDirs: z.array(z.string().min(1)).default([]).describe('directories whose filesystem usage is checked'),
    jobs: z
      .array(
        z
          .object({
            name: z.string().min(1).max(80),
            redisKey: z.string().min(1).describe('a key of the queue redis target holding the last completion time (ms since epoch)'),
            maxAge: z
              .string()
              .refine((s) => parseDuration(s) !== undefined, 'must be a duration such as "1h"')
              .describe('older than this: the job is stale'),
          })
          .strict(),
      )
      .default([])
      .describe('background-job freshness: when each job last completed'),
    certificates: z.array(z.string().min(1)).default([]).describe('certificates (keys of certificates) whose days to expiry are reported'),
  })
  .strict();

export type HealthConfig = z.infer<typeof healthSchema>;
