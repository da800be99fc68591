// The backup runbook's contract (seed 002 Backup Strategy: daily full backup, 30-day retention; 004 Backup
// Schedule: MongoDB and Redis): input schema, result, example input and the summary lines.
import { z } from 'zod';
import type { FileRef } from '../../activities/backups/contract';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, targetName } from '../lib/schema';

export const BACKUP_STORES = ['postgres', 'mongo', 'redis'] as const;

export const backupInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service whose data stores to back up, e.g. "reports"'),
    stores: z
      .array(z.enum(BACKUP_STORES))
      .min(1)
      .default([...BACKUP_STORES])
      .refine((s) => new Set(s).size === s.length, 'must not name a store twice')
      .describe("which of the service's data stores to back up (every one it has a target of by default)"),
    redisMode: z
      .enum(['keys', 'rdb'])
      .default('keys')
      .describe(
        'keys: DUMP of every key (under redisPrefix), works against any server; rdb: BGSAVE and copy the RDB file (the server must share the worker’s disk)',
      ),
    redisPrefix: z.string().min(1).max(200).optional().describe('mode keys: only keys starting with this (default every key of the database)'),
    retention: z.boolean().default(true).describe('after the set is verified, delete the sets the retention policy lets go'),
    retentionDays: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .optional()
      .describe('delete sets older than this many days (default config backups.retention.maxAge, 30d)'),
    keepDaily: z.number().int().min(0).max(366).optional().describe('also keep the newest verified set of each of the last N days (default config)'),
    keepWeekly: z.number().int().min(0).max(520).optional().describe('also keep the newest verified set of each of the last N weeks (default config)'),
  })
  .strict()
  .superRefine((i, ctx) => {
    if (i.redisPrefix !== undefined && i.redisMode !== 'keys')
      ctx.addIssue({ code: 'custom', path: ['redisPrefix'], message: 'applies to redisMode "keys" only (an RDB snapshot holds every key)' });
  });

export type BackupInput = z.input<typeof backupInputSchema>;
export type BackupParams = z.output<typeof backupInputSchema>;

/** One source of the set, for people and dashboards. */
export interface BackupSourceSummary {
  store: 'postgres' | 'mongo' | 'redis';
  target: string;
  /** Tables, collections or keys files. */
  files: number;
  bytes: number;
  /** Rows, documents or keys. */
  items: number;
  /** What `items` counts, and in how many tables/collections. */
  what: string;
  ms: number;
  /** An earlier attempt's verified objects were reused (a retry after a worker crash). */
  reused: boolean;
}

export interface BackupResult extends RunbookResult {
  service: string;
  setId: string;
  /** The store's location (a directory or s3://…), never a secret. */
  location: string;
  sources: BackupSourceSummary[];
  totalBytes: number;
  manifest?: FileRef;
  /** Every object was read back and matched the manifest. */
  verified: boolean;
  verifyMs?: number;
  retention?: { kept: number; deleted: Array<{ setId: string; why: string }> };
}

export function exampleBackupInput(): BackupInput {
  return { service: 'reports', requestedBy: 'bob', reason: 'backup before a risky change' };
}

/** `1.2 MB`: a size for people. */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

export function describeSource(s: BackupSourceSummary): string {
  return `${s.store} ${s.target}: ${s.what}, ${humanBytes(s.bytes)} in ${s.files} file(s), ${(s.ms / 1000).toFixed(1)}s${s.reused ? ' (reused from an earlier attempt)' : ''}`;
}

export function summarizeBackup(r: BackupResult): string[] {
  const lines = [
    `set ${r.service}/${r.setId} at ${r.location}: ${humanBytes(r.totalBytes)}, ${r.verified ? `verified${r.verifyMs !== undefined ? ` in ${(r.verifyMs / 1000).toFixed(1)}s` : ''}` : 'NOT verified'}`,
    ...r.sources.map(describeSource),
  ];
  if (r.retention)
    lines.push(
      r.retention.deleted.length
        ? `retention: kept ${r.retention.kept} set(s), deleted ${r.retention.deleted.map((d) => `${d.setId} (${d.why})`).join(', ')}`
        : `retention: kept ${r.retention.kept} set(s), nothing to delete`,
    );
  return lines;
}
