// What an incident needs from configuration, read once when it is declared (seed 002 severities, 003
// process): its severity's audience and paging, the update interval, the escalation ladder, and the names
// of the configured people (no contact details), so the workflow can refuse messages from unknown people.
import type { Deps } from './deps';
import { InvalidTargetError } from './errors';

export interface IncidentLevel {
  level: string;
  people: string[];
  after: string;
}

export interface IncidentSettings {
  severity: { level: string; description: string; respondWithin: string; page: boolean; audience: 'stakeholders' | 'escalation' };
  updateEvery: string;
  escalation: IncidentLevel[];
  /** Keys of people: who may acknowledge, post updates and resolve. */
  people: string[];
  /** The configured service it is about, when it names one. */
  service?: string;
}

export type IncidentActivities = ReturnType<typeof createIncidentActivities>;

export function createIncidentActivities(deps: Deps) {
  return {
    /** Errors name the input field (non-retryable InvalidTargetError): the run fails as invalid input. */
    async resolveIncident(input: {
      severity: 'P0' | 'P1' | 'P2' | 'P3';
      service?: string;
      updateEvery?: string;
      escalation?: IncidentLevel[];
    }): Promise<IncidentSettings> {
      const { incidents, people, services } = deps.config;
      const known = Object.keys(people);
      if (input.service !== undefined && !services[input.service]) {
        throw new InvalidTargetError(`service: "${input.service}" is not configured; known services: ${Object.keys(services).join(', ') || '(none)'}`);
      }
      const ladder = input.escalation ?? incidents.escalation;
      const field = input.escalation ? 'escalation' : 'incidents.escalation (configuration)';
      for (const [i, l] of ladder.entries())
        for (const [j, p] of l.people.entries())
          if (!known.includes(p))
            throw new InvalidTargetError(`${field}[${i}].people[${j}]: "${p}" is not a configured person; known: ${known.join(', ') || '(none)'}`);
      const sev = incidents.severities[input.severity];
      return {
        severity: { level: input.severity, ...sev },
        updateEvery: input.updateEvery ?? incidents.updateEvery,
        escalation: ladder.map((l) => ({ level: l.level, people: [...l.people], after: l.after })),
        people: known,
        ...(input.service !== undefined ? { service: input.service } : {}),
      };
    },
  };
}
