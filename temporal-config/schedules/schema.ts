// What a schedule declaration is, and the checks `schedules apply` makes before anything reaches the
// server: the declaration's own fields, the runbook it names, and its input against that runbook's schema.
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { parseDuration } from '../../common/duration';

/** How a schedule treats a start while the previous run is still running (Temporal's overlap policies). */
export const OVERLAP_POLICIES = ['skip', 'buffer-one', 'buffer-all', 'cancel-other', 'terminate-other', 'allow-all'] as const;
export type OverlapPolicyName = (typeof OVERLAP_POLICIES)[number];

const durationText = (what: string) =>
  z.string().refine((s) => parseDuration(s) !== undefined, `${what} must be a positive duration such as "30s", "10m" or "6h"`);

/**
 * A five-field cron expression in UTC: minute hour day-of-month month day-of-week. Checked field by field
 * (cron-parser) so a typo is refused before it reaches the server. As in Temporal (and unlike Vixie
 * cron), a day-of-month and a day-of-week that are both restricted must both match: `0 2 1-7 * SUN` is
 * the first Sunday of the month.
 */
export const cronText = z.string().superRefine((s, ctx) => {
  const fields = s.trim().split(/\s+/);
  if (fields.length !== 5 || s.includes('@') || /TZ=/i.test(s)) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a five-field cron expression (minute hour day-of-month month day-of-week, UTC)` });
    return;
  }
  try {
    CronExpressionParser.parse(s, { tz: 'UTC' });
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a valid cron expression: ${(err as Error).message}` });
  }
});

export const whenSchema = z.union([
  z.object({ cron: cronText }).strict(),
  z
    .object({
      every: durationText('every'),
      offset: durationText('offset').optional().describe('phase from the epoch-aligned interval, e.g. every 6h offset 30m'),
    })
    .strict(),
]);

const idText = z.string().regex(/^[a-z][a-z0-9-]{1,62}$/, 'must be kebab case: lower-case letters, digits and dashes');

export const scheduleDeclarationSchema = z
  .object({
    id: idText,
    title: z.string().min(1).max(120),
    seed: z.string().min(1).describe('the seed routine this schedules, quoted: file and section'),
    runbook: idText.describe('the runbook CLI name (npm run runbook -- runbooks)'),
    input: z.record(z.string(), z.unknown()),
    when: whenSchema,
    overlap: z.enum(OVERLAP_POLICIES),
    catchupWindow: durationText('catchupWindow').describe('a start missed (server down) is still taken this long after its time'),
    jitter: durationText('jitter').optional().describe('each start is delayed by a random amount up to this'),
    paused: z.boolean().default(false),
    pauseOnFailure: z.boolean().default(false).describe('pause the schedule when a run fails'),
    /** The runbook does not exist yet: listed, never created. Remove it (and check the input) when it lands. */
    waitingFor: z.string().min(1).optional().describe('the issue that brings the runbook, e.g. "issue 11"'),
  })
  .strict();

export type ScheduleDeclarationInput = z.input<typeof scheduleDeclarationSchema>;
export type ScheduleDeclaration = z.output<typeof scheduleDeclarationSchema>;
