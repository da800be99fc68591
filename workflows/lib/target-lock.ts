// Exclusive access to a target, with Temporal's own means: one lock workflow per target key (workflow id
// lock:<key>), started or signalled with signal-with-start by the runbook that wants the target. It grants
// the target to one run at a time, in order of request, and tells a waiting run who holds it. A holder
// releases on every ending it sees (completed, failed, cancelled); one that cannot (terminated, timed out)
// is found out by the lock itself, which checks every `checkEveryMs` that its holder still runs: that
// interval is the lease a dead holder can keep the target for.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  log,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { LockSignal, type LockNotice, type LockRelease, type LockRequest, type LockWorkflowInput } from '../../common/locks';
import { locks } from './proxies';

export const lockRequest = defineSignal<[LockRequest]>(LockSignal.request);
export const lockRelease = defineSignal<[LockRelease]>(LockSignal.release);
export const lockGranted = defineSignal<[LockNotice]>(LockSignal.granted);
export const lockRefused = defineSignal<[LockNotice]>(LockSignal.refused);
export const lockQueued = defineSignal<[LockNotice]>(LockSignal.queued);

export interface LockHolder {
  holder: string;
  runbook: string;
  requestId: string;
  since: string;
}

export interface LockState {
  key: string;
  holder?: LockHolder;
  waiting: LockRequest[];
  /** Holders released because they no longer ran (terminated, timed out) rather than by themselves. */
  expired: Array<LockHolder & { at: string }>;
}

export const lockState = defineQuery<LockState>('lockState');

type Message = { kind: 'request'; r: LockRequest } | { kind: 'release'; r: LockRelease };

/** History events after which the lock continues as new (it lives as long as its target is contended). */
const LOCK_HISTORY_LIMIT = 5000;
/** An idle lock stays this long for the next request before it ends (the next request starts it again). */
const IDLE_MS = 60_000;

export async function targetLock(input: LockWorkflowInput, carried?: Omit<LockState, 'key'>): Promise<LockState> {
  const state: LockState = { key: input.key, waiting: carried?.waiting ?? [], expired: carried?.expired.slice(-20) ?? [], ...(carried?.holder ? { holder: carried.holder } : {}) };
  const inbox: Message[] = [];
  const told = new Map<string, string>();
  setHandler(lockRequest, (r) => void inbox.push({ kind: 'request', r }));
  setHandler(lockRelease, (r) => void inbox.push({ kind: 'release', r }));
  setHandler(lockState, () => state);

  const notice = (h: LockHolder, requestId: string, position?: number): LockNotice => ({
    key: input.key,
    requestId,
    holder: h.holder,
    holderRunbook: h.runbook,
    since: h.since,
    ...(position ? { position } : {}),
  });
  // A run that ended since it asked cannot take a signal: that is not the lock's failure.
  const tell = async (to: string, signal: typeof lockGranted, n: LockNotice): Promise<boolean> => {
    try {
      await getExternalWorkflowHandle(to).signal(signal, n);
      return true;
    } catch (err) {
      log.warn(`lock ${input.key}: could not signal ${to}: ${(err as Error).message}`);
      return false;
    }
  };

  for (;;) {
    while (inbox.length) {
      const m = inbox.shift()!;
      if (m.kind === 'release') {
        if (state.holder?.requestId === m.r.requestId) delete state.holder;
        else state.waiting = state.waiting.filter((w) => w.requestId !== m.r.requestId);
        continue;
      }
      const r = m.r;
      if (state.holder?.requestId === r.requestId) {
        await tell(r.holder, lockGranted, notice(state.holder, r.requestId)); // a retried request: say it again
      } else if (state.waiting.some((w) => w.requestId === r.requestId)) {
        // already in line
      } else if (r.mode === 'refuse' && (state.holder || state.waiting.length)) {
        const first = state.waiting[0]!;
        const h = state.holder ?? { holder: first.holder, runbook: first.runbook, requestId: first.requestId, since: new Date().toISOString() };
        await tell(r.holder, lockRefused, notice(h, r.requestId));
      } else {
        state.waiting.push(r);
      }
    }

    while (!state.holder && state.waiting.length) {
      const next = state.waiting.shift()!;
      const h: LockHolder = { holder: next.holder, runbook: next.runbook, requestId: next.requestId, since: new Date().toISOString() };
      if (await tell(next.holder, lockGranted, notice(h, next.requestId))) state.holder = h;
    }
    // Everyone in line learns who holds the target now (once per holder), so they can say whom they wait for.
    for (const [i, w] of state.waiting.entries()) {
      if (state.holder && told.get(w.requestId) !== state.holder.requestId) {
        told.set(w.requestId, state.holder.requestId);
        await tell(w.holder, lockQueued, notice(state.holder, w.requestId, i + 1));
      }
    }

    if (inbox.length) continue;
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > LOCK_HISTORY_LIMIT) {
      await condition(allHandlersFinished);
      if (!inbox.length) await continueAsNew<typeof targetLock>(input, { waiting: state.waiting, expired: state.expired, ...(state.holder ? { holder: state.holder } : {}) });
      continue;
    }

    if (!state.holder) {
      if (await condition(() => inbox.length > 0, IDLE_MS)) continue;
      await condition(allHandlersFinished);
      if (!inbox.length) return state;
      continue;
    }

    if (!(await condition(() => inbox.length > 0, input.checkEveryMs))) {
      const h = state.holder;
      if (!(await locks.holderRunning({ workflowId: h.holder }))) {
        log.warn(`lock ${input.key}: holder ${h.holder} no longer runs; releasing it`);
        state.expired.push({ ...h, at: new Date().toISOString() });
        if (state.expired.length > 20) state.expired.shift();
        // Only if nothing changed while we asked.
        if (state.holder?.requestId === h.requestId) delete state.holder;
      }
    }
  }
}
