// Incident response (seed 002 "Severity Levels", 003 "Incident Response Process"): what each severity
// means and who hears of it, how often status updates go out, and the escalation ladder followed while
// nobody acknowledges (on-call -> team lead -> engineering manager).
import { z } from 'zod';
import { parseDuration } from '../common/duration';
import { afterMs, INCIDENT_SEVERITIES, type IncidentSeverity } from '../common/incidents';

const name = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes, starting with a letter');
const duration = (def: string) =>
  z
    .string()
    .refine((s) => parseDuration(s) !== undefined, 'must be a duration such as "15m"')
    .default(def);

export { afterMs, INCIDENT_SEVERITIES, type IncidentSeverity };

export const escalationLevelSchema = z
  .object({
    level: name.describe('e.g. on-call, team-lead, engineering-manager'),
    people: z.array(name).min(1).describe('people (keys of people) notified at this level'),
    after: z
      .string()
      .refine((s) => afterMs(s) !== undefined, 'must be a duration such as "15m" (or "0s": at once)')
      .default('0s')
      .describe('time since the incident was declared, unacknowledged, before this level is notified'),
  })
  .strict();

const severitySchema = (d: { description: string; respondWithin: string; page: boolean; notify: 'stakeholders' | 'escalation' }) =>
  z
    .object({
      description: z.string().default(d.description),
      respondWithin: duration(d.respondWithin).describe('seed 002 "Response time"'),
      page: z.boolean().default(d.page).describe('page through PagerDuty (when configured)'),
      audience: z.enum(['stakeholders', 'escalation']).default(d.notify).describe('who hears of the declaration'),
    })
    .strict()
    .prefault({});

export const incidentsSchema = z
  .object({
    updateEvery: duration('15m').describe('status updates go out this often until resolved (seed 003)'),
    severities: z
      .object({
        P0: severitySchema({ description: 'complete outage, data loss or corruption, security breach', respondWithin: '0s', page: true, notify: 'escalation' }),
        P1: severitySchema({
          description: 'partial outage, severe degradation (>10s responses), background jobs failing',
          respondWithin: '1h',
          page: true,
          notify: 'escalation',
        }),
        P2: severitySchema({
          description: 'minor performance issues, a non-critical feature unavailable, cache failures',
          respondWithin: '4h',
          page: false,
          notify: 'stakeholders',
        }),
        P3: severitySchema({ description: 'cosmetic issues, documentation errors, minor bugs', respondWithin: '24h', page: false, notify: 'stakeholders' }),
      })
      .strict()
      .prefault({}),
    escalation: z
      .array(escalationLevelSchema)
      .default([])
      .refine((ls) => ls.every((l, i) => i === 0 || afterMs(l.after)! > afterMs(ls[i - 1]!.after)!), 'each level must come later than the one before')
      .describe('the ladder, first level first; each level is notified when the incident is still unacknowledged `after` its declaration'),
  })
  .strict()
  .prefault({})
  .describe('incident response (the incident runbook)');

export type IncidentsConfig = z.infer<typeof incidentsSchema>;
