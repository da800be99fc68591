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

/** The lock's state and what it does with each message; the workflow function below is only its loop. */
class Lock {
  readonly inbox: Message[] = [];
  private readonly told = new Map<string, string>();

  constructor(
    readonly input: LockWorkflowInput,
    readonly state: LockState,
  ) {}

  private notice(h: LockHolder, requestId: string, position?: number): LockNotice {
    return { key: this.input.key, requestId, holder: h.holder, holderRunbook: h.runbook, since: h.since, ...(position ? { position } : {}) };
  }

  // A run that ended since it asked cannot take a signal: that is not the lock's failure.
  private async tell(to: string, signal: typeof lockGranted, n: LockNotice): Promise<boolean> {
    try {
      await getExternalWorkflowHandle(to).signal(signal, n);
      return true;
    } catch (err) {
      log.warn(`lock ${this.input.key}: could not signal ${to}: ${(err as Error).message}`);
      return false;
    }
  }

  /** Requests join the line (or are refused at once, as they asked); releases free the target or leave the line. */
  async handleInbox(): Promise<void> {
    const state = this.state;
    while (this.inbox.length) {
      const m = this.inbox.shift()!;
      if (m.kind === 'release') {
        if (state.holder?.requestId === m.r.requestId) delete state.holder;
        else state.waiting = state.waiting.filter((w) => w.requestId !== m.r.requestId);
        continue;
      }
      const r = m.r;
      if (state.holder?.requestId === r.requestId) {
        await this.tell(r.holder, lockGranted, this.notice(state.holder, r.requestId)); // a retried request: say it again
      } else if (state.waiting.some((w) => w.requestId === r.requestId)) {
        // already in line
      } else if (r.mode === 'refuse' && (state.holder || state.waiting.length)) {
        const first = state.waiting[0]!;
        const h = state.holder ?? { holder: first.holder, runbook: first.runbook, requestId: first.requestId, since: new Date().toISOString() };
        await this.tell(r.holder, lockRefused, this.notice(h, r.requestId));
      } else {
        state.waiting.push(r);
      }
    }
  }

  /** Grants a free target to the first in line that still runs; tells the rest whom they wait for. */
  async grant(): Promise<void> {
    const state = this.state;
    while (!state.holder && state.waiting.length) {
      const next = state.waiting.shift()!;
      const h: LockHolder = { holder: next.holder, runbook: next.runbook, requestId: next.requestId, since: new Date().toISOString() };
      if (await this.tell(next.holder, lockGranted, this.notice(h, next.requestId))) state.holder = h;
    }
    // Once per holder, so a waiting run can say whom it waits for.
    for (const [i, w] of state.waiting.entries()) {
      if (state.holder && this.told.get(w.requestId) !== state.holder.requestId) {
        this.told.set(w.requestId, state.holder.requestId);
        await this.tell(w.holder, lockQueued, this.notice(state.holder, w.requestId, i + 1));
      }
    }
  }

  /** The lease: a holder that no longer runs (terminated, timed out) loses the target. */
  async checkHolder(): Promise<void> {
    const h = this.state.holder;
    if (!h || (await locks.holderRunning({ workflowId: h.holder }))) return;
    log.warn(`lock ${this.input.key}: holder ${h.holder} no longer runs; releasing it`);
    this.state.expired.push({ ...h, at: new Date().toISOString() });
    if (this.state.expired.length > 20) this.state.expired.shift();
    // Only if nothing changed while we asked.
    if (this.state.holder?.requestId === h.requestId) delete this.state.holder;
  }
}

export async function targetLock(input: LockWorkflowInput, carried?: Omit<LockState, 'key'>): Promise<LockState> {
  const lock = new Lock(input, {
    key: input.key,
    waiting: carried?.waiting ?? [],
    expired: carried?.expired.slice(-20) ?? [],
    ...(carried?.holder ? { holder: carried.holder } : {}),
  });
  setHandler(lockRequest, (r) => void lock.inbox.push({ kind: 'request', r }));
  setHandler(lockRelease, (r) => void lock.inbox.push({ kind: 'release', r }));
  setHandler(lockState, () => lock.state);
  const message = (): boolean => lock.inbox.length > 0;

  for (;;) {
    await lock.handleInbox();
    await lock.grant();
    if (message()) continue;
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > LOCK_HISTORY_LIMIT) {
      await condition(allHandlersFinished);
      const { holder, waiting, expired } = lock.state;
      if (!message()) await continueAsNew<typeof targetLock>(input, { waiting, expired, ...(holder ? { holder } : {}) });
    } else if (!lock.state.holder) {
      // Idle: wait a while for the next request, then end (the next request starts the lock again).
      if (await condition(message, IDLE_MS)) continue;
      await condition(allHandlersFinished);
      if (!message()) return lock.state;
    } else if (!(await condition(message, input.checkEveryMs))) {
      await lock.checkHolder();
    }
  }
}
