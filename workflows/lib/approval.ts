// The approval gate every runbook reuses. Authenticated callers (HTTP API, CLI) vote through the
// `approve` Update, whose validator refuses a bad vote before it enters history and tells the caller why.
// People in the Temporal Web UI vote with the `approveFromUi` Signal; a refused signal vote is recorded
// with its reason, never applied. Votes, refusals and the decision are queryable (`pendingApprovals`).
import { ApplicationFailure, CancellationScope, condition, defineQuery, defineSignal, defineUpdate, setHandler } from '@temporalio/workflow';
import {
  eligibleApprovers,
  refusalReason,
  tally,
  type ApprovalPolicy,
  type ApprovalState,
  type RefusedVote,
  type Vote,
  type VoteChannel,
  type VoteRequest,
} from './approval-rules';
import { ErrorType, failureMessage } from './errors';
import { INVALID_INPUT } from './validate';

export const approve = defineUpdate<ApprovalState, [VoteRequest]>('approve');
export const approveFromUi = defineSignal<[VoteRequest]>('approveFromUi');
export const pendingApprovals = defineQuery<ApprovalState>('pendingApprovals');

export const VOTE_REFUSED = ErrorType.VoteRefused;

export interface GateHooks {
  /** Called once per counted vote (write it to the audit store). */
  onVote(vote: Vote): Promise<void>;
  /** Called once per refused signal vote. */
  onRefused(refused: RefusedVote): Promise<void>;
  /** The gate opened: tell the approvers. */
  onOpen(state: ApprovalState): Promise<void>;
  /** No decision by the escalation time: tell the escalation channel. */
  onEscalate(state: ApprovalState): Promise<void>;
}

export class ApprovalGate {
  readonly state: ApprovalState;
  private directory: Record<string, string[]> = {};

  /**
   * `policy` undefined: the run has no approval gate; every vote is refused with that reason. `restored`:
   * the gate's state carried over by continue-as-new.
   */
  constructor(
    private policy: ApprovalPolicy | undefined,
    requestedBy: string,
    private readonly hooks: GateHooks,
    restored?: ApprovalState,
  ) {
    this.state = restored ?? {
      status: 'not-requested',
      requestedBy,
      policy: policy
        ? { quorum: policy.quorum, approverRoles: policy.approverRoles, ...(policy.approvers ? { approvers: policy.approvers } : {}) }
        : { quorum: 0, approverRoles: [] },
      eligible: {},
      votes: [],
      refused: [],
      unrecorded: [],
    };
    setHandler(pendingApprovals, () => this.state);
    setHandler(
      approve,
      async (req) => {
        const vote = this.count(req, 'update');
        await this.record(() => this.hooks.onVote(vote), `vote of ${vote.approver}`);
        return this.state;
      },
      {
        validator: (req: VoteRequest) => {
          const reason = this.refusal(req, 'update');
          if (reason) throw ApplicationFailure.create({ message: reason, type: VOTE_REFUSED, nonRetryable: true });
        },
      },
    );
    setHandler(approveFromUi, async (req) => {
      const reason = this.refusal(req, 'signal');
      if (reason) {
        const refused: RefusedVote = {
          approver: String(req?.approver ?? ''),
          decision: req?.decision === 'reject' ? 'reject' : 'approve',
          at: new Date().toISOString(),
          via: 'signal',
          reason,
        };
        this.state.refused.push(refused);
        await this.record(() => this.hooks.onRefused(refused), `refused vote of ${refused.approver}`);
        return;
      }
      const vote = this.count(req, 'signal');
      await this.record(() => this.hooks.onVote(vote), `vote of ${vote.approver}`);
    });
  }

  /**
   * Runs a hook from a handler. It must neither fail nor be cancelled with the run: an error thrown from a
   * signal handler fails the whole workflow, skipping its undo steps. A vote whose audit write failed is
   * still counted, listed in `unrecorded`, and written with the decision record.
   */
  private async record(hook: () => Promise<void>, what: string): Promise<void> {
    try {
      await CancellationScope.nonCancellable(hook);
    } catch (err) {
      this.state.unrecorded.push(`${what}: ${failureMessage(err)}`);
    }
  }

  /**
   * Loads who may vote. Fails the run (non-retryable, naming the field) when the policy can never be met,
   * e.g. a quorum of 2 with one eligible approver besides the requester.
   */
  prepare(directory: Record<string, string[]>, policy?: ApprovalPolicy): void {
    this.directory = directory;
    // A policy known only once the targets are resolved (e.g. by the target's environment).
    if (policy && !this.policy) {
      this.policy = policy;
      if (this.state.status === 'not-requested')
        this.state.policy = { quorum: policy.quorum, approverRoles: policy.approverRoles, ...(policy.approvers ? { approvers: policy.approvers } : {}) };
    }
    if (!this.policy) return;
    this.state.eligible = eligibleApprovers(directory, this.policy);
    const others = Object.keys(this.state.eligible).filter((p) => p !== this.state.requestedBy);
    if (others.length < this.policy.quorum) {
      throw ApplicationFailure.create({
        type: INVALID_INPUT,
        nonRetryable: true,
        message:
          `invalid input: approval.quorum: needs ${this.policy.quorum} approver(s) with role ` +
          `${this.policy.approverRoles.join(' or ')} other than the requester; the directory has ` +
          `${others.length}${others.length ? ` (${others.join(', ')})` : ''}`,
      });
    }
  }

  get decided(): boolean {
    return this.state.status !== 'pending' && this.state.status !== 'not-requested';
  }

  /**
   * Opens the gate and waits for a decision until `deadlineMs` (epoch ms). Escalates at `escalateAtMs`
   * if still undecided. A deadline without a decision is 'timed-out', never approval.
   */
  async request(opts: { deadlineMs: number; escalateAtMs: number; deadlineReason: string }): Promise<ApprovalState> {
    const s = this.state;
    s.status = 'pending';
    s.openedAt = new Date().toISOString();
    s.deadline = new Date(opts.deadlineMs).toISOString();
    await this.hooks.onOpen(s);

    if (opts.escalateAtMs < opts.deadlineMs && !this.decided) {
      const early = await condition(() => this.decided, Math.max(1, opts.escalateAtMs - Date.now()));
      if (!early) {
        s.escalatedAt = new Date().toISOString();
        await this.hooks.onEscalate(s);
      }
    }
    if (!this.decided) {
      const decided = await condition(() => this.decided, Math.max(1, opts.deadlineMs - Date.now()));
      if (!decided) {
        const approvals = s.votes.filter((v) => v.decision === 'approve').length;
        s.status = 'timed-out';
        s.decidedAt = new Date().toISOString();
        s.reason = `no decision by ${s.deadline} (${opts.deadlineReason}); ${approvals} of ${s.policy.quorum} approval(s)`;
      }
    }
    return s;
  }

  private refusal(req: VoteRequest, via: VoteChannel): string | undefined {
    if (!this.policy) return 'this run has no approval gate';
    return refusalReason(this.state, req, via, this.directory, this.policy.allowUiVotes);
  }

  private count(req: VoteRequest, via: VoteChannel): Vote {
    const vote: Vote = {
      approver: req.approver,
      decision: req.decision,
      ...(req.comment ? { comment: req.comment } : {}),
      at: new Date().toISOString(),
      via,
      roles: Object.hasOwn(this.directory, req.approver) ? (this.directory[req.approver] ?? []) : [],
    };
    this.state.votes.push(vote);
    const result = tally(this.state);
    if (result.status !== 'pending') {
      this.state.status = result.status;
      this.state.decidedAt = vote.at;
      if (result.reason) this.state.reason = result.reason;
    }
    return vote;
  }
}
