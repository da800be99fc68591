// How a run reads to people: the current details markdown (Web UI), the start's summary and details, the
// changes `runbook watch` prints, and who the inbox shows a run to. Pure functions, tested directly.
import { inboxItem, mayDecide, timeLeft } from '../../client/inbox';
import type { ApprovalState, Vote } from '../../workflows/lib/approval-rules';
import {
  currentDetails,
  deciders,
  describeChange,
  md,
  runChanges,
  startDetails,
  startSummary,
  type RunChange,
  type RunView,
} from '../../workflows/lib/details';
import type { PlanStep } from '../../workflows/lib/result';

const vote = (approver: string, decision: Vote['decision'] = 'approve', comment?: string): Vote => ({
  approver,
  decision,
  ...(comment ? { comment } : {}),
  at: '2026-11-24T21:10:00.000Z',
  via: 'update',
  roles: ['sre-lead'],
});

function gate(overrides: Partial<ApprovalState> = {}): ApprovalState {
  return {
    status: 'pending',
    requestedBy: 'bob',
    policy: { quorum: 2, approverRoles: ['sre-lead', 'dba'] },
    eligible: { alice: ['sre-lead'], dave: ['dba', 'sre-lead'], bob: ['dba'] },
    votes: [],
    refused: [],
    unrecorded: [],
    openedAt: '2026-11-24T21:00:00.000Z',
    deadline: '2026-11-24T22:00:00.000Z',
    ...overrides,
  };
}

const step = (id: string, status: PlanStep['status'], title = `do ${id}`, detail?: string): PlanStep => ({
  id,
  kind: 'task',
  title,
  status,
  ...(detail ? { detail } : {}),
});

describe('current details', () => {
  test('say the runbook, target, status, what it waits for and the plan with a mark per step', () => {
    const text = currentDetails({
      runbook: 'maintenanceWindow',
      target: 'reports',
      requestedBy: 'bob',
      status: 'awaiting-approval',
      message: 'waiting for 2 approval(s) until 2026-11-24T22:00:00.000Z',
      plan: [
        step('health', 'done', 'check reports health', 'HTTP 200 in 4ms'),
        step('approval', 'running', 'approval by 2 of role sre-lead/dba (timeout 1h)'),
        step('backup', 'skipped', 'pg_dump reports-db', 'backup: false'),
        step('task-1', 'failed', 'ANALYZE public.report_runs', 'relation does not exist'),
        step('report', 'pending', 'report the outcome'),
      ],
      approval: gate({ votes: [vote('alice')] }),
    });
    expect(text).toBe(
      [
        '**maintenanceWindow** on **reports** requested by bob',
        '',
        '**Status:** awaiting-approval — waiting for 2 approval(s) until 2026-11-24T22:00:00.000Z',
        '',
        '**Waits for**',
        '',
        '- **approval:** 1 of 2 approval(s); who may decide: dave (role sre-lead or dba; not the requester); deadline 2026-11-24T22:00:00.000Z; votes: alice approve',
        '',
        '**Plan** (2 of 5 steps done or skipped)',
        '',
        '1. ✓ check reports health — done: HTTP 200 in 4ms',
        '2. ▶ approval by 2 of role sre-lead/dba (timeout 1h) — running',
        '3. – pg\\_dump reports-db — skipped: backup: false',
        '4. ✗ ANALYZE public.report\\_runs — failed: relation does not exist',
        '5. · report the outcome — pending',
      ].join('\n'),
    );
  });

  test('name the run holding the target while the run waits for it, and a decided gate without "waits for"', () => {
    const waiting = currentDetails({
      runbook: 'restartWorkers',
      status: 'waiting-for-target',
      message: 'waiting for service:reports',
      waitingFor: 'maintenance-reports-1',
      plan: [],
      approval: gate({ status: 'approved', reason: 'approved by alice, dave', votes: [vote('alice'), vote('dave')] }),
    });
    expect(waiting).toContain('**Waits for**\n\n- **the target:** held by maintenance-reports-1');
    expect(waiting).not.toContain('**approval:**');
    expect(waiting).toContain('**Approval:** approved — approved by alice, dave');
    expect(waiting).not.toContain('**Plan**');
    expect(currentDetails({ runbook: 'x', status: 'running', message: 'go', plan: [] })).toBe('**x**\n\n**Status:** running — go');
  });

  test('escape markdown in what people wrote, and clip long step details', () => {
    expect(md('a_b *c* `d` [e](f) <g> |h| \\')).toBe('a\\_b \\*c\\* \\`d\\` \\[e\\](f) \\<g\\> \\|h\\| \\\\');
    const text = currentDetails({ runbook: 'x', status: 'failed', message: 'm', plan: [step('s', 'failed', 't', 'e'.repeat(500))] });
    const line = text.split('\n').at(-1)!;
    expect(line.length).toBeLessThan(230);
    expect(line.endsWith('…')).toBe(true);
  });

  test('who may still decide: eligible, not the requester, not yet voted', () => {
    expect(deciders(gate())).toEqual(['alice', 'dave']);
    expect(deciders(gate({ votes: [vote('dave')] }))).toEqual(['alice']);
  });
});

describe("a start's summary and details", () => {
  const facts = {
    name: 'maintenance-window',
    workflowType: 'maintenanceWindow',
    summary: 'planned maintenance',
    target: 'reports',
    requestedBy: 'bob',
    reason: 'weekly database maintenance',
    dryRun: false,
  };
  test('one line for the list, markdown for the page', () => {
    expect(startSummary(facts)).toBe('maintenance-window on reports for bob: weekly database maintenance');
    expect(startSummary({ ...facts, reason: undefined, dryRun: true })).toBe('maintenance-window on reports for bob (dry run)');
    expect(startSummary({ ...facts, reason: 'x'.repeat(600) })).toHaveLength(200);
    expect(startDetails(facts)).toBe(
      [
        '- **Runbook:** maintenance-window (workflow type maintenanceWindow): planned maintenance',
        '- **Target:** reports',
        '- **Requested by:** bob',
        '- **Reason:** weekly database maintenance',
        '- **Dry run:** no: changes reports once its checks and gates pass',
      ].join('\n'),
    );
    expect(startDetails({ ...facts, reason: undefined, dryRun: true })).toContain('- **Reason:** (none given)\n- **Dry run:** yes');
  });
});

describe('watch: what changed between two looks', () => {
  const plan = (...statuses: PlanStep['status'][]) => statuses.map((s, i) => step(`s${i + 1}`, s));
  const view = (status: string, message: string, steps: PlanStep[], approvals?: ApprovalState, runId = 'r1'): RunView => ({
    runId,
    progress: { status, message },
    plan: steps,
    ...(approvals ? { approvals } : {}),
  });

  test('the first look tells the status, then the plan once with its marks', () => {
    const first = view('pre-checks', 'checking', plan('done', 'running', 'pending'));
    expect(runChanges(undefined, first)).toEqual([
      { kind: 'status', status: 'pre-checks', message: 'checking' },
      { kind: 'plan', steps: first.plan },
    ]);
    // A run still validating has no plan yet: it is told when it appears.
    const validating = view('validating', 'validating input', []);
    expect(runChanges(undefined, validating)).toEqual([{ kind: 'status', status: 'validating', message: 'validating input' }]);
    expect(runChanges(validating, first).map((c) => c.kind)).toEqual(['plan', 'status']);
  });

  test('steps whose status changed, in plan order; nothing when nothing changed', () => {
    const a = view('running', 'go', plan('done', 'running', 'pending', 'pending'));
    const b = view('running', 'go', plan('done', 'done', 'skipped', 'running'));
    expect(runChanges(a, b)).toEqual([
      { kind: 'step', index: 1, step: b.plan![1] },
      { kind: 'step', index: 2, step: b.plan![2] },
      { kind: 'step', index: 3, step: b.plan![3] },
    ]);
    expect(runChanges(b, b)).toEqual([]);
    // A look whose queries failed tells nothing (and the watcher keeps the last look).
    expect(runChanges(b, { runId: 'r1' })).toEqual([]);
  });

  test('the gate: opened after the step that opens it, votes with the count so far, the decision before the steps it lets go on', () => {
    const before = view('pre-checks', 'checking', plan('done', 'pending', 'pending'), gate({ status: 'not-requested', deadline: undefined }));
    const open = view('awaiting-approval', 'waiting', plan('done', 'running', 'pending'), gate());
    expect(runChanges(before, open)).toEqual([
      { kind: 'step', index: 1, step: open.plan![1] },
      { kind: 'gate', status: 'pending', quorum: 2, deciders: ['alice', 'dave'], deadline: '2026-11-24T22:00:00.000Z' },
      { kind: 'status', status: 'awaiting-approval', message: 'waiting' },
    ]);
    const refused = { approver: 'carol', decision: 'approve' as const, at: 'now', via: 'signal' as const, reason: 'no role' };
    const decided = view(
      'running',
      'approved: approved by alice, dave',
      plan('done', 'done', 'running'),
      gate({ status: 'approved', reason: 'approved by alice, dave', votes: [vote('alice'), vote('dave')], refused: [refused] }),
    );
    expect(runChanges(open, decided)).toEqual([
      { kind: 'vote', vote: vote('alice'), approvals: 1, quorum: 2 },
      { kind: 'vote', vote: vote('dave'), approvals: 2, quorum: 2 },
      { kind: 'refused', refused },
      { kind: 'gate', status: 'approved', quorum: 2, deciders: [], deadline: '2026-11-24T22:00:00.000Z', reason: 'approved by alice, dave' },
      { kind: 'step', index: 1, step: decided.plan![1] },
      { kind: 'step', index: 2, step: decided.plan![2] },
      { kind: 'status', status: 'running', message: 'approved: approved by alice, dave' },
    ]);
  });

  test('a new run of the chain is told first; a plan of another shape is told again, without step changes', () => {
    const a = view('monitoring', 'watching', plan('done', 'running'));
    const b = view('monitoring', 'watching', plan('done', 'running'), undefined, 'r2');
    expect(runChanges(a, b)).toEqual([{ kind: 'continued', runId: 'r2' }]);
    const c = view('monitoring', 'watching', [...plan('done', 'done'), step('extra', 'pending')]);
    expect(runChanges(a, c)).toEqual([{ kind: 'plan', steps: c.plan }]);
  });

  test('each change as the lines watch prints', () => {
    const lines = (c: RunChange) => describeChange(c);
    expect(lines({ kind: 'plan', steps: [step('a', 'done', 'check health', 'ok'), step('b', 'pending', 'drain')] })).toEqual([
      'plan (2 steps):',
      '   1. ✓ done    check health — ok',
      '   2. · pending drain',
    ]);
    expect(lines({ kind: 'step', index: 3, step: step('c', 'failed', 'vacuum', 'timeout') })).toEqual(['✗ failed  vacuum — timeout']);
    expect(lines({ kind: 'vote', vote: vote('alice', 'approve', 'go'), approvals: 1, quorum: 2 })).toEqual([
      'vote: alice approves via update ("go") (1 of 2 approvals)',
    ]);
    expect(lines({ kind: 'vote', vote: vote('dave', 'reject'), approvals: 0, quorum: 1 })).toEqual(['vote: dave rejects via update (0 of 1 approvals)']);
    expect(lines({ kind: 'gate', status: 'pending', quorum: 1, deciders: ['alice', 'dave'], deadline: 'D' })).toEqual([
      'approval requested: 1 approval(s) from alice, dave; deadline D',
    ]);
    expect(lines({ kind: 'gate', status: 'timed-out', quorum: 1, deciders: [], reason: 'no decision by D' })).toEqual(['approval timed-out: no decision by D']);
    expect(lines({ kind: 'status', status: 'waiting-for-target', message: 'held by x' })).toEqual(['status: waiting-for-target — held by x']);
    expect(lines({ kind: 'continued', runId: 'r2' })).toEqual(['continued as new: run r2']);
    expect(lines({ kind: 'unreadable', error: 'no worker' })).toEqual(["cannot read the run's progress: no worker"]);
    expect(lines({ kind: 'outcome', outcome: 'completed', reason: 'all done', ok: true })).toEqual(['outcome: completed', '  all done']);
  });
});

describe('inbox: who a waiting run is shown to', () => {
  test('an eligible person who did not request the run and has not voted, while the gate is open', () => {
    expect(mayDecide('alice', gate())).toBe(true);
    expect(mayDecide('bob', gate())).toBe(false); // the requester, eligible by role
    expect(mayDecide('carol', gate())).toBe(false); // no approver role
    expect(mayDecide('constructor', gate())).toBe(false); // not found on Object.prototype
    expect(mayDecide('alice', gate({ votes: [vote('alice')] }))).toBe(false);
    expect(mayDecide('dave', gate({ votes: [vote('alice')] }))).toBe(true);
    expect(mayDecide('alice', gate({ status: 'rejected' }))).toBe(false);
    expect(mayDecide('alice', gate({ status: 'not-requested' }))).toBe(false);
  });

  test('an item says what, who asked, the votes, the time left, what follows approval and how to decide', () => {
    const steps = [
      step('health', 'done', 'check health'),
      step('approval', 'running', 'approval'),
      step('drain', 'pending', 'drain'),
      step('report', 'pending', 'report'),
    ];
    const run = { workflowId: 'maintenance-reports-1', runbook: 'maintenanceWindow', target: 'reports' };
    const now = new Date('2026-11-24T21:30:00.000Z');
    const opts = { now, runUrl: (id: string) => `http://ui/${id}`, progress: { message: 'waiting for 2 approval(s)' } };
    expect(inboxItem('dave', run, gate({ votes: [vote('alice')] }), steps, opts)).toEqual({
      workflowId: 'maintenance-reports-1',
      runbook: 'maintenanceWindow',
      name: 'maintenance-window',
      target: 'reports',
      requestedBy: 'bob',
      yourRoles: ['dba', 'sre-lead'],
      approvals: 1,
      quorum: 2,
      votes: [vote('alice')],
      openedAt: '2026-11-24T21:00:00.000Z',
      deadline: '2026-11-24T22:00:00.000Z',
      msLeft: 30 * 60_000,
      next: ['drain', 'report'],
      message: 'waiting for 2 approval(s)',
      approve: 'npm run runbook -- approve maintenance-reports-1 --as dave',
      reject: 'npm run runbook -- reject maintenance-reports-1 --as dave --comment "<why>"',
      url: 'http://ui/maintenance-reports-1',
    });
    expect(inboxItem('bob', run, gate(), steps, opts)).toBeUndefined();
    expect(inboxItem('alice', { ...run, runbook: 'somethingElse' }, gate(), steps, opts)).not.toHaveProperty('name');
  });

  test('time left reads in the largest units', () => {
    expect(timeLeft(40_500)).toBe('40s');
    expect(timeLeft(59 * 60_000 + 59_000)).toBe('59m');
    expect(timeLeft(2 * 3_600_000 + 5 * 60_000)).toBe('2h 05m');
    expect(timeLeft(3 * 86_400_000 + 4 * 3_600_000)).toBe('3d 04h');
    expect(timeLeft(0)).toBe('passed');
    expect(timeLeft(-5000)).toBe('passed');
  });
});
