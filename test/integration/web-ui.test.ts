// The Temporal Web UI as the runbooks' front door, in a real browser (Debian's Chromium through
// playwright-core) against the real dev server and this file's own worker: an operator opens the
// namespace's workflow list, starts a maintenance window from the Start Workflow form (workflow type, task
// queue, JSON input, summary), sees it wait at its approval gate, approves it from the run's page with the
// approveFromUi signal, sees it complete, and finds the namespace's schedules. What the UI shows is checked
// on the page and, through the Temporal client, on the server. Screenshots of every stage: see
// test/helpers/browser.ts (UPDATE_SCREENSHOTS=1 writes them to docs/images/).
import { defaultPayloadConverter } from '@temporalio/common';
import { RunbookStatus } from '../../common/search-attributes';
import { applySchedules } from '../../temporal-config/schedules/apply';
import { SCHEDULES } from '../../temporal-config/schedules/declarations';
import type { MaintenanceWindowInput, MaintenanceWindowResult } from '../../workflows/maintenance-window/contract';
import { launchBrowser, screenshot, step, fillEditor, UI_URL, visibleAfterReloads, type BrowserSession } from '../helpers/browser';
import { createTestEnv, eventually, NAMESPACE, workflowId, type TestEnv } from '../helpers/env';
import { gateOpen } from '../helpers/runs';

let env: TestEnv;
let ui: BrowserSession | undefined;
const schedules: string[] = [];
beforeAll(async () => {
  env = await createTestEnv();
  await env.startWorker();
  ui = await launchBrowser();
});
afterAll(async () => {
  try {
    await ui?.close();
  } finally {
    try {
      if (env) await endLeftovers();
    } finally {
      await env?.cleanup();
    }
  }
});

/** Deletes this file's schedules (createTestEnv's cleanup ends what still runs on its task queue). */
async function endLeftovers(): Promise<void> {
  for (const id of schedules)
    await env.client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
}

const ns = `${UI_URL}/namespaces/${NAMESPACE}`;

/** A maintenance window the test service runs in seconds once approved; bob asks, so bob cannot approve. */
const input: MaintenanceWindowInput = {
  service: 'reports',
  requestedBy: 'bob',
  reason: 'Web UI walkthrough',
  window: { length: '1h' },
  tasks: [{ kind: 'analyze', table: 'public.reports' }],
  backup: false,
  approval: { quorum: 1, approverRoles: ['sre-lead'], timeout: '10m' },
  drainTimeout: '30s',
  monitoringPeriod: '2s',
  monitorInterval: '1s',
};
const summary = 'Maintenance of reports: ANALYZE public.reports';
const details = 'Requested by **bob** in the Web UI. Approve with More Actions > Send a Signal > `approveFromUi`.';
const vote = { approver: 'alice', decision: 'approve' };

/**
 * Puts schedules in the namespace for the Schedules page to show: the project's own declarations
 * (temporal-config/schedules, what `npm start` applies) on this test's task queue, all paused so none fires
 * while the test runs. Their ids are returned and deleted in afterAll.
 */
/** Applies the shipped declarations (paused) on this file's task queue; returns each schedule's id and workflow type. */
async function applyTestSchedules(): Promise<Array<{ id: string; workflowType: string }>> {
  const { plan } = await applySchedules(
    env.client,
    SCHEDULES.map((d) => ({ ...d, paused: true })),
    env.taskQueue,
  );
  const wired = [...plan.wired.values()].map((w) => ({ id: w.scheduleId, workflowType: w.entry.workflowType }));
  schedules.push(...wired.map((w) => w.id));
  return wired;
}

describe('the Temporal Web UI as the front door', () => {
  test('start a maintenance window from the Start Workflow form, approve it from the run page, see it complete', async () => {
    const page = ui!.page;
    const id = workflowId('ui-maintenance');
    const runUrl = `${ns}/workflows/${encodeURIComponent(id)}`;
    const main = page.getByRole('main');

    await step(page, 'open the workflow list', async () => {
      await page.goto(`${ns}/workflows`);
      await main.getByRole('table', { name: 'Workflows' }).waitFor();
      await screenshot(page, 'ui-1-workflow-list');
    });

    await step(page, 'fill the Start Workflow form', async () => {
      await main.getByRole('link', { name: 'Start Workflow' }).click();
      await main.getByRole('heading', { name: 'Start Workflow', level: 1 }).waitFor();
      expect(page.url()).toContain(`/namespaces/${NAMESPACE}/workflows/start-workflow`);
      await main.getByRole('textbox', { name: 'Workflow ID' }).fill(id);
      const taskQueue = main.getByRole('textbox', { name: 'Task Queue' });
      await taskQueue.fill(env.taskQueue);
      // Leaving the field, the form looks the task queue up: our worker polls it.
      await taskQueue.blur();
      await main.getByRole('status').filter({ hasText: 'Task Queue is Active' }).waitFor();
      await main.getByRole('textbox', { name: 'Workflow Type' }).fill('maintenanceWindow');
      const data = main.getByRole('textbox', { name: 'Data' });
      await fillEditor(data, JSON.stringify(input, null, 2), { json: true });
      await main.getByRole('button', { name: 'More options' }).click();
      await main.getByRole('heading', { name: 'User Metadata' }).waitFor();
      // The Markdown editors are labelled only by the <label> before them.
      await fillEditor(main.locator('label[for="summary"] + div').getByRole('textbox'), summary);
      await fillEditor(main.locator('label[for="details"] + div').getByRole('textbox'), details);
      // The input from its first line in the screenshot.
      await data.press('Control+Home');
      await data.blur();
      await screenshot(page, 'ui-2-start-form', { height: 1750, top: main.getByRole('heading', { name: 'Start Workflow', level: 1 }) });
    });

    const h = await step(page, 'start the run', async () => {
      await main.getByRole('button', { name: 'Start Workflow', exact: true }).click();
      await page.getByRole('link', { name: 'Workflow started successfully' }).waitFor();
      return env.client.workflow.getHandle<(input: unknown) => Promise<MaintenanceWindowResult>>(id);
    });
    // What the form sent is what the server has: the type, our task queue, the JSON input and the summary.
    const described = await h.describe();
    expect(described.type).toBe('maintenanceWindow');
    expect(described.taskQueue).toBe(env.taskQueue);
    expect(await described.staticSummary()).toBe(summary);
    expect(await described.staticDetails()).toBe(details);
    const started = (await h.fetchHistory()).events![0]!.workflowExecutionStartedEventAttributes!;
    expect(defaultPayloadConverter.fromPayload(started.input!.payloads![0]!)).toEqual(input);

    await step(page, 'see the run wait at its approval gate', async () => {
      await gateOpen(h);
      await eventually(
        async () => (await h.describe()).typedSearchAttributes.get(RunbookStatus) === 'awaiting-approval',
        20_000,
        'RunbookStatus awaiting-approval',
      );
      // The list, filtered on the search attribute every run keeps current: the runs waiting for a decision.
      await page.goto(`${ns}/workflows?query=${encodeURIComponent('RunbookStatus = "awaiting-approval" AND ExecutionStatus = "Running"')}`);
      const row = main
        .getByRole('table', { name: 'Workflows' })
        .getByRole('row')
        .filter({ has: page.getByRole('link', { name: id, exact: true }) });
      await visibleAfterReloads(page, row);
      await screenshot(page, 'ui-3-awaiting-approval-list');
      await row.getByRole('link', { name: id, exact: true }).click();
      await main.getByRole('heading', { name: id, level: 1 }).waitFor();
      await main
        .getByRole('status')
        .filter({ hasText: /^\s*Running\s*$/i })
        .waitFor();
      // User Metadata: the summary and details given at start, and the run's current details.
      await main.getByRole('tab', { name: 'User Metadata' }).click();
      await main.getByRole('heading', { name: 'Summary', level: 3 }).waitFor();
      await main.getByRole('heading', { name: 'Current Details', level: 3 }).waitFor();
      await main.locator('iframe').first().contentFrame().getByText(summary).waitFor();
      await screenshot(page, 'ui-4-run-details');
      // Search Attributes: RunbookStatus, the one the list can filter on.
      await main.getByRole('tab', { name: 'Search Attributes' }).click();
      await main
        .getByRole('textbox', { name: 'Search Attributes' })
        .filter({ hasText: /"RunbookStatus":\s*"awaiting-approval"/ })
        .waitFor();
      await screenshot(page, 'ui-5-search-attributes');
      // Queries: the progress query says where the run is.
      await main.getByRole('tab', { name: 'Queries' }).click();
      await main
        .getByRole('button')
        .filter({ has: page.getByRole('textbox', { name: 'Query Type' }) })
        .click();
      await page.getByRole('option', { name: 'progress', exact: true }).click();
      await main.getByRole('button', { name: 'Run Query' }).click();
      await main
        .getByRole('textbox', { name: 'Query Result' })
        .filter({ hasText: /"status":\s*"awaiting-approval"/ })
        .waitFor();
      await screenshot(page, 'ui-6-progress-query');
    });

    await step(page, 'send the approveFromUi signal', async () => {
      await main.getByRole('button', { name: 'More Actions' }).click();
      await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
      const dialog = page.getByRole('dialog', { name: 'Send a Signal' });
      await dialog.getByRole('button', { name: 'Select a signal' }).click();
      await dialog.getByRole('option', { name: 'approveFromUi', exact: true }).click();
      await fillEditor(dialog.getByRole('textbox', { name: 'Data' }), JSON.stringify(vote), { json: true });
      await screenshot(page, 'ui-7-signal-dialog');
      await dialog.getByRole('button', { name: 'Submit' }).click();
      await dialog.waitFor({ state: 'hidden' });
    });

    const result = await step(page, 'see the run complete', async () => {
      await eventually(async () => (await h.describe()).status.name === 'COMPLETED', 60_000, `${id} to complete`);
      const r = await h.result();
      await page.goto(runUrl);
      await main
        .getByRole('status')
        .filter({ hasText: /^\s*Completed\s*$/i })
        .waitFor();
      await main
        .getByRole('textbox', { name: 'Result' })
        .filter({ hasText: /"outcome":\s*"completed"/ })
        .waitFor();
      await screenshot(page, 'ui-8-completed');
      return r;
    });
    expect(result.outcome).toBe('completed');
    // The approval was the UI's signal, counted as alice's vote.
    expect(result.approval.votes.map((v) => [v.approver, v.decision, v.via])).toEqual([['alice', 'approve', 'signal']]);
    expect(result.tasks.map((t) => t.status)).toEqual(['done']);
  });

  test('the Schedules page lists the namespace’s schedules', async () => {
    const page = ui!.page;
    const ids = await applyTestSchedules();
    expect(ids.length).toBeGreaterThan(0);
    await step(page, 'open the Schedules page', async () => {
      await page.goto(`${ns}/schedules`);
      const table = page.getByRole('main').getByRole('table', { name: 'Schedules' });
      await table.waitFor();
      // Schedules are listed from visibility, a moment after they are made.
      for (const { id, workflowType } of ids) {
        const row = table.getByRole('row').filter({ has: page.getByRole('link', { name: id, exact: true }) });
        await visibleAfterReloads(page, row);
        await row.getByRole('link', { name: workflowType, exact: true }).waitFor();
        await row.getByText(/^\s*Paused\s*$/i).waitFor();
      }
      await screenshot(page, 'ui-9-schedules');
    });
  });
});
