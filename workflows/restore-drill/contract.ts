// The restore-drill runbook's contract (seed 002 Backup Strategy > Verification: "Test restore on staging,
// verify data integrity"): input schema, result, example input, scratch names and the summary lines.
import { z } from 'zod';
import type { DrillSet, SourceComparison } from '../../activities';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, targetName } from '../lib/schema';

export const restoreDrillInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service whose backup set to restore, e.g. "reports"'),
    setId: z
      .string()
      .regex(/^\d{8}T\d{6}Z-[a-z0-9]{1,8}$/, 'must be a backup set id such as 20261126T031500Z-ab12cd34')
      .optional()
      .describe('the backup set to restore; default the newest verified set of the service'),
    keepScratch: z.boolean().default(false).describe('keep the scratch copies after the run (to inspect them); default: drop them, also when the run fails'),
    replace: z.boolean().default(false).describe('restore over scratch copies of the same name that already exist (a kept earlier drill of this run key)'),
  })
  .strict();

export type RestoreDrillInput = z.input<typeof restoreDrillInputSchema>;
export type RestoreDrillParams = z.output<typeof restoreDrillInputSchema>;

/** One restored source: what the manifest recorded and what the scratch copy holds. */
export interface DrillSourceResult extends SourceComparison {
  restoreMs: number;
  bytes: number;
}

export interface RestoreDrillResult extends RunbookResult {
  service: string;
  setId?: string;
  setFinishedAt?: string;
  /** Recovery time measured: from the start of the first restore to the comparison proving the copies equal. */
  rtoMs?: number;
  /** Recovery point: the backup's age when the drill ran (now − the set's finishedAt). */
  rpoMs?: number;
  sources: DrillSourceResult[];
  /** Every difference between the restored copies and the manifest (a completed drill has none). */
  differences: string[];
  scratch: { kept: boolean; names: string[]; dropped: string[] };
}

/** Scratch names of one run: `drill_<set id>_<run>` (Postgres, Mongo; ≤ 63 characters) and `drill:<set id>:<run>:`. */
export function scratchNames(setId: string, runKey: string): { database: string; redisPrefix: string } {
  const set = setId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 40);
  // The run id's end: its start is a timestamp (UUIDv7), the same for runs started close together.
  const run = runKey
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')
    .slice(-8);
  return { database: `drill_${set}_${run}`, redisPrefix: `drill:${setId}:${run}:` };
}

export function exampleRestoreDrillInput(): RestoreDrillInput {
  return { service: 'reports', requestedBy: 'bob', reason: 'prove the newest backup restores (weekly drill)' };
}

/** `1h 02m`, `12.3s`: how long, for people. */
export function humanMs(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.round(ms / 60_000);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

const UNIT = { postgres: ['tables', 'rows'], mongo: ['collections', 'documents'], redis: ['keys', 'keys'] } as const;

export function describeSource(s: SourceComparison): string {
  const [items, rows] = UNIT[s.store];
  const counts = items === rows ? `${s.restored.rows} ${rows}` : `${s.restored.items} ${items}, ${s.restored.rows} ${rows}`;
  return `${s.store} ${s.target} -> ${s.scratch}: ${counts}${s.differences.length ? `, ${s.differences.length} difference(s)` : ', equal to the manifest'}`;
}

export function describeSet(s: DrillSet): string {
  return `set ${s.setId} (finished ${s.finishedAt}, ${(s.totalBytes / 1024 / 1024).toFixed(1)} MB, ${s.sources.map((x) => `${x.store} ${x.target}`).join(', ')}${s.verified ? '' : ', NOT verified'})`;
}

export function summarizeRestoreDrill(r: RestoreDrillResult): string[] {
  return [
    `set: ${r.setId ?? '(none)'}${r.setFinishedAt ? ` (finished ${r.setFinishedAt})` : ''}`,
    `RTO (restore to verified): ${r.rtoMs === undefined ? 'not measured' : humanMs(r.rtoMs)}; RPO (backup age): ${r.rpoMs === undefined ? 'not measured' : humanMs(r.rpoMs)}`,
    ...r.sources.map(describeSource),
    ...r.differences.slice(0, 20).map((d) => `DIFFERENCE ${d}`),
    r.scratch.kept ? `scratch copies kept: ${r.scratch.names.join(', ')}` : `scratch copies dropped: ${r.scratch.dropped.join(', ') || 'none'}`,
  ];
}
