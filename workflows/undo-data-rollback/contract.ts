// The contract of undoing a completed rollback's database steps: input schema, result and example.
import { z } from 'zod';
import { approvalPolicySchema } from '../lib/approval-rules';
import type { RunbookResult } from '../lib/result';
import { baseInputShape, duration, targetName } from '../lib/schema';

export const undoDataRollbackInputSchema = z
  .object({
    ...baseInputShape,
    service: targetName.describe('the service whose rolled-back data to put back, e.g. "reports"'),
    rollbackId: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'a workflow id, e.g. rollback-reports-runbooks-w2992765')
      .optional()
      .describe("the completed emergency or gradual rollback whose database steps to undo; default the service's newest one that changed data"),
    approval: approvalPolicySchema.prefault({ approverRoles: ['dba', 'sre-lead'], timeout: '1h' }).describe('who approves putting the rolled-back data back'),
    lockTimeout: duration('4h').default('15m').describe('how long to wait while another run holds the service'),
  })
  .strict();

export type UndoDataRollbackInput = z.input<typeof undoDataRollbackInputSchema>;
export type UndoDataRollbackParams = z.output<typeof undoDataRollbackInputSchema>;

export interface UndoDataRollbackResult extends RunbookResult {
  service: string;
  /** The rollback undone (a dedupe id may be reused by a later rollback: its run id tells which). */
  rollbackId?: string;
  rollbackRunId?: string;
  /** Per database step, newest first: how many saved rows/documents were put back. */
  restored: Array<{ id: string; restored: number }>;
}

export function exampleUndoDataRollbackInput(): UndoDataRollbackInput {
  return {
    service: 'reports',
    requestedBy: 'bob',
    reason: 'the v2 release is fixed and redeployed: put its data back',
    approval: { quorum: 1, approverRoles: ['dba', 'sre-lead'], timeout: '1h' },
  };
}

export function summarizeUndoDataRollback(r: UndoDataRollbackResult): string[] {
  return [`undid the database steps of ${r.rollbackId ?? '(none found)'}`, ...r.restored.map((s) => `${s.id}: ${s.restored} restored`)];
}
