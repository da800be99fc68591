// Undo the database steps of a completed rollback (emergency or gradual), from the rows and documents each
// step saved before it changed them: approval -> exclusive use of the service -> each step undone, newest
// first -> audit. For when the rolled-back release comes back (fixed) and its data should too. Each undo
// puts back what was saved once; rows changed since the rollback are overwritten by the saved copies.
import type { RollbackRunInfo } from '../../activities';
import { runRunbook, type Resume, type RunbookDefinition, type Step } from '../lib/kit';
import { dataRollback, lookups } from '../lib/proxies';
import { undoDataRollbackInputSchema, type UndoDataRollbackInput, type UndoDataRollbackParams, type UndoDataRollbackResult } from './contract';

const TYPE = 'undoDataRollback';

interface State {
  restored: Array<{ id: string; restored: number }>;
}

type UdStep = Step<UndoDataRollbackParams, RollbackRunInfo, State>;

function steps(input: UndoDataRollbackParams, t: RollbackRunInfo): UdStep[] {
  return [
    {
      id: 'precheck',
      kind: 'check',
      title: `read what the rollback ${input.rollbackId ?? `(the newest of ${input.service})`} changed in the databases`,
      run: async (r) => {
        if (!t.steps.length) r.stop('aborted', `${t.workflowId} changed nothing in the databases; there is nothing to undo`);
        return t.steps.map((s) => `${s.id}: ${s.changed}`).join(', ');
      },
    },
    {
      id: 'approval',
      kind: 'gate',
      title: `approval by ${input.approval.quorum} of role ${input.approval.approverRoles.join('/')} (timeout ${input.approval.timeout})`,
      run: async (r) => {
        const s = await r.approve({
          detail:
            `Puts back the rows/documents ${t.workflowId} (${t.workflowType}, ended ${t.closedAt}) changed on ${t.service}: ` +
            `${t.steps.map((x) => `${x.id} (${x.changed})`).join(', ')}. Changes made to them since are overwritten.`,
          deniedNote: 'the rolled-back data stay as they are',
        });
        return `${s.status}: ${s.reason ?? ''}`;
      },
    },
    ...[...t.steps].reverse().map((s): UdStep => ({
      id: `undo-${s.id}`,
      kind: 'data',
      changes: true,
      title: `put back what ${s.id} changed (${s.changed})`,
      run: async (r) => {
        const res = await dataRollback.undoDataRollbackStep({ service: t.service, stepId: s.id, runKey: t.runKey });
        r.state.restored.push({ id: s.id, restored: res.restored });
        await r.audit('data-rollback-undone', `undo-${s.id}`, { rollbackId: t.workflowId, ...res });
        return `${res.restored} restored`;
      },
    })),
  ];
}

export const undoDataRollbackRunbook: RunbookDefinition<UndoDataRollbackParams, RollbackRunInfo, State, UndoDataRollbackResult> = {
  type: TYPE,
  schema: undoDataRollbackInputSchema,
  subject: (i) => `undo of a rollback's database steps on ${i.service}`,
  target: (i) => i.service,
  resolve: (input) => lookups.rollbackRunInfo({ service: input.service, ...(input.rollbackId ? { workflowId: input.rollbackId } : {}) }),
  approval: (i) => i.approval,
  exclusive: (i) => ({ key: `service:${i.service}`, waitAtMost: i.lockTimeout }),
  initialState: () => ({ restored: [] }),
  steps,
  completed: (r) => `put back ${r.state.restored.reduce((n, s) => n + s.restored, 0)} row(s)/document(s) changed by ${r.target.workflowId}`,
  progressNote: (r) => `Restored: ${r.state.restored.map((s) => `${s.id} ${s.restored}`).join(', ') || 'nothing'}.`,
  result: (base, r) => ({
    ...base,
    service: r.input.service,
    ...(r.target ? { rollbackId: r.target.workflowId, rollbackRunId: r.target.runId } : {}),
    restored: r.state.restored,
  }),
};

export async function undoDataRollback(input: UndoDataRollbackInput, resume?: Resume<RollbackRunInfo, State>): Promise<UndoDataRollbackResult> {
  return runRunbook(undoDataRollbackRunbook, input, resume);
}
