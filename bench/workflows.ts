// Workflows of the benchmarks: baselines with nothing of ours in them, and a no-op runbook on the kit.
import { condition, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';
import { z } from 'zod';
import { runRunbook, type RunbookDefinition, type RunbookInputBase } from '../workflows/lib/kit';
import type { RunbookResult } from '../workflows/lib/result';
import { baseInputShape } from '../workflows/lib/schema';

export const bareApprove = defineUpdate<number, [{ approver: string }]>('approve');

/** Waits for one update and ends: the bare-Temporal cost of an approval round trip. */
export async function bareApproval(): Promise<number> {
  let votes = 0;
  setHandler(bareApprove, () => ++votes);
  await condition(() => votes > 0);
  return votes;
}

// ---- the runbook kit's own cost per step: N no-op steps through the kit vs N bare activities ----

const { noop } = proxyActivities<{ noop(i: number): Promise<number> }>({ startToCloseTimeout: '10s' });

/** Baseline: N activities in a row, nothing else. */
export async function bareSteps(n: number): Promise<number> {
  for (let i = 0; i < n; i++) await noop(i);
  return n;
}

const noopSchema = z.object({ ...baseInputShape, steps: z.number().int().min(1).max(100) }).strict();
type NoopInput = z.output<typeof noopSchema> & RunbookInputBase;

const noopRunbook: RunbookDefinition<NoopInput, Record<string, never>, Record<string, never>, RunbookResult> = {
  type: 'kitSteps',
  schema: noopSchema,
  subject: () => 'a bench run',
  target: () => 'bench',
  resolve: async () => ({}),
  initialState: () => ({}),
  steps: (i) =>
    Array.from({ length: i.steps }, (_, k) => ({
      id: `step-${k}`,
      kind: 'task' as const,
      title: `no-op ${k}`,
      run: async () => {
        await noop(k);
      },
    })),
  completed: (r) => `${r.input.steps} no-op steps`,
  progressNote: () => '',
  result: (base) => base,
};

/** The same N activities as steps of a runbook: plan, progress, audit, notification, search attributes. */
export async function kitSteps(input: z.input<typeof noopSchema>): Promise<RunbookResult> {
  return runRunbook(noopRunbook, input);
}
