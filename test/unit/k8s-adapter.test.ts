// The pure parts of the Kubernetes adapter: how a Deployment's status reads as a rollout, label selectors,
// versions from images, the request record, the maintenance selector patch, flags, input checks, and the one
// mapping from API failures to the errors runbooks see.
import type { V1Deployment } from '@kubernetes/client-node';
import { apiError, ConflictError, redact, retryOnConflict } from '../../activities/platform/kubernetes/errors';
import { checkFlags, flagsOf } from '../../activities/platform/kubernetes/flags';
import { savedSelector, selectorPatch, sameLabels } from '../../activities/platform/kubernetes/maintenance';
import {
  annotationsWith,
  appliedRequests,
  KEEP_REQUESTS,
  madeBy,
  repeatedDeploy,
  repeatedRestart,
  type Applied,
} from '../../activities/platform/kubernetes/records';
import { checkReplicas, checkRequestId, checkVersion, containerOf, rolloutOf, selectorString, versionOf } from '../../activities/platform/kubernetes/revisions';

const deployment = (status: V1Deployment['status'], replicas = 2, generation = 3, revision = '2'): V1Deployment => ({
  metadata: { generation, annotations: { 'deployment.kubernetes.io/revision': revision } },
  spec: { replicas, selector: {}, template: {} },
  status,
});

describe('rolloutOf', () => {
  const all = { observedGeneration: 3, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2, replicas: 2 };

  test('complete only when the controller saw the spec and every replica is updated, ready and available, none old left', () => {
    expect(rolloutOf(deployment(all))).toEqual({ revision: 2, status: 'complete', updated: 2, total: 2 });
    expect(rolloutOf(deployment({ ...all, observedGeneration: 2 })).status).toBe('in-progress');
    expect(rolloutOf(deployment({ ...all, replicas: 3 })).status).toBe('in-progress');
    expect(rolloutOf(deployment({ ...all, readyReplicas: 1 })).status).toBe('in-progress');
    expect(rolloutOf(deployment({ observedGeneration: 3 }, 0))).toMatchObject({ status: 'complete', updated: 0, total: 0 });
  });

  test('failed when Progressing is False with ProgressDeadlineExceeded, with its message; a stale condition does not count', () => {
    const stuck = {
      observedGeneration: 3,
      updatedReplicas: 1,
      replicas: 3,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "x" has timed out progressing.' }],
    };
    expect(rolloutOf(deployment(stuck))).toEqual({
      revision: 2,
      status: 'failed',
      reason: 'ProgressDeadlineExceeded',
      message: 'ReplicaSet "x" has timed out progressing.',
      updated: 1,
      total: 2,
    });
    // A new spec the controller has not seen yet: the old condition is about the old revision.
    expect(rolloutOf(deployment({ ...stuck, observedGeneration: 2 })).status).toBe('in-progress');
  });
});

test('selectorString writes labels and expressions as the labelSelector parameter, and refuses an empty selector', () => {
  expect(
    selectorString({
      matchLabels: { app: 'reports', tier: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['a', 'b'] },
        { key: 'x', operator: 'NotIn', values: ['c'] },
        { key: 'y', operator: 'Exists' },
        { key: 'z', operator: 'DoesNotExist' },
      ],
    }),
  ).toBe('app=reports,tier=web,env in (a,b),x notin (c),y,!z');
  expect(() => selectorString({})).toThrow('empty selector');
});

test('versionOf is the tag of an image of the repository, else the whole reference', () => {
  expect(versionOf('registry.local/reports:v1.4.2', 'registry.local/reports')).toBe('v1.4.2');
  expect(versionOf('registry.local/reports-other:v1', 'registry.local/reports')).toBe('registry.local/reports-other:v1');
  expect(versionOf('registry.local/reports@sha256:abc', 'registry.local/reports')).toBe('registry.local/reports@sha256:abc');
});

test('containerOf finds the named container, default the first, and names the ones there are', () => {
  const template = { spec: { containers: [{ name: 'app' }, { name: 'sidecar' }] } };
  expect(containerOf(template, undefined).index).toBe(0);
  expect(containerOf(template, 'sidecar').index).toBe(1);
  expect(() => containerOf(template, 'nope')).toThrow('the pod template has no container "nope"; its containers: app, sidecar (check platform.container)');
});

describe('input checks', () => {
  test('versions are image tags, and among the configured ones when there are', () => {
    expect(checkVersion('v1.5.0', undefined)).toBe('v1.5.0');
    expect(() => checkVersion('registry.local/reports:v1 .5', undefined)).toThrow('version "registry.local/reports:v1 .5" is not an image tag');
    expect(() => checkVersion('-rc', undefined)).toThrow('is not an image tag');
    expect(() => checkVersion('v2', ['v1'])).toThrow('unknown version "v2"; available: v1');
  });

  test('replicas are whole numbers from 0 to 1000; request ids printable', () => {
    expect(checkReplicas(0)).toBe(0);
    for (const bad of [-1, 1.5, 1001, Number.NaN, '3']) expect(() => checkReplicas(bad)).toThrow('must be a whole number from 0 to 1000');
    expect(checkRequestId('wf-1:run:restart-graceful')).toBe('wf-1:run:restart-graceful');
    for (const bad of ['', 'a b', 'x'.repeat(257), 7]) expect(() => checkRequestId(bad)).toThrow('must be 1 to 256 printable characters');
  });
});

describe('the request record', () => {
  const revision = (n: number, requestId = `r${n}`) => ({ revision: n, version: `v${n}`, cause: 'deploy' as const, requestId, at: 'then' });
  const deploy = (id: string, n: number): Applied => ({
    id,
    asked: `a deploy of v${n}`,
    at: `t${n}`,
    kind: 'deploy',
    answer: { revision: revision(n, id), previous: revision(n - 1) },
  });
  const holding = (entries: Applied[]) => ({ metadata: { annotations: { other: 'kept', 'runbooks.temporal.io/requests': JSON.stringify(entries) } } });

  test('a retry gets the first answer back, marked repeated; the id reused for something else is refused', () => {
    const d = holding([deploy('a', 2)]);
    expect(repeatedDeploy(d, 'a', 'a deploy of v2')).toEqual({ revision: revision(2, 'a'), previous: revision(1), repeated: true });
    expect(repeatedDeploy(d, 'b', 'a deploy of v2')).toBeUndefined();
    expect(() => repeatedDeploy(d, 'a', 'a rollback to the previous revision')).toThrow(
      'request a was applied as a deploy of v2, not a rollback to the previous revision: use a new request id',
    );
    expect(() => repeatedRestart(d, 'a', 'a graceful restart')).toThrow('was applied as a deploy of v2');
  });

  test(`keeps the last ${KEEP_REQUESTS}, leaves other annotations, and sets the change cause`, () => {
    let d: { metadata: { annotations: Record<string, string> } } = holding([]);
    for (let i = 2; i < 2 + KEEP_REQUESTS + 5; i++) d = { metadata: { annotations: annotationsWith(d, deploy(`id${i}`, i), `cause ${i}`) } };
    const kept = appliedRequests(d);
    expect(kept).toHaveLength(KEEP_REQUESTS);
    expect(kept[0]!.id).toBe('id7');
    expect(d.metadata.annotations).toMatchObject({ other: 'kept', 'kubernetes.io/change-cause': `cause ${KEEP_REQUESTS + 6}` });
  });

  test('an edited annotation counts as no record; madeBy finds the latest request that made a revision', () => {
    expect(appliedRequests({ metadata: { annotations: { 'runbooks.temporal.io/requests': 'not json' } } })).toEqual([]);
    expect(appliedRequests({ metadata: { annotations: { 'runbooks.temporal.io/requests': '[{"id":1}]' } } })).toEqual([]);
    const records = [deploy('a', 2), deploy('b', 3)];
    expect(madeBy(records, 3)).toEqual({ cause: 'deploy', requestId: 'b', at: 't3' });
    expect(madeBy(records, 1)).toBeUndefined();
  });
});

describe('maintenance selector', () => {
  test('the patch removes keys the new selector lacks; labels compare as sets', () => {
    expect(selectorPatch({ app: 'reports', tier: 'web' }, { app: 'reports-maintenance' })).toEqual({ app: 'reports-maintenance', tier: null });
    expect(sameLabels({ a: '1', b: '2' }, { b: '2', a: '1' })).toBe(true);
    expect(sameLabels({ a: '1' }, { a: '1', b: '2' })).toBe(false);
  });

  test('the saved selector must be an object of strings', () => {
    expect(savedSelector('{"app":"reports"}')).toEqual({ app: 'reports' });
    for (const bad of [undefined, '', 'nope', '["a"]', '{"a":1}']) expect(savedSelector(bad)).toBeUndefined();
  });
});

test('flags: flag-shaped keys only, "true" is on; a change names 1 to 32 flags with boolean values', () => {
  expect(flagsOf({ B_FLAG: 'true', A_FLAG: 'TRUE', 'log.level': 'true', lower: 'true' })).toEqual({ A_FLAG: false, B_FLAG: true });
  expect(checkFlags({ A: true })).toEqual({ A: true });
  expect(() => checkFlags({})).toThrow('flags must name 1 to 32 flags; got 0');
  expect(() => checkFlags({ 'log.level': true })).toThrow('flag name "log.level" must be upper-case');
  expect(() => checkFlags({ A: 'yes' })).toThrow('flag A must be true or false; got "yes"');
});

describe('apiError', () => {
  const call = { verb: 'patch' as const, resource: 'deployments/scale' as const, name: 'reports-worker', namespace: 'ns1', field: 'workers' };
  const failed = (code: number, message: string) =>
    Object.assign(new Error(`HTTP-Code: ${code}\nHeaders: {"x":"y"}`), { code, body: JSON.stringify({ kind: 'Status', message }) });

  test('404 names the kind, the object, the namespace and the setting; 403 the verb, the resource and the user; never retried', () => {
    expect(apiError(failed(404, 'not found'), call)).toMatchObject({
      name: 'InvalidTargetError',
      message: 'Deployment "reports-worker" not found in namespace "ns1": check platform.workers',
    });
    const refused = apiError(failed(403, 'deployments.apps "reports-worker" is forbidden: User "system:serviceaccount:a:runbooks" cannot patch ...'), call);
    expect(refused.name).toBe('InvalidTargetError');
    expect(refused.message).toMatch(
      /^kubernetes refused: patch deployments\/scale "reports-worker" in namespace "ns1": forbidden \(system:serviceaccount:a:runbooks\)/,
    );
  });

  test('422 and 400 are refused with the API message; 409 is a conflict to retry inside; the rest are plain retryable errors', () => {
    expect(apiError(failed(422, 'Service "x" is invalid: spec.selector'), call)).toMatchObject({
      name: 'UnsafeOperationError',
      message: 'kubernetes rejected: patch deployments/scale "reports-worker" in namespace "ns1": Service "x" is invalid: spec.selector',
    });
    expect(apiError(failed(409, 'the object has been modified'), call)).toBeInstanceOf(ConflictError);
    expect(apiError(failed(503, 'etcd is down'), call)).toMatchObject({ name: 'Error', message: expect.stringContaining('failed: HTTP 503: etcd is down') });
    expect(apiError(Object.assign(new Error('Unauthorized'), { code: 401 }), call).message).toContain('401 Unauthorized');
    const net = apiError(Object.assign(new Error('request to https://127.0.0.1:1/x failed, reason: connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), call);
    expect(net).toMatchObject({ name: 'Error', message: expect.stringContaining('ECONNREFUSED') });
    // The client's own message (with response headers) never becomes the error message.
    expect(apiError(failed(500, 'boom'), call).message).not.toContain('Headers');
  });

  test('credentials that slip into a message are cut out', () => {
    expect(redact('proxy said: Authorization: Bearer eyJhbGciOi.abc.def')).toBe('proxy said: Authorization: Bearer ***');
    expect(redact('token: abcdefghijklmnopqrstuvwxyz')).toBe('token: ***');
  });

  test('retryOnConflict re-runs on conflicts only, and gives up as a retryable error', async () => {
    let n = 0;
    expect(
      await retryOnConflict(async () => {
        n++;
        if (n < 3) throw new ConflictError('changed');
        return n;
      }),
    ).toBe(3);
    await expect(
      retryOnConflict(async () => {
        throw new ConflictError('changed');
      }, 2),
    ).rejects.toThrow('changed (still conflicting after 2 tries)');
  });
});
