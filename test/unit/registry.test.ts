// Every runbook is reachable the same way: in the registry with a kebab-case CLI name, a workflow type the
// worker registers, and an example input its own schema accepts (the CLI's --example and the banner use it).
import * as workflows from '../../workflows';
import fc from 'fast-check';
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
  // Examples act on the demo reports service; certificate-renewal on the stack's TLS front before it.
  expect(parsed).toMatchObject({ ok: true, target: name === 'certificate-renewal' ? 'reports-tls' : 'reports', dryRun: false });
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

// Found by the API fuzz test: a refinement over two fields threw on a value another check had already refused
// (zod runs object refinements after continuable field issues), and the API answered 500. Every runbook's
// parse must answer "ok" or a clear error for any JSON, never throw.
test.each(RUNBOOKS.map((r) => [r.name, r] as const))('%s: parse never throws, whatever each field holds', (_name, r) => {
  const example = r.example();
  const oddValue = fc.oneof(
    fc.constantFrom('', ' ', '0s', '-1m', '1e309', 'NaN', '__proto__', 0, -1, 1e308, null, true, [], {}),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, v] of Object.entries(example)) fields[k] = fc.oneof(fc.constant(v), oddValue);
  fc.assert(
    fc.property(fc.record(fields, { requiredKeys: [] }), (input) => {
      const parsed = r.parse(input);
      if (!parsed.ok) expect(parsed.error).toMatch(new RegExp(`^invalid ${r.name} input: `));
    }),
    { numRuns: 400 },
  );
});
