// Every runbook is reachable the same way: in the registry with a kebab-case CLI name, a workflow type the
// worker registers, and an example input its own schema accepts (the CLI's --example and the banner use it).
import * as workflows from '../../workflows';
import { RUNBOOKS, runbookByName, runbookByType } from '../../client/registry';

test('every runbook workflow is in the registry, and every registry entry is a workflow the worker runs', () => {
  const runbookTypes = Object.keys(workflows).filter((t) => t !== 'targetLock');
  expect(RUNBOOKS.map((r) => r.workflowType).sort()).toEqual(runbookTypes.sort());
});

test.each(RUNBOOKS.map((r) => [r.name, r] as const))('%s: kebab-case name, unique, example input valid', (name, r) => {
  expect(name).toMatch(/^[a-z]+(-[a-z]+)*$/);
  expect(RUNBOOKS.filter((x) => x.name === name)).toHaveLength(1);
  expect(runbookByName(name)).toBe(r);
  expect(runbookByType(r.workflowType)).toBe(r);
  const parsed = r.parse(r.example());
  expect(parsed).toMatchObject({ ok: true, target: 'reports', dryRun: false });
  expect(r.summary.length).toBeGreaterThan(10);
});

test('bad input is refused at the edge with the runbook name and the field', () => {
  expect(runbookByName('restart-workers').parse({ service: 'reports', requestedBy: 'bob', recoveryTimeout: 'soon' })).toEqual({
    ok: false,
    error: 'invalid restart-workers input: recoveryTimeout: must be a positive duration such as "90s", "30m" or "4h"',
  });
  expect(runbookByName('maintenance-window').parse({ service: 'reports' })).toMatchObject({ ok: false, error: expect.stringMatching(/requestedBy/) });
  expect(() => runbookByName('restart-everything')).toThrow('no runbook "restart-everything"; known runbooks: maintenance-window, restart-workers');
});
