// Restore of a service's data from a backup set (corruption, accidental deletion):
//   find and check the set, plan what is replaced with counts (a dry run stops here) -> approval ->
//   [exclusive use of the service] -> stop writes (processors to 0, maintenance mode) -> safety backup of
//   exactly what is replaced -> restore the selected tables, collections and key prefixes -> verify them
//   against the set's manifest -> resume writes -> audit record.
// A restore that fails verification, or is cut short, puts the safety backup back through the same restore
// path (the undo of the restore step), resumes writes and pages on-call; the run then ends failed, listing
// the differences and saying that the safety backup was put back.
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import type { LiveRestorePlan, SafetySetResult } from '../../activities/backups/restore-live';
import { setIdOf } from '../../common/backup-set-id';
import type { ApprovalPolicy } from '../lib/approval-rules';
import { ErrorType } from '../lib/errors';
import { runRunbook, type Resume, type Run, type RunbookDefinition, type Step } from '../lib/kit';
import { liveRestores } from '../lib/proxies';
import { resumeWritesAsBefore, stopWrites } from '../lib/writes';
import { defaultRestoreApproval, describeItem, restoreInputSchema, type RestoreInput, type RestoreParams, type RestoreResult } from './contract';

const TYPE = 'restore';
const RESUME = 'resume writes';
const PUT_BACK = 'put the safety backup back';
/** As activities/backups/restore-live.ts names safety sets (a value: workflows import activity code as types only). */
const SAFETY_SUFFIX = '-safety';

interface Target {
  plan: LiveRestorePlan;
  /** `<time>-<run>-safety`: never taken as "the newest verified set" nor by retention. */
  safetySetId: string;
}

interface State {
  before?: { replicas: number; maintenance: boolean };
  stopped: boolean;
  resumed: boolean;
  safety?: SafetySetResult;
  restored: RestoreResult['restored'];
  differences: string[];
  /** Set when the safety backup must go back: on-call is paged once writes are resumed. */
  page?: string;
  safetyRestored?: { setId: string; differences: string[] };
  safetyRestoreError?: string;
}

type RRun = Run<RestoreParams, Target, State>;
type RStep = Step<RestoreParams, Target, State>;

function approvalOf(input: RestoreParams, t?: Target): ApprovalPolicy | undefined {
  return input.approval ?? (t ? defaultRestoreApproval(t.plan.environment) : undefined);
}

const selection = (t: Target): string => t.plan.items.map(describeItem).join('; ');

async function resumeWrites(service: string, r: RRun): Promise<string> {
  const b = r.state.before;
  if (!b) return 'writes were not stopped';
  const done = await resumeWritesAsBefore(service, b);
  r.state.resumed = true;
  return done;
}

/** Pages on-call after a failed restore: what went wrong and what state the data is in now. */
async function page(r: RRun): Promise<void> {
  const s = r.state;
  const safety = s.safetyRestored
    ? `the safety backup ${s.safetyRestored.setId} was put back${s.safetyRestored.differences.length ? ` but ${s.safetyRestored.differences.length} difference(s) remain: ${s.safetyRestored.differences.slice(0, 5).join('; ')}` : ' and verified equal to it'}`
    : `putting the safety backup ${s.safety?.setId ?? '(none written)'} back FAILED: ${s.safetyRestoreError ?? 'unknown'}`;
  await r.tell(
    'restore-failed-page',
    'critical',
    'escalation',
    `Restore of ${r.input.service} failed: data needs a person`,
    `${s.page}; ${safety}; writes ${s.resumed ? 'resumed' : 'NOT resumed'}. Set ${r.target.plan.setId}; ${selection(r.target)}.`,
  );
}

function steps(input: RestoreParams, t: Target): RStep[] {
  const service = input.service;
  const p = t.plan;
  const policy = approvalOf(input, t)!;
  return [
    {
      id: 'find-set',
      kind: 'check',
      title: `use backup set ${p.setId} (finished ${p.finishedAt}${p.verified ? ', verified' : ', NOT marked verified'}): ${p.checked.files} object(s) checked against the manifest`,
      run: async (r) => {
        if (!p.verified) r.warnings.push(`set ${p.setId} is not marked verified by its backup run (its objects were checked before the plan)`);
        return `${p.checked.files} object(s), ${p.checked.bytes} bytes: checksums and contents match the manifest`;
      },
    },
    {
      id: 'plan',
      kind: 'check',
      title: `replace: ${selection(t)}`,
      run: async () => `${p.items.length} item(s) to replace`,
    },
    {
      id: 'approval',
      kind: 'gate',
      title: `approval by ${policy.quorum} of role ${policy.approverRoles.join('/')} (environment ${p.environment}; timeout ${policy.timeout})`,
      run: async (r) => {
        const s = await r.approve({
          detail: `Replace with backup set ${p.setId}: ${selection(t)}. Writes stop meanwhile; a safety backup is taken first.`,
          deniedNote: 'nothing was changed',
        });
        return `${s.status}: ${s.reason ?? ''}`;
      },
    },
    {
      id: 'stop-writes',
      kind: 'scale',
      changes: true,
      title: `stop writes: processors of ${service} to 0, maintenance mode on`,
      undo: {
        name: RESUME,
        run: async (r) => {
          const done = await resumeWrites(service, r);
          if (r.state.page) await page(r);
          return done;
        },
      },
      run: async (r) => {
        const stopped = await stopWrites(service);
        r.state.before = stopped.before;
        r.state.stopped = true;
        return stopped.detail;
      },
    },
    {
      id: 'safety-backup',
      kind: 'backup',
      title: `safety backup of exactly what is replaced, as it is now (set ${t.safetySetId}, verified)`,
      run: async (r) => {
        r.state.safety = await liveRestores.writeSafetySet({
          service,
          setId: t.safetySetId,
          restoreOf: p.setId,
          workflowId: r.workflowId,
          targets: p.targets,
        });
        await r.audit('safety-backup', 'safety-backup', { setId: t.safetySetId, restoreOf: p.setId, items: r.state.safety.items });
        return `${t.safetySetId}: ${r.state.safety.items.map(describeItem).join('; ')}`;
      },
    },
    {
      id: 'restore',
      kind: 'data',
      changes: true,
      title: `restore from set ${p.setId}: ${selection(t)}`,
      // Registered before the restore starts: a restore cut short or failing verification is put back.
      undo: {
        name: PUT_BACK,
        run: async (r) => {
          const safety = r.state.safety;
          if (!safety) return 'no safety backup was written, nothing was restored';
          r.state.page ??= 'the restore stopped before it was verified';
          try {
            await liveRestores.restoreLive({ service, setId: safety.setId, targets: p.targets });
            const v = await liveRestores.verifyLive({ service, setId: safety.setId, targets: p.targets });
            r.state.safetyRestored = { setId: safety.setId, differences: v.differences };
            return v.differences.length ? `put back, ${v.differences.length} difference(s) remain` : `put back, equal to ${safety.setId}`;
          } catch (err) {
            r.state.safetyRestoreError = err instanceof Error ? err.message : String(err);
            throw err;
          }
        },
      },
      run: async (r) => {
        const res = await liveRestores.restoreLive({ service, setId: p.setId, targets: p.targets });
        r.state.restored = res.items;
        return res.items.map((x) => `${x.store} ${x.target} ${x.name}: ${x.restored}`).join('; ');
      },
    },
    {
      id: 'verify',
      kind: 'verify',
      title: `verify counts and checksums of what was restored against the manifest of ${p.setId}`,
      settles: [PUT_BACK],
      run: async (r) => {
        const v = await liveRestores.verifyLive({ service, setId: p.setId, targets: p.targets });
        r.state.differences = v.differences;
        if (v.differences.length) {
          const shown = v.differences.slice(0, 30);
          r.state.page = `the restored data differs from set ${p.setId} in ${v.differences.length} place(s)`;
          throw ApplicationFailure.create({
            type: ErrorType.VerificationFailed,
            nonRetryable: true,
            message:
              `the restored data differs from the manifest of set ${p.setId} in ${v.differences.length} place(s): ${shown.join('; ')}` +
              (v.differences.length > shown.length ? `; and ${v.differences.length - shown.length} more` : ''),
          });
        }
        return v.items.map((x) => `${x.store} ${x.target} ${x.name}: ${x.count}`).join('; ') + ': equal to the manifest';
      },
    },
    {
      id: 'resume-writes',
      kind: 'scale',
      changes: true,
      title: 'resume writes: processors and maintenance mode as they were',
      settles: [RESUME],
      run: (r) => resumeWrites(service, r),
    },
    {
      id: 'record',
      kind: 'report',
      title: 'write the restore to the audit store',
      run: (r) =>
        r.audit('restore-completed', 'restore-completed', { setId: p.setId, safetySetId: t.safetySetId, restored: r.state.restored, replaced: p.items }),
    },
  ];
}

export const restoreRunbook: RunbookDefinition<RestoreParams, Target, State, RestoreResult> = {
  type: TYPE,
  schema: restoreInputSchema,
  subject: (i) => `restore of ${i.service} data`,
  target: (i) => i.service,
  async resolve(input, startedAtMs) {
    const plan = await liveRestores.planLiveRestore({
      service: input.service,
      ...(input.setId ? { setId: input.setId } : {}),
      selection: {
        ...(input.postgres ? { postgres: input.postgres } : {}),
        ...(input.mongo ? { mongo: input.mongo } : {}),
        ...(input.redis ? { redis: input.redis } : {}),
      },
    });
    // The run id's end: its start is a timestamp (UUIDv7), the same for runs started close together.
    const run = workflowInfo()
      .firstExecutionRunId.replace(/[^a-z0-9]/gi, '')
      .slice(-8);
    return { plan, safetySetId: `${setIdOf(new Date(startedAtMs), run)}${SAFETY_SUFFIX}` };
  },
  approval: approvalOf,
  exclusive: (i) => ({ key: `service:${i.service}`, waitAtMost: i.lockTimeout }),
  initialState: () => ({ stopped: false, resumed: false, restored: [], differences: [] }),
  steps,
  completed: (r) =>
    `${r.target.plan.items.length} item(s) of ${r.input.service} restored from set ${r.target.plan.setId} and equal to its manifest: ` +
    `${r.state.restored.map((x) => `${x.name} (${x.restored})`).join(', ')}; safety backup ${r.target.safetySetId}; writes resumed`,
  progressNote: (r) => {
    const s = r.state;
    return (
      `Writes: ${s.stopped ? (s.resumed ? 'stopped, then resumed' : 'stopped') : 'not stopped'}. ` +
      `Safety backup: ${s.safety ? s.safety.setId : 'not written'}. Restored: ${s.restored.map((x) => x.name).join(', ') || 'nothing'}.` +
      (s.differences.length ? ` ${s.differences.length} difference(s) from the set.` : '') +
      (s.safetyRestored
        ? ` The safety backup ${s.safetyRestored.setId} was restored${s.safetyRestored.differences.length ? ` with ${s.safetyRestored.differences.length} difference(s) left` : ' (verified equal to it)'}.`
        : '') +
      (s.page ? ' On-call was paged.' : '')
    );
  },
  result: (base, r) => ({
    ...base,
    service: r.input.service,
    ...(r.target ? { environment: r.target.plan.environment } : {}),
    ...(r.target ? { setId: r.target.plan.setId, setFinishedAt: r.target.plan.finishedAt } : {}),
    replaces: r.target?.plan.items ?? [],
    ...(r.state?.safety ? { safetySetId: r.state.safety.setId } : {}),
    restored: r.state?.restored ?? [],
    differences: r.state?.differences ?? [],
    ...(r.state?.safetyRestored ? { safetyRestored: r.state.safetyRestored } : {}),
    writes: {
      stopped: r.state?.stopped ?? false,
      resumed: r.state?.resumed ?? false,
      ...(r.state?.before ? { processorsBefore: r.state.before.replicas, maintenanceBefore: r.state.before.maintenance } : {}),
    },
  }),
};

export async function restore(input: RestoreInput, resume?: Resume<Target, State>): Promise<RestoreResult> {
  return runRunbook(restoreRunbook, input, resume);
}
