// The deployment history of the demo reports service, modelled on a Kubernetes Deployment's revisions:
// deploying a version makes a new revision (`kubectl set image`), a rollback makes a new revision with an
// older revision's version (`kubectl rollout undo`). Either restarts the service's processes on that
// version's code: the public API behaves as the new version at once, and the job processors get a graceful
// restart (generation +1), whose progress is the rollout's. The history and the requests already applied
// live in Redis next to the platform state (`${stateKey}:deploy`, `${stateKey}:deploy-requests`), so they
// survive a restart of the service; a retried request (same id) is answered from there, not applied again.
import type { Redis } from 'ioredis';
// The wire format is the platform port's (what the local adapter reads): one definition of it.
import type { DeployResult, DeploymentState, Revision, RolloutStatus } from '../activities/platform/port';
import type { Processors } from './processors';
import type { Restarts } from './restarts';
import { findVersion, type VersionCatalog, type VersionSpec } from './versions';

export type { DeployResult, DeploymentState, Revision, RolloutStatus };

export type DeployAnswer = { code: 200 | 201; body: DeployResult } | { code: 400 | 409; body: { error: string } };

/** What a revision is stored as: plus the processor generation its rollout started, to measure it by. */
interface StoredRevision extends Revision {
  generation: number;
}

/** What was asked under a request id, to tell a retry from the id's reuse for something else. */
type Request = { kind: 'deploy'; version: string } | { kind: 'rollback'; toRevision: number | null };

interface AppliedRequest {
  request: Request;
  answer: DeployResult;
}

// Creates the history from the initial versions only when there is none: two services starting at once on
// one state key (or a restart) must not both write it.
const INIT = `
if redis.call('LLEN', KEYS[1]) == 0 then
  for i = 1, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
end
return redis.call('LRANGE', KEYS[1], 0, -1)
`;

const publicRevision = ({ revision, version, cause, requestId, at }: StoredRevision): Revision => ({ revision, version, cause, requestId, at });

const describe = (r: Request): string => (r.kind === 'deploy' ? `a deploy of ${r.version}` : `a rollback to ${r.toRevision ?? 'the previous revision'}`);

export class Deployments {
  /** Oldest first, never empty once loaded. */
  private history: StoredRevision[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly stateKey: string,
    private readonly catalog: VersionCatalog,
    private readonly processors: Processors,
    private readonly restarts: Restarts,
  ) {}

  private get historyKey(): string {
    return `${this.stateKey}:deploy`;
  }

  private get requestsKey(): string {
    return `${this.stateKey}:deploy-requests`;
  }

  /** Reads the history; an empty one starts as one revision per initial version (cause 'deploy'). */
  async load(initialVersions: readonly string[]): Promise<void> {
    if (initialVersions.length === 0) throw new Error('the demo needs at least one initial version to start from');
    const at = new Date().toISOString();
    const initial = initialVersions.map((version, i): StoredRevision => ({
      revision: i + 1,
      version,
      cause: 'deploy',
      requestId: `initial-${i + 1}`,
      at,
      generation: this.processors.generation,
    }));
    const raw = (await this.redis.eval(INIT, 1, this.historyKey, ...initial.map((r) => JSON.stringify(r)))) as string[];
    this.history = raw.map((r) => JSON.parse(r) as StoredRevision);
  }

  private get last(): StoredRevision {
    const last = this.history[this.history.length - 1];
    if (!last) throw new Error('the deployment history is not loaded');
    return last;
  }

  get current(): Revision {
    return publicRevision(this.last);
  }

  /** How the deployed version behaves; a version no longer in the catalog behaves as a healthy one. */
  behaviour(): VersionSpec {
    const { version } = this.last;
    return findVersion(this.catalog, version) ?? { name: version, description: 'not in the catalog', errorRate: 0, delayMs: 0 };
  }

  rollout(): RolloutStatus {
    const { revision, generation } = this.last;
    const total = this.processors.replicas;
    const updated = Math.min(this.processors.updatedSince(generation), total);
    return { revision, status: updated >= total ? 'complete' : 'in-progress', updated, total };
  }

  state(): DeploymentState {
    return { current: this.current, history: this.history.map(publicRevision), rollout: this.rollout(), available: this.catalog.map((v) => v.name) };
  }

  deploy(version: string, requestId: string): Promise<DeployAnswer> {
    return this.restarts.serialize(() => this.apply({ kind: 'deploy', version }, requestId));
  }

  rollback(requestId: string, toRevision?: number): Promise<DeployAnswer> {
    return this.restarts.serialize(() => this.apply({ kind: 'rollback', toRevision: toRevision ?? null }, requestId));
  }

  private async apply(request: Request, requestId: string): Promise<DeployAnswer> {
    const applied = await this.redis.hget(this.requestsKey, requestId);
    if (applied !== null) {
      const first = JSON.parse(applied) as AppliedRequest;
      // The same id for something else is a caller's bug, not a retry: replaying would hide it.
      if (JSON.stringify(first.request) !== JSON.stringify(request)) {
        return { code: 409, body: { error: `deployment request ${requestId} was applied as ${describe(first.request)}, not ${describe(request)}` } };
      }
      return { code: 200, body: { ...first.answer, repeated: true } };
    }
    const target = this.target(request);
    if ('error' in target) return target.error;

    const previous = this.last;
    // Recorded after the restart, not before (as restarts.ts does): if Redis fails in between, the caller's
    // retry restarts once more, whereas recording first could answer for a deploy that never happened.
    const generation = this.processors.gracefulRestart();
    const next: StoredRevision = {
      revision: previous.revision + 1,
      version: target.version,
      cause: request.kind,
      requestId,
      at: new Date().toISOString(),
      generation,
    };
    const answer: DeployResult = { revision: publicRevision(next), previous: publicRevision(previous), repeated: false };
    // One MULTI: a revision is never persisted without the request that made it, nor with another generation.
    const results = await this.redis
      .multi()
      .hset(this.stateKey, 'generation', String(generation))
      .rpush(this.historyKey, JSON.stringify(next))
      .hset(this.requestsKey, requestId, JSON.stringify({ request, answer } satisfies AppliedRequest))
      .exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw new Error(`recording revision ${next.revision} failed: ${failed?.[0]?.message ?? 'transaction aborted'}`);
    this.history.push(next);
    return { code: 201, body: answer };
  }

  /** The version a request deploys, or why it cannot. */
  private target(request: Request): { version: string } | { error: DeployAnswer } {
    const available = this.catalog.map((v) => v.name).join(', ');
    if (request.kind === 'deploy') {
      if (!findVersion(this.catalog, request.version))
        return { error: { code: 400, body: { error: `unknown version "${request.version}"; available: ${available}` } } };
      return { version: request.version };
    }
    const current = this.last;
    const conflict = (error: string): { error: DeployAnswer } => ({ error: { code: 409, body: { error } } });
    let to: StoredRevision | undefined;
    if (request.toRevision === null) {
      to = this.history[this.history.length - 2];
      if (!to) return conflict(`there is no revision before the current one (revision ${current.revision}, ${current.version}) to roll back to`);
    } else {
      to = this.history.find((r) => r.revision === request.toRevision);
      if (!to) return conflict(`there is no revision ${request.toRevision} to roll back to; revisions are 1 to ${current.revision}`);
      if (to.revision === current.revision) return conflict(`revision ${to.revision} (${to.version}) is the current revision already`);
    }
    if (!findVersion(this.catalog, to.version))
      return conflict(`revision ${to.revision} runs ${to.version}, which is no longer deployable; available: ${available}`);
    return { version: to.version };
  }
}
