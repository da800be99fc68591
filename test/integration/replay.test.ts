// Determinism guard: every stored history (recorded from real runs) must replay against today's workflow
// code without a nondeterminism error. A change to command order must be behind patched().
import { Worker } from '@temporalio/worker';
import * as workflows from '../../workflows';
import { storedHistories } from '../helpers/histories';

const histories = storedHistories();

test('there is a stored history for every workflow type', () => {
  const recorded = new Set(histories.map((h) => h.workflowType));
  expect(Object.keys(workflows).filter((t) => !recorded.has(t))).toEqual([]);
});

test.each(histories.map((h) => [h.name, h] as const))('history %s replays without a determinism error', async (_name, h) => {
  await Worker.runReplayHistory({ workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! } }, h.history, `replay-${h.name}`);
});
