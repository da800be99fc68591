// The rules of an approval gate as pure functions: who may vote, and when the votes decide.
// Kept free of Temporal APIs so they are unit-tested directly and read as the policy they are.
import { z } from 'zod';
import { duration, person, targetName } from './schema';

export const approvalPolicySchema = z
  .object({
    quorum: z.number().int().min(1).max(9).default(1).describe('approvals needed (M of N)'),
    approverRoles: z.array(targetName).min(1).default(['sre-lead']).describe('roles allowed to vote'),
    approvers: z.array(person).min(1).optional().describe('if set, only these people may vote'),
    timeout: duration('30d').default('4h').describe('no decision by then: the gate times out (never approves)'),
    escalateAfter: duration('30d').optional().describe('notify the escalation channel after this; default 3/4 of timeout'),
    allowUiVotes: z.boolean().default(true).describe('accept votes sent as signals from the Temporal UI (identity is then claimed, not proven)'),
  })
  .strict()
  .describe('who must approve, how many, and how long to wait');

export type ApprovalPolicy = z.output<typeof approvalPolicySchema>;

export type Decision = 'approve' | 'reject';
export type VoteChannel = 'update' | 'signal';

/** What a caller sends. The API and CLI set `approver` from the authenticated identity. */
export interface VoteRequest {
  approver: string;
  decision: Decision;
  comment?: string;
}

export interface Vote extends VoteRequest {
  at: string;
  via: VoteChannel;
  roles: string[];
}

export interface RefusedVote {
  approver: string;
  decision: Decision;
  at: string;
  via: VoteChannel;
  reason: string;
}

export type GateStatus = 'not-requested' | 'pending' | 'approved' | 'rejected' | 'timed-out';

export interface ApprovalState {
  status: GateStatus;
  requestedBy: string;
  policy: { quorum: number; approverRoles: string[]; approvers?: string[] };
  /** Eligible voters and their roles, as the directory said when the gate opened. */
  eligible: Record<string, string[]>;
  votes: Vote[];
  refused: RefusedVote[];
  /** Votes whose audit write failed when cast; the decision record carries them instead. */
  unrecorded: string[];
  openedAt?: string;
  deadline?: string;
  escalatedAt?: string;
  decidedAt?: string;
  reason?: string;
}

export const voteRequestSchema = z.object({
  approver: person,
  decision: z.enum(['approve', 'reject']),
  comment: z.string().max(2000).optional(),
});

/** People from the directory who may vote under this policy (roles intersect, and in the allow list). */
export function eligibleApprovers(directory: Record<string, string[]>, policy: Pick<ApprovalPolicy, 'approverRoles' | 'approvers'>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [who, roles] of Object.entries(directory)) {
    if (policy.approvers && !policy.approvers.includes(who)) continue;
    if (roles.some((r) => policy.approverRoles.includes(r))) out[who] = roles;
  }
  return out;
}

/**
 * Why a vote must be refused, or undefined when it counts. `directory` is every known person with roles
 * (so the message can say what roles someone has); `state.eligible` is who may vote.
 */
export function refusalReason(
  state: ApprovalState,
  req: VoteRequest,
  via: VoteChannel,
  directory: Record<string, string[]>,
  allowUiVotes: boolean,
): string | undefined {
  const parsed = voteRequestSchema.safeParse(req);
  if (!parsed.success) {
    return `malformed vote: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'vote'}: ${i.message}`).join('; ')}`;
  }
  if (via === 'signal' && !allowUiVotes) {
    return 'this gate does not accept votes from the Temporal UI; use the API or CLI (runbook approve)';
  }
  if (state.status !== 'pending') {
    return state.status === 'not-requested'
      ? 'approval has not been requested yet; vote once the run is awaiting approval'
      : `the approval gate is closed (${state.status}${state.decidedAt ? ` at ${state.decidedAt}` : ''})`;
  }
  const previous = state.votes.find((v) => v.approver === req.approver);
  if (previous) return `"${req.approver}" already voted (${previous.decision} at ${previous.at}); one vote per person`;

  const isRequester = req.approver === state.requestedBy;
  if (isRequester && req.decision === 'approve') {
    return `"${req.approver}" requested this run and cannot approve it; ask someone with role ${state.policy.approverRoles.join(' or ')}`;
  }
  // The requester may withdraw (reject) their own run whatever their roles.
  if (isRequester) return undefined;

  // Own properties only: a name like "constructor" must not find Object.prototype.
  if (!Object.hasOwn(state.eligible, req.approver)) {
    const roles = Object.hasOwn(directory, req.approver) ? directory[req.approver] : undefined;
    if (!roles) return `"${req.approver}" is not in the approver directory`;
    if (state.policy.approvers && !state.policy.approvers.includes(req.approver)) {
      return `"${req.approver}" is not one of this run's approvers (${state.policy.approvers.join(', ')})`;
    }
    return `"${req.approver}" has roles [${roles.join(', ')}]; this gate needs one of [${state.policy.approverRoles.join(', ')}]`;
  }
  return undefined;
}

/** The gate's decision after the votes so far: any rejection vetoes; quorum approvals approve. */
export function tally(state: ApprovalState): { status: GateStatus; reason?: string } {
  const rejection = state.votes.find((v) => v.decision === 'reject');
  if (rejection) {
    const who = rejection.approver === state.requestedBy ? `withdrawn by requester ${rejection.approver}` : `rejected by ${rejection.approver}`;
    return { status: 'rejected', reason: `${who}${rejection.comment ? `: ${rejection.comment}` : ''}` };
  }
  const approvals = state.votes.filter((v) => v.decision === 'approve');
  if (approvals.length >= state.policy.quorum) {
    return { status: 'approved', reason: `approved by ${approvals.map((v) => v.approver).join(', ')}` };
  }
  return { status: state.status };
}
