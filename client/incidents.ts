// Steering a running incident from the CLI and the HTTP API: acknowledge, post a status update, resolve.
// Each goes through the incident's Update, whose validator refuses a bad message before it enters
// history; the arguments are checked here first with the same schemas, so the caller hears why at once.
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import {
  acknowledgeArgsSchema,
  acknowledgeUpdate,
  INCIDENT_MESSAGE_REFUSED,
  incidentQuery,
  resolveArgsSchema,
  resolveUpdate,
  statusArgsSchema,
  statusUpdate,
  type AcknowledgeArgs,
  type ResolveArgs,
  type StatusUpdateArgs,
} from '../workflows/incident/contract';
import { describeIssues } from '../workflows/lib/validate';

/** The incident refused the message (unknown person, already resolved, empty text): say why, exit 2 / 409. */
export class IncidentRefusedError extends Error {
  override name = 'IncidentRefusedError';
}

/** The message is malformed before it is sent (400). */
export class IncidentArgsError extends Error {
  override name = 'IncidentArgsError';
}

function check<S extends z.ZodType>(what: string, schema: S, args: unknown): z.output<S> {
  const r = schema.safeParse(args);
  if (!r.success) throw new IncidentArgsError(`invalid ${what}: ${describeIssues(r.error)}`);
  return r.data;
}

async function send(what: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause;
      if (cause instanceof ApplicationFailure && cause.type === INCIDENT_MESSAGE_REFUSED) throw new IncidentRefusedError(`${what} refused: ${cause.message}`);
      throw new Error(`${what} could not be completed: ${cause?.message ?? err.message}`);
    }
    throw err;
  }
}

export type IncidentMessage =
  { kind: 'acknowledge'; args: AcknowledgeArgs } | { kind: 'status'; args: StatusUpdateArgs } | { kind: 'resolve'; args: ResolveArgs };

/** Sends one message to the incident `workflowId`; resolves once it was applied (and its notification sent). */
export async function sendIncidentMessage(client: Client, workflowId: string, m: IncidentMessage) {
  const h = client.workflow.getHandle(workflowId);
  if (m.kind === 'acknowledge') {
    const args = check('acknowledge', acknowledgeArgsSchema, m.args);
    await send('acknowledge', () => h.executeUpdate(acknowledgeUpdate, { args: [args] }));
  } else if (m.kind === 'status') {
    const args = check('status update', statusArgsSchema, m.args);
    await send('status update', () => h.executeUpdate(statusUpdate, { args: [args] }));
  } else {
    const args = check('resolve', resolveArgsSchema, m.args);
    await send('resolve', () => h.executeUpdate(resolveUpdate, { args: [args] }));
  }
  // A resolved incident ends at once; its final state is then in its result, not worth failing over.
  return h.query(incidentQuery).catch(() => undefined);
}
