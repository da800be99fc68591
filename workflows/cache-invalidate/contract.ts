// The cache-invalidate runbook's contract (seed 002 "Scheduled Invalidation", and the seeds' ad-hoc
// `KEYS ... | xargs DEL`): input schema, result, example input and summary lines.
import { z } from 'zod';
import type { RunbookResult } from '../lib/result';
import { startCommand } from '../lib/commands';
import { baseInputShape, duration, targetName } from '../lib/schema';

/** A user id as cache keys carry it: `<prefix><id>:<metric>`. No glob characters, so `<prefix><id>:*` is exact. */
export const cacheUserId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a user id of 1-64 letters, digits, _ and - (no glob characters)');

const GLOB_START = /^[*?[\\]/;

export const cacheInvalidateInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('configured service whose cache (services.<service>.cache) to act on, e.g. "reports"'),
    pattern: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .describe('a Redis glob of the keys to unlink, absolute (e.g. "analytics:42:*"); must stay inside cache.prefix unless force'),
    users: z
      .array(cacheUserId)
      .min(1)
      .max(1000)
      .optional()
      .describe('unlink every cached metric of these users: each becomes the pattern <cache.prefix><id>:*'),
    ttlHygiene: z.boolean().default(false).describe('give every key under the cache prefix that has no TTL one (EXPIRE NX; never deletes)'),
    ttl: duration('30d').optional().describe('ttlHygiene: the TTL to set (default config cache.ttl)'),
    hitRateCheck: z.boolean().default(false).describe("measure the cache's hit rate over hitRateWindow after the other steps"),
    hitRateWindow: duration('10m').optional().describe('hitRateCheck: how long to count lookups (default 30s)'),
    warnBelow: z.number().min(0).max(1).optional().describe('hitRateCheck: a rate below this is a warning (default config cache.hitRate.warnBelow)'),
    actBelow: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe('hitRateCheck: a rate below this tells the stakeholders to warm the cache (default config cache.hitRate.actBelow)'),
    force: z
      .boolean()
      .default(false)
      .describe('allow a pattern outside the cache prefix or matching more than cache.maxInvalidate keys (outside local: needs an sre-lead approval)'),
    batchSize: z.number().int().min(1).max(10_000).default(1000).describe('SCAN COUNT, and the most keys one UNLINK removes'),
  })
  .strict()
  .superRefine((i, ctx) => {
    // Refinements run even when a field failed its own check: look at each value's type before using it.
    const hasPattern = typeof i.pattern === 'string';
    const hasUsers = Array.isArray(i.users) && i.users.length > 0;
    if (!hasPattern && !hasUsers && i.ttlHygiene !== true && i.hitRateCheck !== true)
      ctx.addIssue({ code: 'custom', path: [], message: 'nothing to do: give pattern and/or users, or set ttlHygiene or hitRateCheck' });
    if (hasPattern && i.force !== true && GLOB_START.test(i.pattern!))
      ctx.addIssue({
        code: 'custom',
        path: ['pattern'],
        message: `"${i.pattern}" starts with a glob character, so it matches keys of every kind, not only the cache: start it with the cache prefix (e.g. "analytics:42:*"), or set force: true`,
      });
    if (hasUsers && new Set(i.users).size !== i.users!.length) ctx.addIssue({ code: 'custom', path: ['users'], message: 'must not name a user twice' });
    if (i.ttl !== undefined && i.ttlHygiene !== true) ctx.addIssue({ code: 'custom', path: ['ttl'], message: 'applies to ttlHygiene: true only' });
    for (const f of ['hitRateWindow', 'warnBelow', 'actBelow'] as const)
      if (i[f] !== undefined && i.hitRateCheck !== true) ctx.addIssue({ code: 'custom', path: [f], message: 'applies to hitRateCheck: true only' });
    if (typeof i.warnBelow === 'number' && typeof i.actBelow === 'number' && i.warnBelow < i.actBelow)
      ctx.addIssue({
        code: 'custom',
        path: ['warnBelow'],
        message: `must be at least actBelow (${i.actBelow}): a rate low enough to act on is also worth a warning`,
      });
  });

export type CacheInvalidateInput = z.input<typeof cacheInvalidateInputSchema>;
export type CacheInvalidateParams = z.output<typeof cacheInvalidateInputSchema>;

export type HitRateStatus = 'ok' | 'warn' | 'act' | 'no-lookups';

export interface PatternOutcome {
  pattern: string;
  /** Keys it matched when the run counted them (resolve). */
  matched: number;
  /** Of those, protected keys: left alone. */
  protected: number;
  /** Unlinked by the run (absent in a dry run, or when the run stopped before). */
  unlinked?: number;
  sample: string[];
}

export interface CacheInvalidateResult extends RunbookResult {
  service: string;
  patterns: PatternOutcome[];
  unlink?: { unlinked: number; protectedSkipped: number; scanCalls: number; ms: number; keysPerSecond: number };
  ttl?: { seconds: number; scanned: number; fixed: number };
  hitRate?: { rate: number | null; hits: number; misses: number; windowMs: number; warnBelow: number; actBelow: number; status: HitRateStatus };
}

export function exampleCacheInvalidateInput(): CacheInvalidateInput {
  return { service: 'reports', requestedBy: 'bob', reason: "user 42's reports changed: drop their cached metrics", users: ['42'] };
}

/** `12,345`: counts for people, the same in every locale. */
export function count(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export const pct = (r: number): string => `${(r * 100).toFixed(1)}%`;

/** `unlink 12,345 keys matching "analytics:42:*" (3 protected, left alone)` */
export function describePattern(p: Pick<PatternOutcome, 'pattern' | 'matched' | 'protected'>): string {
  const n = p.matched - p.protected;
  return `unlink ${count(n)} key${n === 1 ? '' : 's'} matching "${p.pattern}"${p.protected ? ` (${count(p.protected)} protected, left alone)` : ''}`;
}

/** The exact command that warms the cache (cache-warm's input on stdin), for a person to run. */
export function warmCommand(service: string, requestedBy: string, reason: string): string {
  return startCommand('cache-warm', { service, requestedBy, reason });
}

export function hitRateStatus(rate: number | null, warnBelow: number, actBelow: number): HitRateStatus {
  if (rate === null) return 'no-lookups';
  if (rate < actBelow) return 'act';
  if (rate < warnBelow) return 'warn';
  return 'ok';
}

export function summarizeCacheInvalidate(r: CacheInvalidateResult): string[] {
  const lines = r.patterns.map(
    (p) =>
      `${p.pattern}: matched ${count(p.matched)}${p.protected ? ` (${count(p.protected)} protected, left alone)` : ''}` +
      (p.unlinked !== undefined ? `, unlinked ${count(p.unlinked)}` : r.outcome === 'dry-run' ? ' (dry run: nothing unlinked)' : ', not unlinked'),
  );
  if (r.unlink)
    lines.push(
      `unlinked ${count(r.unlink.unlinked)} key(s) in ${(r.unlink.ms / 1000).toFixed(1)}s (${count(r.unlink.keysPerSecond)} keys/s, ${count(r.unlink.scanCalls)} SCAN calls)`,
    );
  if (r.ttl) lines.push(`TTL hygiene: ${count(r.ttl.fixed)} of ${count(r.ttl.scanned)} key(s) under the prefix had no TTL and got ${r.ttl.seconds}s`);
  if (r.hitRate) {
    const h = r.hitRate;
    lines.push(
      h.rate === null
        ? `hit rate: no lookups in ${Math.round(h.windowMs / 1000)}s`
        : `hit rate ${pct(h.rate)} (${count(h.hits)} hits, ${count(h.misses)} misses over ${Math.round(h.windowMs / 1000)}s): ${h.status}` +
            (h.status === 'ok' ? '' : ` (warn below ${pct(h.warnBelow)}, act below ${pct(h.actBelow)})`),
    );
  }
  return lines;
}
