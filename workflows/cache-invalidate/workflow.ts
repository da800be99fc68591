// Cache invalidation (seed 002 "Scheduled Invalidation", and the seeds' `KEYS "analytics:*" | xargs DEL`):
//   count what each pattern matches (read-only, in resolve: over cache.maxInvalidate or outside the cache
//   prefix is refused without force) -> approval (a forced run outside local) -> exclusive use of the cache
//   -> unlink (SCAN + UNLINK in bounded batches, protected keys left alone) -> TTL hygiene -> hit-rate
//   check (low: the stakeholders are told to warm the cache) -> report.
// Unlinked cache keys are not undone: the cache is rebuilt from the database (cache-warm, or the next read).
import { ApplicationFailure } from '@temporalio/workflow';
import type { InvalidateResult, InvalidationPlan, TtlHygieneResult } from '../../activities';
import { approvalPolicySchema, type ApprovalPolicy } from '../lib/approval-rules';
import { ErrorType } from '../lib/errors';
import { runRunbook, type Resume, type RunbookDefinition, type Step } from '../lib/kit';
import { cacheInvalidation, cacheStats } from '../lib/proxies';
import { toMs } from '../lib/schema';
import {
  cacheInvalidateInputSchema,
  count,
  describePattern,
  hitRateStatus,
  pct,
  type CacheInvalidateInput,
  type CacheInvalidateParams,
  warmCommand,
  type CacheInvalidateResult,
} from './contract';

const TYPE = 'cacheInvalidate';

/** A forced invalidation outside the local environment: one sre-lead decides. */
const FORCE_APPROVAL: ApprovalPolicy = approvalPolicySchema.parse({ quorum: 1, approverRoles: ['sre-lead'], timeout: '1h' });

interface Target {
  plan: InvalidationPlan;
  ttlSeconds: number;
  windowMs: number;
  warnBelow: number;
  actBelow: number;
}

interface State {
  unlink?: InvalidateResult;
  ttl?: TtlHygieneResult;
  hitRate?: NonNullable<CacheInvalidateResult['hitRate']>;
}

type CStep = Step<CacheInvalidateParams, Target, State>;

/** Refuses the run as invalid input (the kit turns an InvalidTarget failure from resolve into one). */
function refuse(message: string): never {
  throw ApplicationFailure.create({ type: ErrorType.InvalidTarget, nonRetryable: true, message });
}

const fieldOf = (i: CacheInvalidateParams, index: number): string => (i.pattern !== undefined && index === 0 ? 'pattern' : 'users');

async function resolve(input: CacheInvalidateParams): Promise<Target> {
  const plan = await cacheInvalidation.planInvalidation({
    service: input.service,
    patterns: input.pattern !== undefined ? [input.pattern] : [],
    users: input.users ?? [],
    count: 1000,
  });
  if (!input.force) {
    plan.patterns.forEach((p, i) => {
      if (!p.insidePrefix)
        refuse(
          `${fieldOf(input, i)}: pattern "${p.pattern}" can match keys outside the cache prefix "${plan.prefix}": keep it under the prefix, or set force: true`,
        );
      const n = p.matched - p.protected;
      if (n > plan.maxInvalidate)
        refuse(
          `${fieldOf(input, i)}: pattern "${p.pattern}" matches ${n} keys, over cache.maxInvalidate ${plan.maxInvalidate}: set force: true to unlink them`,
        );
    });
    const total = plan.patterns.reduce((n, p) => n + p.matched - p.protected, 0);
    if (total > plan.maxInvalidate)
      refuse(`users: the patterns together match ${total} keys, over cache.maxInvalidate ${plan.maxInvalidate}: set force: true to unlink them`);
  }
  const warnBelow = input.warnBelow ?? plan.hitRate.warnBelow;
  const actBelow = input.actBelow ?? plan.hitRate.actBelow;
  if (input.hitRateCheck && warnBelow < actBelow)
    refuse(
      `${input.warnBelow !== undefined ? 'warnBelow' : 'actBelow'}: warnBelow ${warnBelow} is below actBelow ${actBelow} ` +
        `(with cache.hitRate of the config): a rate low enough to act on must also be worth a warning`,
    );
  return {
    plan,
    ttlSeconds: Math.ceil((input.ttl !== undefined ? toMs(input.ttl) : plan.ttlMs) / 1000),
    windowMs: toMs(input.hitRateWindow ?? '30s'),
    warnBelow,
    actBelow,
  };
}

const needsApproval = (input: CacheInvalidateParams, t?: Target): boolean => input.force && t !== undefined && t.plan.environment !== 'local';

/** The unlink step's title: every pattern with its count (the first few, when there are many). */
function unlinkTitle(t: Target, batchSize: number): string {
  const ps = t.plan.patterns;
  const shown = ps.slice(0, 5).map(describePattern);
  const rest = ps.slice(5);
  if (rest.length) shown.push(`and ${rest.length} more pattern(s) matching ${count(rest.reduce((n, p) => n + p.matched - p.protected, 0))} keys`);
  return `${shown.join('; ')} (SCAN + UNLINK, at most ${batchSize} keys a command)`;
}

function steps(input: CacheInvalidateParams, t: Target): CStep[] {
  const service = input.service;
  const patterns = t.plan.patterns.map((p) => p.pattern);
  return [
    {
      id: 'approval',
      kind: 'gate',
      title: `approval by 1 sre-lead: a forced invalidation in ${t.plan.environment} (timeout ${FORCE_APPROVAL.timeout})`,
      when: needsApproval(input, t),
      run: async (r) => {
        const s = await r.approve({
          detail: `Forced cache invalidation of ${service}: ${t.plan.patterns.map(describePattern).join('; ')}.`,
          deniedNote: 'nothing was unlinked',
        });
        return `${s.status}: ${s.reason ?? ''}`;
      },
    },
    {
      id: 'unlink',
      kind: 'data',
      changes: true,
      when: patterns.length > 0,
      title: unlinkTitle(t, input.batchSize),
      run: async (r) => {
        r.status('running', `unlinking keys matching ${patterns.length} pattern(s)`);
        const u = await cacheInvalidation.invalidateKeys({ service, patterns, batchSize: input.batchSize, runKey: r.runKey });
        r.state.unlink = u;
        return (
          `unlinked ${count(u.unlinked)} key(s)${u.protectedSkipped ? `, ${count(u.protectedSkipped)} protected left alone` : ''}, ` +
          `${count(u.scanCalls)} SCAN calls, ${count(u.keysPerSecond)} keys/s${u.resumed ? ' (resumed after a retry)' : ''}`
        );
      },
    },
    {
      id: 'ttl-hygiene',
      kind: 'data',
      changes: true,
      when: input.ttlHygiene,
      title: `give every key under ${t.plan.prefix} without a TTL one of ${t.ttlSeconds}s (EXPIRE NX: a TTL set meanwhile stays; nothing is deleted)`,
      run: async (r) => {
        r.state.ttl = await cacheInvalidation.ttlHygiene({ service, ttlSeconds: t.ttlSeconds, batchSize: input.batchSize });
        return `${count(r.state.ttl.fixed)} of ${count(r.state.ttl.scanned)} key(s) had no TTL and got one`;
      },
    },
    {
      id: 'hit-rate',
      kind: 'monitor',
      when: input.hitRateCheck,
      title: `measure the hit rate over ${Math.round(t.windowMs / 1000)}s (warn below ${pct(t.warnBelow)}, act below ${pct(t.actBelow)})`,
      run: async (r) => {
        r.status('monitoring', `counting cache lookups for ${Math.round(t.windowMs / 1000)}s`);
        const h = await cacheStats.cacheHitRate({ service, windowMs: t.windowMs });
        const status = hitRateStatus(h.rate, t.warnBelow, t.actBelow);
        r.state.hitRate = { rate: h.rate, hits: h.hits, misses: h.misses, windowMs: h.windowMs, warnBelow: t.warnBelow, actBelow: t.actBelow, status };
        const what = h.rate === null ? 'no lookups' : `${pct(h.rate)} (${count(h.hits)} hits, ${count(h.misses)} misses)`;
        if (status === 'warn' || status === 'act') r.warnings.push(`hit rate ${what} is below ${pct(t.warnBelow)}`);
        if (status === 'act') {
          await r.tell(
            'hit-rate-low',
            'warning',
            'stakeholders',
            `Cache hit rate of ${service} is ${pct(h.rate!)}`,
            `The cache of ${service} answered ${what} over ${Math.round(h.windowMs / 1000)}s, below ${pct(t.actBelow)}. ` +
              `Warm the cache: ${warmCommand(service, r.input.requestedBy, `hit rate ${pct(h.rate!)} below ${pct(t.actBelow)}`)}`,
          );
        }
        return `${what}: ${status}`;
      },
    },
  ];
}

export const cacheInvalidateRunbook: RunbookDefinition<CacheInvalidateParams, Target, State, CacheInvalidateResult> = {
  type: TYPE,
  schema: cacheInvalidateInputSchema,
  subject: (i) => `cache invalidation of ${i.service}`,
  target: (i) => i.service,
  resolve,
  approval: (input, t) => (needsApproval(input, t) ? FORCE_APPROVAL : undefined),
  // The same key cache-warm takes: a warming must not refill what is being unlinked. A run that only
  // measures the hit rate changes nothing, so it waits for nobody.
  exclusive: (i) => (i.pattern !== undefined || i.users?.length || i.ttlHygiene ? { key: `cache:${i.service}`, waitAtMost: '10m' } : undefined),
  initialState: () => ({}),
  steps,
  completed: (r) => {
    const done: string[] = [];
    if (r.state.unlink)
      done.push(`unlinked ${count(r.state.unlink.unlinked)} key(s) matching ${r.target.plan.patterns.map((p) => `"${p.pattern}"`).join(', ')}`);
    if (r.state.ttl) done.push(`TTL set on ${count(r.state.ttl.fixed)} key(s) that had none`);
    if (r.state.hitRate)
      done.push(r.state.hitRate.rate === null ? 'hit rate: no lookups' : `hit rate ${pct(r.state.hitRate.rate)} (${r.state.hitRate.status})`);
    return `cache of ${r.input.service}: ${done.join('; ') || 'nothing to do'}`;
  },
  progressNote: (r) =>
    `Unlinked: ${r.state.unlink ? `${count(r.state.unlink.unlinked)} key(s)` : 'nothing (or not reported: a stopped unlink may have removed part of the keys)'}; ` +
    `TTL hygiene: ${r.state.ttl ? `${count(r.state.ttl.fixed)} key(s) fixed` : 'not done'}. Unlinked cache keys are rebuilt by cache-warm or the next read.`,
  result: (base, r) => {
    const perPattern = r.state.unlink?.perPattern;
    return {
      ...base,
      service: r.input.service,
      patterns: (r.target?.plan.patterns ?? []).map((p, i) => ({
        pattern: p.pattern,
        matched: p.matched,
        protected: p.protected,
        sample: p.sample,
        ...(perPattern?.[i] ? { unlinked: perPattern[i].unlinked } : {}),
      })),
      ...(r.state.unlink
        ? {
            unlink: {
              unlinked: r.state.unlink.unlinked,
              protectedSkipped: r.state.unlink.protectedSkipped,
              scanCalls: r.state.unlink.scanCalls,
              ms: r.state.unlink.ms,
              keysPerSecond: r.state.unlink.keysPerSecond,
            },
          }
        : {}),
      ...(r.state.ttl ? { ttl: { seconds: r.target.ttlSeconds, scanned: r.state.ttl.scanned, fixed: r.state.ttl.fixed } } : {}),
      ...(r.state.hitRate ? { hitRate: r.state.hitRate } : {}),
    };
  },
};

export async function cacheInvalidate(input: CacheInvalidateInput, resume?: Resume<Target, State>): Promise<CacheInvalidateResult> {
  return runRunbook(cacheInvalidateRunbook, input, resume);
}
