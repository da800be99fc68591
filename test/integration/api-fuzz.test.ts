// The HTTP API under random requests (fast-check): every endpoint, any method, mangled paths, garbage and
// real tokens, any content type, random and huge bodies. For every request: no 5xx (Temporal is up in this
// test, so not even a 503), and every 4xx is a JSON body with an `error` string. After the run: nothing was
// started on the env's task queue, and the server still answers GET /health.
//
// Requests go through node:http rather than fetch: fetch normalises what we want to send as is (it resolves
// `..` and `%2e%2e` in paths, strips trailing spaces from header values, refuses bodies on GET).
import { request } from 'node:http';
import fc from 'fast-check';
import { RUNBOOKS } from '../../client/registry';
import { startApi, TOKENS, type TestApi } from '../helpers/api';
import { createTestEnv, eventually, type TestEnv } from '../helpers/env';

let env: TestEnv;
let api: TestApi;
beforeAll(async () => {
  // No worker: nothing should start, and a start would be seen in visibility whether or not it ran.
  env = await createTestEnv();
  api = await startApi(env);
});
afterAll(async () => {
  await api?.close();
  await env?.cleanup();
});

interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer;
}
interface RawResponse {
  status: number;
  text: string;
}

/** One request on a fresh connection, sent as given (path, header values and body bytes unchanged). */
function send(r: RawRequest): Promise<RawResponse> {
  const base = new URL(api.url);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        method: r.method,
        path: r.path,
        headers: { ...r.headers, ...(r.body ? { 'content-length': String(r.body.length) } : {}) },
        agent: false,
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error('no answer in 15s')));
    // A server that answers early (401, 413) may close while the body is still being written: only an
    // error before any answer is one.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.end(r.body);
  });
}

function describeRequest(r: RawRequest): string {
  const body = r.body ? (r.body.length > 300 ? `<${r.body.length} bytes> ${r.body.subarray(0, 120).toString('utf8')}…` : r.body.toString('utf8')) : '<none>';
  return `${r.method} ${r.path.length > 300 ? `${r.path.slice(0, 300)}… (${r.path.length} chars)` : r.path}\nheaders: ${JSON.stringify(r.headers)}\nbody: ${body}`;
}

/** Every status seen, and how many answers came from Temporal itself (a 404 for a fuzz- run id). */
const seen = new Map<number, number>();
let temporalAnswers = 0;

/** The per-request invariant: no 5xx, no 201 (nothing may start), and a JSON `error` for every 4xx. */
async function check(r: RawRequest): Promise<void> {
  const res = await send(r).catch((err: Error) => {
    throw new Error(`no answer (${err.message}) to\n${describeRequest(r)}`);
  });
  seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
  const fail = (why: string): never => {
    throw new Error(`${why}: ${res.status} ${res.text.slice(0, 500)}\nfor\n${describeRequest(r)}`);
  };
  if (res.status >= 500) fail('5xx');
  if (res.status === 201) fail('a run was started');
  if (res.status >= 400) {
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      fail('error answer is not JSON');
    }
    const error = (body as { error?: unknown } | null)?.error;
    if (typeof error !== 'string') fail('error answer has no `error` string');
    if (res.status === 404 && (error as string).startsWith('no run "fuzz-')) temporalAnswers++;
  }
}

// ---- generators ----------------------------------------------------------------------------------------

const TARGET = /^[a-z][a-z0-9-]{0,62}$/;
type TokenName = keyof typeof TOKENS;
const TOKEN_NAMES = Object.keys(TOKENS) as TokenName[];
/** Tokens that may start runs (operator, or admin). */
const STARTERS: TokenName[] = TOKEN_NAMES.filter((n) => TOKENS[n].roles.some((r) => r === 'operator' || r === 'admin'));
const RUNBOOK_NAMES = RUNBOOKS.map((r) => r.name);

/** Characters node:http lets through in a request path (0x21-0xff), sent raw. */
const pathChar = fc.integer({ min: 0x21, max: 0xff }).map((c) => String.fromCharCode(c));
/** Characters node:http lets through in a header value (tab, 0x20-0x7e, 0x80-0xff). */
const headerChar = fc
  .oneof(fc.constant('\t'), fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
  .map((c) => (typeof c === 'string' ? c : String.fromCharCode(c)));
const headerValue = (maxLength = 80) => fc.string({ unit: headerChar, maxLength });

const NASTY_SEGMENTS = [
  '',
  '.',
  '..',
  '%2e%2e',
  '%2E%2E%2F',
  '%00',
  'a%00b',
  '%2F',
  '%2f..%2f..',
  '%5C',
  '%',
  '%zz',
  '%C3%28',
  '%FF',
  '%E2%82',
  '%ED%A0%80',
  '%u0041',
  '%20',
  '+',
  '~',
  ';',
  '%3F',
  '%23',
  '__proto__',
  'constructor',
  'prototype',
  '%F0%9F%92%A5',
  ...RUNBOOK_NAMES,
  'RESTART-WORKERS',
  'restart-workers%00',
  'restart%2Dworkers',
];

/** One path segment: unicode (encoded), raw bytes, known-nasty pieces, or very long. */
const segment: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map(encodeURIComponent), weight: 4 },
  { arbitrary: fc.string({ unit: pathChar, maxLength: 30 }), weight: 3 },
  { arbitrary: fc.constantFrom(...NASTY_SEGMENTS), weight: 4 },
  {
    arbitrary: fc.array(fc.constantFrom(...NASTY_SEGMENTS), { minLength: 2, maxLength: 5 }).map((a) => a.join('')),
    weight: 2,
  },
  {
    // Around the router's maxParamLength (400) and zod's max(400), and far past them.
    arbitrary: fc
      .tuple(fc.constantFrom('a', '%F0%9F%92%A5', 'é', '%00', '-'), fc.constantFrom(100, 399, 400, 401, 1000, 4000, 12000))
      .map(([s, n]) => s.repeat(Math.ceil(n / s.length)).slice(0, n)),
    weight: 1,
  },
);

/** A run id that does not exist: approve/reject/cancel/result/describe can only refuse it. */
const fuzzId = fc.oneof(segment, fc.stringMatching(/^[a-z0-9-]{1,20}$/)).map((s) => `fuzz-${s}`);

const queryValue = fc.oneof(
  fc.constantFrom('running', 'awaiting-approval', 'completed', 'reports', 'maintenance-window', 'restart-workers', '20', '0', '101', '-1', '1e2', '1.5'),
  fc.constantFrom('NaN', '', ' 5', '0x10', 'a"b', 'x" OR 1=1', '%22', '%00', 'Infinity', '100000000000000000000000'),
  segment,
);
const queryKey = fc.oneof(
  { arbitrary: fc.constantFrom('status', 'runbook', 'target', 'limit'), weight: 4 },
  { arbitrary: fc.constantFrom('__proto__', 'constructor', 'status[]', 'limit[0]', ''), weight: 1 },
  { arbitrary: segment, weight: 1 },
);
const query = fc.oneof(
  { arbitrary: fc.constant(''), weight: 3 },
  { arbitrary: fc.constantFrom('?', '?&&', '?=', '?limit', '?limit=', '#x'), weight: 1 },
  {
    arbitrary: fc
      .array(fc.tuple(queryKey, fc.option(queryValue, { nil: undefined })), { minLength: 1, maxLength: 5 })
      .map((pairs) => `?${pairs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&')}`),
    weight: 4,
  },
);

const runbookName = fc.oneof({ arbitrary: fc.constantFrom(...RUNBOOK_NAMES), weight: 3 }, { arbitrary: segment, weight: 2 });

/** The real routes with random segments, and some that are not routes at all. */
const path: fc.Arbitrary<string> = fc
  .oneof(
    { arbitrary: fc.constantFrom('/health', '/openapi.json', '/runbooks', '/runs', '/inbox', '/alertmanager/webhook'), weight: 3 },
    { arbitrary: runbookName.map((n) => `/runbooks/${n}/runs`), weight: 5 },
    { arbitrary: fuzzId.map((id) => `/runs/${id}`), weight: 2 },
    {
      arbitrary: fc.tuple(fuzzId, fc.constantFrom('result', 'approve', 'reject', 'cancel')).map(([id, op]) => `/runs/${id}/${op}`),
      weight: 6,
    },
    {
      arbitrary: fc.constantFrom('/', '//runs', '/runs/', '/runs//approve', '/runbooks/', '/RUNS', '/health/', '/openapi.json/x', '/runs/fuzz-x/approve/'),
      weight: 1,
    },
    { arbitrary: fc.array(segment, { maxLength: 4 }).map((s) => `/${s.join('/')}`), weight: 1 },
  )
  .chain((p) => query.map((q) => `${p}${q}`))
  // node:http sends paths only of 0x21-0xff: percent-encode anything else (spaces in query values, …).
  .map((p) => p.replace(/[^\x21-\xff]/gu, (c) => encodeURIComponent(c)));

const realToken = fc.constantFrom(...TOKEN_NAMES).map((n) => TOKENS[n].token);
/** Authorization: none, garbage, near-misses of a real token, or a real token of a random role. */
const authorization: fc.Arbitrary<string | string[] | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 2 },
  { arbitrary: headerValue(), weight: 1 },
  { arbitrary: headerValue(600).map((s) => `Bearer ${s}`), weight: 1 },
  { arbitrary: realToken.map((t) => `Bearer ${t}`), weight: 8 },
  {
    arbitrary: fc
      .tuple(realToken, realToken, fc.constantFrom('bearer ', 'BEARER ', 'Bearer  ', 'Bearer\t', 'Token ', 'Basic ', ' Bearer ', 'Bearer '))
      .chain(([t, u, scheme]) =>
        fc.constantFrom(`${scheme}${t}`, `Bearer ${t} `, `Bearer ${t} ${u}`, `Bearer ${t},${u}`, `Bearer ${t}x`, `Bearer ${t.slice(1)}`),
      ),
    weight: 2,
  },
  { arbitrary: fc.tuple(headerValue(), realToken).map(([g, t]) => [g, `Bearer ${t}`]), weight: 1 },
  { arbitrary: realToken.map((t) => [`Bearer ${t}`, `Bearer ${t}`]), weight: 1 },
);

const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 2 },
  { arbitrary: fc.constant('application/json'), weight: 5 },
  {
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=utf-16',
      'APPLICATION/JSON',
      'application/json;',
      'application/json ; charset="x"',
      'application/jsonx',
      'application/vnd.api+json',
      'text/plain',
      'text/plain; charset=latin1',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      '',
      ';',
      '*/*',
    ),
    weight: 3,
  },
  { arbitrary: headerValue(), weight: 1 },
);

const idempotencyHeader: fc.Arbitrary<string | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 2 },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,200}$/), weight: 1 },
  { arbitrary: headerValue(300), weight: 1 },
);

/** Strings near what a duration, name or time field takes: empty, blank, zero, negative, too long, … */
const nearMiss = fc.constantFrom(
  '',
  ' ',
  '\t',
  '\n',
  '0s',
  '-1m',
  '1.5h',
  '999h',
  '31d',
  '1y',
  'Infinity',
  '1e400ms',
  '30 days',
  'x'.repeat(41),
  'Reports',
  'reports;drop',
  'public.reports; --',
  '2026-02-30T25:00:00Z',
);

/** A value of a field of a runbook input: the example's own (objects and arrays mutated inside), or random. */
const fieldValue = (example: unknown, depth = 0): fc.Arbitrary<unknown> => {
  const nested: fc.Arbitrary<unknown>[] = [];
  if (depth < 2 && Array.isArray(example) && example.length > 0) {
    nested.push(fc.array(fieldValue(example[0], depth + 1), { maxLength: 3 }));
  } else if (depth < 2 && typeof example === 'object' && example !== null) {
    const fields: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [k, v] of Object.entries(example)) fields[k] = fieldValue(v, depth + 1);
    nested.push(fc.record(fields, { requiredKeys: [] }));
  }
  return fc.oneof(
    { arbitrary: fc.constant(example), weight: 2 },
    ...nested.map((arbitrary) => ({ arbitrary, weight: 3 })),
    { arbitrary: nearMiss, weight: typeof example === 'string' ? 2 : 0 },
    { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
    { arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, 'x'.repeat(600), [], {}), weight: 1 },
  );
};

const badService = fc.string({ unit: 'binary', maxLength: 80 }).filter((s) => !TARGET.test(s));

/**
 * An object shaped like a runbook input (the registry's example inputs' field names, random values), that
 * can never be valid: it always carries an unknown key `__fuzz` (the schemas are strict, so the API refuses
 * it) or a `service` that is not a configured name. This is what lets the test assert "nothing started"
 * while still sending real operator and admin tokens to POST /runbooks/:name/runs.
 */
const runbookLikeObject: fc.Arbitrary<Record<string, unknown>> = fc
  .constantFrom(...RUNBOOKS)
  .chain((rb) => {
    const example = rb.example();
    const fields: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [k, v] of Object.entries(example)) if (k !== 'requestedBy') fields[k] = fieldValue(v);
    return fc.tuple(
      fc.record(fields, { requiredKeys: [] }),
      fc.option(fc.oneof(fc.constantFrom('bob', 'carol', 'alice', 'dave', 'mallory'), fc.jsonValue({ maxDepth: 1 })), { nil: undefined }),
      fc.oneof(
        fc.constant<{ extra: true }>({ extra: true }),
        badService.map((service) => ({ service })),
      ),
    );
  })
  .map(([fields, requestedBy, poison]) => ({
    ...fields,
    ...(requestedBy !== undefined ? { requestedBy } : {}),
    ...('extra' in poison ? { __fuzz: true } : { service: poison.service }),
  }));

const notJson = fc.string({ unit: 'binary', maxLength: 200 }).filter((s) => {
  try {
    JSON.parse(s);
    return false;
  } catch {
    return true;
  }
});

const body: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 4 },
  { arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')), weight: 4 },
  { arbitrary: runbookLikeObject.map((o) => Buffer.from(JSON.stringify(o))), weight: 5 },
  {
    arbitrary: fc
      .oneof(
        fc.record({ comment: fc.string({ unit: 'binary', maxLength: 2100 }) }, { requiredKeys: [] }),
        fc.record({ comment: fc.jsonValue({ maxDepth: 1 }), approver: fc.constantFrom('alice', 'dave') }, { requiredKeys: [] }),
      )
      .map((o) => Buffer.from(JSON.stringify(o))),
    weight: 3,
  },
  { arbitrary: notJson.map((s) => Buffer.from(s)), weight: 2 },
  { arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), weight: 1 },
  {
    arbitrary: fc
      .constantFrom('', '{', '[]', 'null', '"x"', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '\uFEFF{}')
      .map((s) => Buffer.from(s)),
    weight: 2,
  },
  {
    // Now and then, around the 256 KiB body limit (413 past it).
    arbitrary: fc.integer({ min: 200 * 1024, max: 300 * 1024 }).map((n) => Buffer.from(`{"__fuzz":"${'x'.repeat(Math.max(0, n - 14))}"}`)),
    weight: 1,
  },
);

/** True for a body the API's JSON parser would read as an object that might be a valid runbook input. */
function couldBeValidInput(b: Buffer): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(b.toString('utf8').replace(/^\uFEFF/, ''));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if ('__fuzz' in o || (typeof o.service === 'string' && !TARGET.test(o.service))) return undefined;
  return o;
}

/**
 * Keeps "nothing started" true by construction: a POST that may reach the start route with a token that may
 * start runs never carries a body that could be a valid input (an object body gets `__fuzz: true`).
 */
function guard(r: RawRequest): RawRequest {
  let decoded = r.path;
  try {
    decoded = decodeURIComponent(r.path);
  } catch {
    // Left as is: the router refuses what does not decode.
  }
  const auth = ([] as string[]).concat(r.headers.authorization ?? []).join('\n');
  const starter = STARTERS.some((n) => auth.includes(TOKENS[n].token));
  // The webhook starts rollbacks only for alerts labelled runbook_action: a random body never carries it.
  if (/alertmanager/i.test(decoded) && r.body?.includes('runbook_action'))
    return { ...r, body: Buffer.from(r.body.toString('latin1').replace(/runbook_action/g, 'fuzz_action'), 'latin1') };
  if (r.method !== 'POST' || !starter || !/runbooks/i.test(decoded) || !r.body) return r;
  const o = couldBeValidInput(r.body);
  return o ? { ...r, body: Buffer.from(JSON.stringify({ ...o, __fuzz: true })) } : r;
}

function headersOf(h: { authorization?: string | string[]; contentType?: string; idempotencyKey?: string; extra?: string }): RawRequest['headers'] {
  return {
    ...(h.authorization !== undefined ? { authorization: h.authorization } : {}),
    ...(h.contentType !== undefined ? { 'content-type': h.contentType } : {}),
    ...(h.idempotencyKey !== undefined ? { 'idempotency-key': h.idempotencyKey } : {}),
    ...(h.extra !== undefined ? { 'x-fuzz': h.extra, accept: h.extra } : {}),
  };
}

const anyRequest: fc.Arbitrary<RawRequest> = fc
  .record({
    method: fc.oneof({ arbitrary: fc.constantFrom('GET', 'POST'), weight: 4 }, { arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH'), weight: 1 }),
    path,
    authorization,
    contentType,
    idempotencyKey: idempotencyHeader,
    extra: fc.option(headerValue(), { nil: undefined }),
    body,
  })
  .map(({ method, path, body, ...h }) => guard({ method, path, headers: headersOf(h), ...(body ? { body } : {}) }));

/** POST /runbooks/<a real runbook>/runs with a real operator or admin token and an input that is almost right. */
const startRequest: fc.Arbitrary<RawRequest> = fc
  .record({
    name: fc.constantFrom(...RUNBOOK_NAMES),
    token: fc.constantFrom(...STARTERS),
    contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8'),
    idempotencyKey: idempotencyHeader,
    input: runbookLikeObject,
  })
  .map(({ name, token, contentType, idempotencyKey, input }) =>
    guard({
      method: 'POST',
      path: `/runbooks/${name}/runs`,
      headers: headersOf({ authorization: `Bearer ${TOKENS[token].token}`, contentType, idempotencyKey }),
      body: Buffer.from(JSON.stringify(input)),
    }),
  );

// ---- tests ---------------------------------------------------------------------------------------------

async function startedOnQueue(): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of env.client.workflow.list({ query: `TaskQueue = "${env.taskQueue}"` })) ids.push(`${w.workflowId} (${w.type})`);
  return ids;
}

describe('the API under random requests', () => {
  test('any request to any endpoint: never 5xx, every 4xx a JSON error', async () => {
    await fc.assert(fc.asyncProperty(anyRequest, check), { numRuns: 240 });
    // The fuzzing got past authentication and validation down to Temporal, not only to 401s.
    expect(temporalAnswers).toBeGreaterThan(0);
    for (const s of [200, 400, 401, 404]) expect(seen.get(s) ?? 0).toBeGreaterThan(0);
  }, 90_000);

  test('almost-valid starts with real operator and admin tokens: refused with a 4xx, never 5xx', async () => {
    await fc.assert(fc.asyncProperty(startRequest, check), { numRuns: 60 });
  }, 60_000);

  test('afterwards: nothing was started on the task queue, and the server still answers', async () => {
    process.stdout.write(
      `[api-fuzz] statuses: ${JSON.stringify(Object.fromEntries([...seen].sort(([a], [b]) => a - b)))}; Temporal 404s: ${temporalAnswers}\n`,
    );
    // Visibility is eventually consistent: give a start that slipped through time to show.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await startedOnQueue()).toEqual([]);
    expect(await api.call('GET', '/health')).toEqual({ status: 200, body: { status: 'ok' } });
  });

  test('control: the same visibility check does see a start the API accepts', async () => {
    const { requestedBy: _who, ...input } = RUNBOOKS.find((r) => r.name === 'restart-workers')!.example();
    const started = await api.call('POST', '/runbooks/restart-workers/runs', { as: 'bob', body: { ...input, dryRun: true } });
    expect(started.status).toBe(201);
    const id = started.body.workflowId as string;
    try {
      await eventually(async () => (await startedOnQueue()).some((w) => w.startsWith(`${id} `)), 10_000, 'the control run in visibility');
    } finally {
      await env.client.workflow.getHandle(id).terminate('api-fuzz control run');
    }
  });
});

describe('edges', () => {
  test('every /runs/:id route, with a run id that does not exist and an allowed token, is a 404 from Temporal', async () => {
    const id = `fuzz-${'x'.repeat(8)}`;
    for (const [method, op, as] of [
      ['GET', '', 'bob'],
      ['GET', '/result', 'alice'],
      ['POST', '/approve', 'alice'],
      ['POST', '/reject', 'carol'],
      ['POST', '/cancel', 'dave'],
    ] as const) {
      const res = await api.call(method, `/runs/${id}${op}`, { as, ...(method === 'POST' ? { body: {} } : {}) });
      expect({ op, ...res }).toEqual({ op, status: 404, body: { error: `no run "${id}"` } });
    }
  });

  test('a valid token with a wrong scheme, a doubled space or two tokens is 401, not 5xx; trailing spaces are not part of it', async () => {
    const t = TOKENS.bob.token;
    for (const authorization of [
      `bearer ${t}`,
      `BEARER ${t}`,
      `Bearer  ${t}`,
      `Bearer ${t} ${TOKENS.dave.token}`,
      `Bearer ${t},${TOKENS.dave.token}`,
      `Bearer\t${t}`,
    ]) {
      const res = await send({ method: 'GET', path: '/runs', headers: { authorization } });
      expect({ authorization, status: res.status, body: JSON.parse(res.text) as unknown }).toEqual({
        authorization,
        status: 401,
        body: { error: expect.stringMatching(/Bearer/) as unknown },
      });
    }
    // Trailing whitespace is not part of an HTTP field value (RFC 9110 5.5): Node's parser drops it before
    // the API sees the header, so the token is the token.
    const trailing = await send({ method: 'GET', path: '/runs?limit=1', headers: { authorization: `Bearer ${t}   ` } });
    expect(trailing.status).toBe(200);
    // The control: the same token, as it should be sent.
    expect((await send({ method: 'GET', path: '/runs?limit=1', headers: { authorization: `Bearer ${t}` } })).status).toBe(200);
  });

  test('a body one byte over 256 KiB is 413; one of exactly 256 KiB is read (and refused as input)', async () => {
    const limit = 256 * 1024;
    const bodyOf = (n: number) => {
      const head = '{"service":"reports","__fuzz":"';
      return Buffer.from(`${head}${'x'.repeat(n - head.length - 2)}"}`);
    };
    const headers = { authorization: `Bearer ${TOKENS.bob.token}`, 'content-type': 'application/json' };
    expect(bodyOf(limit + 1).length).toBe(limit + 1);
    const over = await send({ method: 'POST', path: '/runbooks/restart-workers/runs', headers, body: bodyOf(limit + 1) });
    expect(over.status).toBe(413);
    expect(typeof (JSON.parse(over.text) as { error?: unknown }).error).toBe('string');
    const at = await send({ method: 'POST', path: '/runbooks/restart-workers/runs', headers, body: bodyOf(limit) });
    expect(at.status).toBe(400);
    expect((JSON.parse(at.text) as { error: string }).error).toMatch(/Unrecognized key: "__fuzz"/);
  });
});
