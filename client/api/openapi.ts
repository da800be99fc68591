// The API's OpenAPI 3.1 document, generated from the same zod schemas that validate requests, so the two
// cannot disagree. Each runbook's start body is its input schema (requestedBy comes from the token).
import { z } from 'zod';
import { RUNBOOKS } from '../registry';
import { webhookSchema } from './alertmanager';

const err = { description: 'refused', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
const errors = { '400': err, '401': err, '403': err, '404': err };
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

export function openApiDocument(): Record<string, unknown> {
  const schemas: Record<string, unknown> = { Error: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } };
  const paths: Record<string, unknown> = {};
  for (const r of RUNBOOKS) {
    const { $schema: _drop, ...input } = r.inputJsonSchema();
    const props = { ...((input.properties as Record<string, unknown> | undefined) ?? {}) };
    delete props.requestedBy;
    const name = `${r.workflowType}Input`;
    schemas[name] = { ...input, properties: props, required: ((input.required as string[] | undefined) ?? []).filter((f) => f !== 'requestedBy') };
    paths[`/runbooks/${r.name}/runs`] = {
      post: {
        summary: `start ${r.name}: ${r.summary}`,
        security: [{ bearer: [] }],
        parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,200}$' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` }, example: r.example() } } },
        responses: {
          '201': { description: 'started' },
          '200': {
            description: r.dedupe
              ? 'the run started for the same target within the dedupe window (created: false)'
              : 'the run this Idempotency-Key started before',
          },
          ...errors,
        },
      },
    };
  }
  const vote = (d: string) => ({
    post: {
      summary: `${d} a run waiting at its approval gate, as the token's person`,
      security: [{ bearer: [] }],
      parameters: [id],
      requestBody: {
        content: {
          'application/json': { schema: { type: 'object', properties: { comment: { type: 'string', maxLength: 2000 } }, additionalProperties: false } },
        },
      },
      responses: { '200': { description: 'the vote counted' }, '409': err, ...errors },
    },
  });
  const { $schema: _drop, ...webhook } = z.toJSONSchema(webhookSchema, { io: 'input', unrepresentable: 'any' });
  schemas.AlertmanagerWebhook = webhook;
  Object.assign(paths, {
    '/alertmanager/webhook': {
      post: {
        summary:
          'Alertmanager\'s webhook receiver: each firing alert labelled runbook_action="rollback" starts (or joins) the emergency rollback of its service label',
        security: [{ bearer: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/AlertmanagerWebhook' } } } },
        responses: { '200': { description: 'the rollbacks started or joined, and the alerts ignored with why' }, ...errors },
      },
    },
    '/runbooks': {
      get: { summary: 'the runbooks you can start, with example inputs', security: [{ bearer: [] }], responses: { '200': { description: 'runbooks' } } },
    },
    '/runs': {
      get: {
        summary: 'recent runs, newest first',
        security: [{ bearer: [] }],
        parameters: ['status', 'runbook', 'target', 'limit'].map((n) => ({
          name: n,
          in: 'query',
          required: false,
          schema: { type: n === 'limit' ? 'integer' : 'string' },
        })),
        responses: { '200': { description: 'runs' }, ...errors },
      },
    },
    '/inbox': {
      get: {
        summary: "the runs whose approval gates the token's person may decide now (eligible, not the requester, not yet voted), nearest deadline first",
        security: [{ bearer: [] }],
        responses: { '200': { description: 'inbox' }, ...errors },
      },
    },
    '/runs/{id}': {
      get: {
        summary: 'plan, progress and approvals of a run',
        security: [{ bearer: [] }],
        parameters: [id],
        responses: { '200': { description: 'run' }, ...errors },
      },
    },
    '/runs/{id}/result': {
      get: {
        summary: 'the result of an ended run (202 while it runs)',
        security: [{ bearer: [] }],
        parameters: [id],
        responses: { '200': { description: 'result' }, '202': { description: 'still running' }, ...errors },
      },
    },
    '/runs/{id}/approve': vote('approve'),
    '/runs/{id}/reject': vote('reject'),
    ...Object.fromEntries(
      (
        [
          ['ack', "acknowledge a running incident as the token's person: its escalation stops", { note: { type: 'string', maxLength: 2000 } }, []],
          [
            'status',
            "post an incident status update as the token's person (sent with the communication template; repeated every updateEvery)",
            {
              status: { type: 'string', enum: ['investigating', 'identified', 'monitoring'] },
              text: { type: 'string', minLength: 1, maxLength: 4000 },
              nextSteps: { type: 'string', maxLength: 2000 },
              eta: { type: 'string', maxLength: 200 },
            },
            ['status', 'text'],
          ],
          [
            'resolve',
            "resolve an incident with its root cause as the token's person: the resolve message goes out, the run ends with the post-incident report",
            { rootCause: { type: 'string', minLength: 1, maxLength: 4000 }, resolution: { type: 'string', maxLength: 4000 } },
            ['rootCause'],
          ],
        ] as const
      ).map(([action, summary, properties, required]) => [
        `/runs/{id}/incident/${action}`,
        {
          post: {
            summary,
            security: [{ bearer: [] }],
            parameters: [id],
            requestBody: { content: { 'application/json': { schema: { type: 'object', properties, required, additionalProperties: false } } } },
            responses: { '200': { description: 'applied (and its notification sent)' }, '409': err, ...errors },
          },
        },
      ]),
    ),
    '/runs/{id}/cancel': {
      post: {
        summary: 'cancel a running run (its undo steps run)',
        security: [{ bearer: [] }],
        parameters: [id],
        responses: { '202': { description: 'cancel requested' }, '409': err, ...errors },
      },
    },
  });
  return {
    openapi: '3.1.0',
    info: { title: 'temporal-runbooks API', version: '1' },
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
