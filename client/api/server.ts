// The HTTP API: how people and alerting systems start and steer runbooks. A thin layer over the registry
// and client/runbooks.ts, like the CLI. Every body and parameter is validated with the runbooks' own zod
// schemas (the OpenAPI document is generated from the same schemas); malformed input is a 4xx naming the
// field, never a 5xx. Roles: operator starts and cancels, approver votes, admin may do everything.
import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { RunbookStatus } from '../../common/search-attributes';
import type { Config } from '../../config/schema';
import { platformForService } from '../../activities/platform/for-service';
import { describeIssues } from '../../workflows/lib/validate';
import { inbox } from '../inbox';
import { IncidentArgsError, IncidentRefusedError, sendIncidentMessage, type IncidentMessage } from '../incidents';
import { RUNBOOKS, runbookByType, type RunbookEntry } from '../registry';
import { castVote, describeRun, InputError, runbookWorkflowId, startRunbookRun, VoteRefusedError } from '../runbooks';
import { alertmanagerWebhook } from './alertmanager';
import { TokenDirectory, type Principal, type Role } from './auth';
import { openApiDocument } from './openapi';

export interface ApiOptions {
  client: Client;
  config: Config;
  taskQueue: string;
  /** Base URL of the Temporal Web UI, for links in answers. */
  uiUrl?: string;
  namespace?: string;
  logger?: boolean | Record<string, unknown>;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const idParam = z.object({ id: z.string().min(1).max(400) });
const voteBody = z.object({ comment: z.string().max(2000).optional() }).strict();
const listQuery = z
  .object({
    status: z
      .string()
      .regex(/^[a-z-]{1,40}$/, 'a run status such as awaiting-approval')
      .optional(),
    runbook: z
      .string()
      .regex(/^[a-z][a-z-]{0,62}$/, 'a runbook name such as maintenance-window')
      .optional(),
    target: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,62}$/, 'a target name such as reports')
      .optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();
const idempotencyKey = z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'letters, digits and _ . : - (at most 200)');

function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, `invalid ${where}: ${describeIssues(r.error)}`);
  return r.data;
}

function entryByName(name: string): RunbookEntry {
  const e = RUNBOOKS.find((r) => r.name === name);
  if (!e) throw new HttpError(404, `no runbook "${name.slice(0, 100)}"; known runbooks: ${RUNBOOKS.map((r) => r.name).join(', ')}`);
  return e;
}

function need(req: FastifyRequest, ...roles: Role[]): Principal {
  const p = req.principal!;
  if (!p.roles.includes('admin') && !roles.some((r) => p.roles.includes(r))) {
    throw new HttpError(403, `this needs role ${roles.join(' or ')}; token "${p.token}" has ${p.roles.join(', ')}`);
  }
  return p;
}

export async function createApi(opts: ApiOptions): Promise<FastifyInstance> {
  const { client, taskQueue } = opts;
  const tokens = new TokenDirectory(opts.config.api.tokens);
  const ui = opts.uiUrl && opts.namespace ? `${opts.uiUrl}/namespaces/${opts.namespace}/workflows/` : undefined;
  const links = (id: string) => ({ self: `/runs/${encodeURIComponent(id)}`, ...(ui ? { ui: `${ui}${encodeURIComponent(id)}` } : {}) });
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 256 * 1024, routerOptions: { maxParamLength: 400 } });
  /** The service's deployment revision now, or undefined when it cannot be read (then no completed run is joined). */
  const revisionOf = async (service: string): Promise<number | undefined> => {
    const svc = opts.config.services[service];
    if (!svc) return undefined;
    try {
      return (await platformForService(service, svc).deployment()).current.revision;
    } catch (err) {
      app.log.warn({ service, err: (err as Error).message }, 'could not read the deployment revision');
      return undefined;
    }
  };

  // Public: liveness and the API's own description. Everything else needs a token.
  const open = new Set(['/health', '/openapi.json']);
  app.addHook('onRequest', async (req) => {
    if (open.has(req.routeOptions.url ?? '')) return;
    const p = tokens.authenticate(req.headers.authorization);
    if (!p) throw new HttpError(401, 'needs Authorization: Bearer <token> with a token from the configuration');
    req.principal = p;
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply: FastifyReply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).header('cache-control', 'no-store').send({ error: err.message });
    if (err instanceof WorkflowNotFoundError) return reply.code(404).send({ error: `no run "${err.workflowId ?? ''}"` });
    // Fastify's own refusals of a request (bad JSON, wrong content type, too large) keep their 4xx.
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    reply.log.error({ err }, 'request failed');
    const unavailable = /UNAVAILABLE|ECONNREFUSED|deadline/i.test(err.message);
    return reply.code(unavailable ? 503 : 500).send({ error: unavailable ? 'Temporal is not reachable; try again' : 'internal error' });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'no such route; see GET /openapi.json' }));

  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/openapi.json', async () => openApiDocument());

  app.get('/runbooks', async () => RUNBOOKS.map((r) => ({ name: r.name, workflowType: r.workflowType, summary: r.summary, example: r.example() })));

  app.post('/runbooks/:name/runs', async (req, reply) => {
    const me = need(req, 'operator');
    const entry = entryByName((req.params as { name: string }).name);
    const body = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'invalid body: (input): must be a JSON object');
    const input = { ...(body as Record<string, unknown>) };
    if (input.requestedBy !== undefined && input.requestedBy !== me.person) {
      throw new HttpError(400, `invalid body: requestedBy: comes from your token (${me.person}); leave it out`);
    }
    input.requestedBy = me.person;
    const parsed = entry.parse(input);
    if (!parsed.ok) throw new HttpError(400, parsed.error);
    const rawKey = req.headers['idempotency-key'];
    const key = rawKey === undefined ? undefined : parse(idempotencyKey, rawKey, 'Idempotency-Key header');
    if (entry.dedupe && !parsed.dryRun) {
      // One run per dedupe key and window (an emergency rollback per service), whoever asks and however often.
      const run = await startRunbookRun(client, entry, input, { taskQueue, currentRevision: () => revisionOf(parsed.target) });
      return reply
        .code(run.created ? 201 : 200)
        .send({ workflowId: run.workflowId, runId: run.runId, runbook: entry.name, created: run.created, links: links(run.workflowId) });
    }
    // The same key from the same person for the same runbook is the same run, however often it is sent.
    const workflowId = key
      ? `${entry.idPrefix}-${parsed.target}-${createHash('sha256').update(`${entry.name}\n${me.person}\n${key}`).digest('hex').slice(0, 20)}`
      : runbookWorkflowId(entry, parsed.target);
    try {
      const h = await client.workflow.start(entry.workflowType, { taskQueue, workflowId, args: [input], workflowIdReusePolicy: 'REJECT_DUPLICATE' });
      return reply.code(201).send({ workflowId, runId: h.firstExecutionRunId, runbook: entry.name, created: true, links: links(workflowId) });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError) || !key) throw err;
      const d = await client.workflow.getHandle(workflowId).describe();
      return reply.code(200).send({ workflowId, runId: d.runId, runbook: entry.name, created: false, status: d.status.name, links: links(workflowId) });
    }
  });

  app.post('/alertmanager/webhook', async (req, reply) => {
    const me = need(req, 'operator');
    const answer = await alertmanagerWebhook(req.body, {
      services: Object.keys(opts.config.services),
      start: async (service, input) => {
        try {
          return await startRunbookRun(
            client,
            entryByName('emergency-rollback'),
            { ...input, requestedBy: me.person },
            { taskQueue, currentRevision: () => revisionOf(service) },
          );
        } catch (err) {
          if (err instanceof InputError) throw new HttpError(400, err.message);
          throw err;
        }
      },
    });
    if ('error' in answer) throw new HttpError(400, answer.error);
    reply.log.info({ by: me.token, rollbacks: answer.rollbacks.map((r) => [r.service, r.workflowId, r.created]) }, 'alertmanager webhook');
    return reply.code(200).send({ ...answer, rollbacks: answer.rollbacks.map((r) => ({ ...r, links: links(r.workflowId) })) });
  });

  app.get('/runs', async (req) => {
    need(req, 'operator', 'approver');
    const q = parse(listQuery, req.query, 'query');
    // Values are checked against the patterns above, so they cannot break out of their quotes.
    const where = ['RunbookType IS NOT NULL'];
    if (q.runbook) where.push(`RunbookType = "${entryByName(q.runbook).workflowType}"`);
    if (q.status) where.push(`RunbookStatus = "${q.status}"`);
    if (q.target) where.push(`RunbookTarget = "${q.target}"`);
    const runs = [];
    for await (const w of client.workflow.list({ query: where.join(' AND ') })) {
      runs.push({
        workflowId: w.workflowId,
        runbook: runbookByType(w.type)?.name ?? w.type,
        status: w.typedSearchAttributes.get(RunbookStatus) ?? w.status.name,
        execution: w.status.name,
        startTime: w.startTime.toISOString(),
        links: links(w.workflowId),
      });
      if (runs.length >= q.limit) break;
    }
    return { runs };
  });

  // What waits for the token's person: the runs whose gates they may decide now (as `runbook inbox`).
  app.get('/inbox', async (req) => {
    const me = need(req, 'approver');
    const box = await inbox(client, me.person, { runUrl: (id) => links(id).ui ?? links(id).self, taskQueue });
    return { ...box, items: box.items.map((i) => ({ ...i, links: links(i.workflowId) })) };
  });

  app.get('/runs/:id', async (req) => {
    need(req, 'operator', 'approver');
    const { id } = parse(idParam, req.params, 'path');
    return { ...(await describeRun(client, id)), links: links(id) };
  });

  app.get('/runs/:id/result', async (req, reply) => {
    need(req, 'operator', 'approver');
    const { id } = parse(idParam, req.params, 'path');
    const h = client.workflow.getHandle(id);
    const d = await h.describe();
    if (d.status.name === 'RUNNING') return reply.code(202).send({ workflowId: id, execution: d.status.name, links: links(id) });
    try {
      return { workflowId: id, execution: d.status.name, result: (await h.result()) as unknown };
    } catch (err) {
      return { workflowId: id, execution: d.status.name, failure: (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message };
    }
  });

  for (const decision of ['approve', 'reject'] as const) {
    app.post(`/runs/:id/${decision}`, async (req, reply) => {
      const me = need(req, 'approver');
      const { id } = parse(idParam, req.params, 'path');
      const body = req.body ?? {};
      if (typeof body === 'object' && body !== null && 'approver' in body) {
        throw new HttpError(400, `invalid body: approver: comes from your token (${me.person}); leave it out`);
      }
      const { comment } = parse(voteBody, body, 'body');
      try {
        const state = await castVote(client, id, { approver: me.person, decision, ...(comment ? { comment } : {}) });
        return { workflowId: id, approver: me.person, decision, gate: state.status, approvals: state };
      } catch (err) {
        if (err instanceof VoteRefusedError) return reply.code(409).send({ error: err.message });
        throw err;
      }
    });
  }

  // Incident messages: the caller is the token's person (`by`), never a body field.
  const incidentBodies = {
    ack: z.object({ note: z.string().max(2000).optional() }).strict(),
    status: z.object({ status: z.string(), text: z.string(), nextSteps: z.string().optional(), eta: z.string().optional() }).strict(),
    resolve: z.object({ rootCause: z.string(), resolution: z.string().optional() }).strict(),
  };
  for (const action of ['ack', 'status', 'resolve'] as const) {
    app.post(`/runs/:id/incident/${action}`, async (req, reply) => {
      const me = need(req, 'approver', 'operator');
      const { id } = parse(idParam, req.params, 'path');
      const body = req.body ?? {};
      if (typeof body === 'object' && body !== null && 'by' in body)
        throw new HttpError(400, `invalid body: by: comes from your token (${me.person}); leave it out`);
      const fields = parse(incidentBodies[action], body, 'body');
      const message = (
        action === 'ack' ? { kind: 'acknowledge', args: { ...fields, by: me.person } } : { kind: action, args: { ...fields, by: me.person } }
      ) as IncidentMessage;
      try {
        const incident = await sendIncidentMessage(client, id, message);
        reply.log.info({ workflowId: id, by: me.person, action }, 'incident message');
        return { workflowId: id, by: me.person, action, ...(incident ? { incident } : {}), links: links(id) };
      } catch (err) {
        if (err instanceof IncidentArgsError) throw new HttpError(400, err.message);
        if (err instanceof IncidentRefusedError) return reply.code(409).send({ error: err.message });
        throw err;
      }
    });
  }

  app.post('/runs/:id/cancel', async (req, reply) => {
    const me = need(req, 'operator');
    const { id } = parse(idParam, req.params, 'path');
    const h = client.workflow.getHandle(id);
    const d = await h.describe();
    if (d.status.name !== 'RUNNING') throw new HttpError(409, `run "${id}" is ${d.status.name}, not running`);
    await h.cancel();
    reply.log.info({ workflowId: id, by: me.person }, 'cancel requested');
    return reply.code(202).send({ workflowId: id, cancelRequestedBy: me.person, links: links(id) });
  });

  return app;
}
