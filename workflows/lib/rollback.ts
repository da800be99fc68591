// What both rollback runbooks share: which revision to go back to, the database rollback steps (counted at
// plan time, saved and applied idempotently, undone together when the rollback stops partway), and the
// verification of the service afterwards.
import { ApplicationFailure, sleep } from '@temporalio/workflow';
import type {
  ConnectivityResult,
  DataRollbackCount,
  DeploymentState,
  HealthResult,
  MetricsCheck,
  ResolvedService,
  Revision,
  RollbackSettings,
  SmokeResult,
} from '../../activities';
import { ErrorType } from './errors';
import type { Run, RunbookInputBase, Step } from './kit';
import { dataRollback, health, lookups, platform, verify, waits } from './proxies';
import { toMs } from './schema';

export interface RollbackTarget {
  service: ResolvedService;
  settings: RollbackSettings;
  deployment: DeploymentState;
  /** The revision to go back to; absent with `refusal` when there is none to go to. */
  to?: Revision;
  refusal?: string;
  /** What each database rollback step would touch now (the plan shows it). */
  data: DataRollbackCount[];
}

export interface RollbackVerification {
  health?: HealthResult;
  connectivity?: ConnectivityResult[];
  smoke?: SmokeResult[];
  metrics?: MetricsCheck;
}

/** State both rollbacks keep: what the database steps changed. */
export interface DataState {
  applied: Record<string, { changed: number; saved: number }>;
}

export const rev = (r: Revision): string => `revision ${r.revision} (${r.version})`;

/** The revision to roll back to, or why there is none: a rollback never silently re-deploys a bad release. */
export function chooseRevision(d: DeploymentState, toRevision: number | undefined): { to?: Revision; refusal?: string } {
  const current = d.current;
  if (toRevision !== undefined) {
    const to = d.history.find((h) => h.revision === toRevision);
    if (!to) return { refusal: `toRevision: there is no revision ${toRevision}; history: ${d.history.map(rev).join(', ')}` };
    if (to.revision === current.revision) return { refusal: `toRevision: revision ${toRevision} is the current one: nothing to roll back` };
    return { to };
  }
  if (current.cause === 'rollback') {
    return {
      refusal:
        `the current ${rev(current)} is itself a rollback (${current.at}); rolling back again would re-deploy the release it replaced. ` +
        `Name toRevision to go further back`,
    };
  }
  const i = d.history.findIndex((h) => h.revision === current.revision);
  const to = i > 0 ? d.history[i - 1] : undefined;
  if (!to) return { refusal: `${rev(current)} has no previous revision to roll back to` };
  return { to };
}

/** Read-only: the service, its rollback settings and deployment, and the database steps' counts. */
export async function resolveRollback(input: { service: string; toRevision?: number | undefined; databaseRollback: boolean }): Promise<RollbackTarget> {
  const [service, settings, deployment] = await Promise.all([
    lookups.resolveService({ service: input.service }),
    lookups.rollbackSettings({ service: input.service }),
    platform.deploymentStatus({ service: input.service }),
  ]);
  const data = input.databaseRollback && settings.dataRollback ? await dataRollback.planDataRollback({ service: input.service }) : [];
  return { service, settings, deployment, data, ...chooseRevision(deployment, input.toRevision) };
}

const dataUndo = (id: string): string => `undo database rollback ${id}`;

/**
 * One step per configured database rollback step. Each saves what it changes (in the same transaction for
 * Postgres) and registers its undo before it runs; the database rollback is all or nothing: stopped
 * partway, the steps done are undone; once the last one is done it stays.
 */
export function dataRollbackSteps<P extends RunbookInputBase, S extends DataState>(
  service: string,
  data: DataRollbackCount[],
): Array<Step<P, RollbackTarget, S>> {
  return data.map((d, i) => ({
    id: `data-${d.id}`,
    kind: 'data',
    changes: true,
    title: `database rollback ${d.id}: ${d.change} on ${d.count} ${d.store === 'mongo' ? 'document(s)' : 'row(s)'} of ${d.where}${d.migration ? ` (down-migration ${d.migration})` : ''}`,
    undo: { name: dataUndo(d.id), run: (r) => dataRollback.undoDataRollbackStep({ service, stepId: d.id, runKey: r.runKey }) },
    ...(i === data.length - 1 ? { settles: data.map((x) => dataUndo(x.id)) } : {}),
    run: async (r: Run<P, RollbackTarget, S>) => {
      const res = await dataRollback.applyDataRollbackStep({ service, stepId: d.id, runKey: r.runKey });
      // What this run changed: every copy saved for it, by this attempt or an earlier one (a worker killed
      // after the change but before its reply) is of a row/document changed by the end of the step.
      const total = res.saved + res.alreadySaved;
      r.state.applied[d.id] = { changed: total, saved: total };
      await r.audit('data-rolled-back', `data-${d.id}`, { ...res });
      return `${total} changed, ${total} saved for undo${res.alreadySaved ? ` (${res.alreadySaved} by an earlier attempt)` : ''}`;
    },
  }));
}

/** What the database steps changed, for a run's ending reason. */
export function dataProgress(applied: DataState['applied']): string {
  const done = Object.entries(applied);
  return done.length ? done.map(([k, v]) => `${k} ${v.changed} changed`).join(', ') : 'not changed';
}

/** The database steps for a result: what each counted at plan time, and what it changed. */
export function dataResult(r: {
  input: { databaseRollback: boolean };
  target?: RollbackTarget;
  state: DataState;
}): Array<DataRollbackCount & { changed?: number; saved?: number }> {
  return r.target && r.input.databaseRollback ? r.target.data.map((d) => ({ ...d, ...r.state.applied[d.id] })) : [];
}

/** Waits for the rollout of `revision`; not complete in time fails the run (verification). */
export async function awaitRollout(service: string, revision: Revision, timeout: string): Promise<string> {
  const timeoutMs = toMs(timeout);
  const w = await waits(timeoutMs).waitForRollout({ service, revision: revision.revision, timeoutMs });
  if (!w.complete) {
    throw ApplicationFailure.create({
      type: ErrorType.VerificationFailed,
      nonRetryable: true,
      message: w.failed
        ? `the rollout of ${rev(revision)} failed: ${w.rollout.reason ?? 'failed'}${w.rollout.message ? ` (${w.rollout.message})` : ''}; ${w.rollout.updated}/${w.rollout.total} updated`
        : `the rollout of ${rev(revision)} did not complete in ${timeout} (${w.rollout.updated}/${w.rollout.total} updated)`,
    });
  }
  return `complete in ${(w.waitedMs / 1000).toFixed(1)}s`;
}

export function verificationProblems(v: RollbackVerification): string[] {
  const out: string[] = [];
  if (v.health && !v.health.healthy) out.push(`health check failed (${v.health.status ?? v.health.detail})`);
  for (const c of v.connectivity ?? []) if (!c.ok) out.push(`${c.kind} ${c.target} unreachable (${c.error ?? 'error'})`);
  for (const s of v.smoke ?? []) if (!s.ok) out.push(`smoke "${s.name}": ${s.passed}/${s.sent} passed (${JSON.stringify(s.statuses)})`);
  out.push(...(v.metrics?.breaches ?? []));
  return out;
}

/** A Prometheus range for a window in ms: whole seconds, at least 1. */
export const promWindow = (ms: number): string => `${Math.max(1, Math.round(ms / 1000))}s`;

/**
 * Health, connectivity and smoke requests; then, when the service has metrics configured, `windowMs` of
 * traffic is watched and its 5xx share and p95 read from Prometheus. Any problem fails the run.
 */
export async function verifyService(
  run: { status(s: 'monitoring' | 'running', m: string): void },
  service: string,
  v: RollbackVerification,
  opts: { smokeRequests: number; windowMs?: number; metrics: boolean },
): Promise<string> {
  [v.health, v.connectivity, v.smoke] = await Promise.all([
    health.checkHealth({ service }),
    health.checkConnectivity({ service }),
    verify.smokeTest({ service, times: opts.smokeRequests }),
  ]);
  if (opts.metrics && opts.windowMs) {
    run.status('monitoring', `watching ${service} for ${promWindow(opts.windowMs)} before reading Prometheus`);
    await sleep(opts.windowMs);
    v.metrics = await verify.checkServiceMetrics({ service, window: promWindow(opts.windowMs) });
    run.status('running', 'verified');
  }
  const problems = verificationProblems(v);
  if (problems.length) {
    throw ApplicationFailure.create({ type: ErrorType.VerificationFailed, nonRetryable: true, message: `verification failed: ${problems.join('; ')}` });
  }
  return (
    `healthy (HTTP ${v.health.status}); ${v.connectivity.length} store(s) reachable; ` +
    `smoke ${v.smoke.map((s) => `${s.passed}/${s.sent}`).join(', ') || 'none configured'}${v.metrics ? `; ${v.metrics.detail}` : ''}`
  );
}

export function flagsTo(names: string[], value: boolean): Record<string, boolean> {
  return Object.fromEntries(names.map((n) => [n, value]));
}

/** The named flags' values in `before` (flags it did not have are left alone). */
export function flagsFrom(names: string[], before: Record<string, boolean>): Record<string, boolean> {
  return Object.fromEntries(names.filter((f) => f in before).map((f) => [f, before[f]!]));
}
