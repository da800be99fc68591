import { eligibleApprovers, refusalReason, tally, type ApprovalState, type VoteRequest } from '../../workflows/lib/approval-rules';

const directory = { alice: ['sre-lead'], dave: ['dba', 'sre-lead'], bob: ['developer'], carol: ['developer'] };

function gate(overrides: Partial<ApprovalState> = {}): ApprovalState {
  const policy = { quorum: 2, approverRoles: ['sre-lead'] };
  return {
    status: 'pending',
    requestedBy: 'bob',
    policy,
    eligible: eligibleApprovers(directory, policy),
    votes: [],
    refused: [],
    unrecorded: [],
    ...overrides,
  };
}

function cast(state: ApprovalState, req: VoteRequest): string | undefined {
  const reason = refusalReason(state, req, 'update', directory, true);
  if (!reason) state.votes.push({ ...req, at: 'now', via: 'update', roles: directory[req.approver as keyof typeof directory] ?? [] });
  return reason;
}

describe('approval rules', () => {
  test('eligible approvers are the people holding an allowed role, narrowed by an explicit list', () => {
    expect(Object.keys(eligibleApprovers(directory, { approverRoles: ['sre-lead'] }))).toEqual(['alice', 'dave']);
    expect(Object.keys(eligibleApprovers(directory, { approverRoles: ['sre-lead'], approvers: ['dave'] }))).toEqual(['dave']);
  });

  test('the requester cannot approve their own run, but may withdraw it', () => {
    const s = gate();
    expect(cast(s, { approver: 'bob', decision: 'approve' })).toMatch(/requested this run and cannot approve it/);
    expect(cast(s, { approver: 'bob', decision: 'reject' })).toBeUndefined();
    expect(tally(s)).toEqual({ status: 'rejected', reason: 'withdrawn by requester bob' });
  });

  test('a role outside the policy and an unknown person are refused with what they lack', () => {
    const s = gate();
    expect(cast(s, { approver: 'carol', decision: 'approve' })).toBe('"carol" has roles [developer]; this gate needs one of [sre-lead]');
    expect(cast(s, { approver: 'mallory', decision: 'approve' })).toBe('"mallory" is not in the approver directory');
    // Names of Object.prototype members are people like any other, and unknown ones.
    expect(cast(s, { approver: 'constructor', decision: 'approve' })).toBe('"constructor" is not in the approver directory');
    expect(s.votes).toHaveLength(0);
  });

  test('quorum 2 of 2 stays pending after one approval, approves after the second; duplicates are refused', () => {
    const s = gate();
    expect(cast(s, { approver: 'alice', decision: 'approve' })).toBeUndefined();
    expect(tally(s).status).toBe('pending');
    expect(cast(s, { approver: 'alice', decision: 'approve' })).toMatch(/already voted/);
    expect(cast(s, { approver: 'dave', decision: 'approve', comment: 'go' })).toBeUndefined();
    expect(tally(s)).toEqual({ status: 'approved', reason: 'approved by alice, dave' });
  });

  test('one rejection vetoes, whatever the approvals', () => {
    const s = gate();
    cast(s, { approver: 'alice', decision: 'approve' });
    cast(s, { approver: 'dave', decision: 'reject', comment: 'backup not tested' });
    expect(tally(s)).toEqual({ status: 'rejected', reason: 'rejected by dave: backup not tested' });
  });

  test('votes outside a pending gate, malformed votes and UI votes when disallowed are refused', () => {
    expect(refusalReason(gate({ status: 'not-requested' }), { approver: 'alice', decision: 'approve' }, 'update', directory, true)).toMatch(
      /not been requested yet/,
    );
    expect(refusalReason(gate({ status: 'timed-out' }), { approver: 'alice', decision: 'approve' }, 'update', directory, true)).toMatch(/closed \(timed-out/);
    expect(refusalReason(gate(), { approver: 'alice', decision: 'maybe' } as never, 'signal', directory, true)).toMatch(/^malformed vote: decision/);
    expect(refusalReason(gate(), { approver: 'alice', decision: 'approve' }, 'signal', directory, false)).toMatch(/does not accept votes from the Temporal UI/);
  });
});
