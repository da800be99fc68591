// Names the incident configuration (config/incidents.ts) and the incident runbook share: the severity levels
// of seed 002 and how an escalation level's `after` reads (zero allowed: the on-call level goes out at once).
import { parseDuration } from './duration';

export const INCIDENT_SEVERITIES = ['P0', 'P1', 'P2', 'P3'] as const;
export type IncidentSeverity = (typeof INCIDENT_SEVERITIES)[number];

/** Milliseconds of an escalation level's `after`: a duration, or zero ("0s", "0") for at once. */
export function afterMs(s: string): number | undefined {
  if (typeof s === 'string' && /^\s*0+(\.0+)?\s*[a-z]*\s*$/i.test(s)) return 0;
  return parseDuration(s);
}
