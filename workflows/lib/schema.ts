// Schema pieces shared by runbook inputs. Pure (zod only), so they run in the workflow sandbox and at the
// edges (HTTP API, CLI) alike: the same rules everywhere, checked once at each edge.
import { z } from 'zod';
import { msToNumber } from '@temporalio/common/lib/time';

/** A Temporal duration string: '90s', '30m', '4h', '2 days'. */
export const duration = z.string().refine(
  (s) => {
    try {
      return msToNumber(s as Parameters<typeof msToNumber>[0]) > 0;
    } catch {
      return false;
    }
  },
  { message: 'must be a positive duration such as "90s", "30m" or "4h"' },
);

export function toMs(d: string): number {
  return msToNumber(d as Parameters<typeof msToNumber>[0]);
}

/** A target or person name as configured: lower-case, digits, dashes. */
export const targetName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be a configured name: lower-case letters, digits and dashes');

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
