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
      })
      .strict()
      .prefault({}),
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
