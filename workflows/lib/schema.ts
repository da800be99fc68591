// Schema pieces shared by runbook inputs. Pure (zod only), so they run in the workflow sandbox and at the
// edges (HTTP API, CLI) alike: the same rules everywhere, checked once at each edge. Every duration and
// count has a maximum, so no valid input can make a run's history grow without bound.
import { z } from 'zod';
import { durationMs, parseDuration } from '../../common/duration';

/** A duration string ('90s', '30m', '4h', '2 days') of at most `max`. */
export function duration(max: string): z.ZodString {
  const maxMs = durationMs(max);
  return z.string().superRefine((s, ctx) => {
    const n = parseDuration(s);
    if (n === undefined) ctx.addIssue({ code: 'custom', message: 'must be a positive duration such as "90s", "30m" or "4h"' });
    else if (n > maxMs) ctx.addIssue({ code: 'custom', message: `must be at most ${max}` });
  });
}

export const toMs = durationMs;

/** A target or person name as configured: lower-case, digits, dashes. */
export const targetName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be a configured name: lower-case letters, digits and dashes');

/**
 * A Postgres relation name, optionally schema-qualified: letters, digits, underscores. Anything else
 * (quotes, semicolons, spaces) is refused here, and the activity quotes it with the driver's helper anyway.
 */
export const relationName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/,
    'must be a plain table name like "reports" or "public.reports" (letters, digits, underscores)',
  );

/** A MongoDB collection name without the characters that address other namespaces. */
export const collectionName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,119}$/, 'must be a collection name (letters, digits, _ . -)')
  .refine((s) => !s.startsWith('system.'), 'system collections are not maintenance targets');

export const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 time like 2026-11-24T22:00:00Z' });

export const person = targetName;

/**
 * Fields every runbook input has. `historyLimit` bounds one run's event history: past it (or when Temporal
 * suggests it) a long step continues as new, carrying its state. Lower it only to test that path.
 */
export const baseInputShape = {
  requestedBy: person.describe('who asks for this run; cannot approve it'),
  reason: z.string().max(500).optional().describe('shown to approvers and in notifications'),
  dryRun: z.boolean().default(false).describe('validate, resolve targets and return the plan; change nothing'),
  onConflict: z.enum(['wait', 'refuse']).default('wait').describe('another run holds the same target: wait for it (bounded) or refuse at once'),
  historyLimit: z.number().int().min(200).max(40_000).default(10_000).describe('continue as new past this many history events'),
  incident: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'must be the workflow id of a running incident (letters, digits and _ . : -)')
    .optional()
    .describe('workflow id of the incident this run is part of: the run tells it when it begins changing things and how it ended'),
};
