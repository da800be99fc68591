// Baseline workflows for the benchmarks: the same shape as a runbook step, with nothing of ours in it.
import { condition, defineUpdate, setHandler } from '@temporalio/workflow';

export const bareApprove = defineUpdate<number, [{ approver: string }]>('approve');

/** Waits for one update and ends: the bare-Temporal cost of an approval round trip. */
export async function bareApproval(): Promise<number> {
  let votes = 0;
  setHandler(bareApprove, () => ++votes);
  await condition(() => votes > 0);
  return votes;
}
