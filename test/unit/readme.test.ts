// The README is how operators start runbooks from the Web UI and learn what runs when: it must list every
// runbook's workflow type with a copy-paste input that the runbook accepts, and every declared schedule.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RUNBOOKS } from '../../client/registry';
import { SCHEDULES } from '../../temporal-config/schedules/declarations';

const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

test.each(RUNBOOKS.map((r) => [r.name, r] as const))('the README gives %s its workflow type and a JSON input it accepts', (_, r) => {
  expect(readme).toContain(`**\`${r.workflowType}\`** (\`${r.name}\`)`);
  const example = JSON.stringify(r.example());
  expect(readme).toContain(example);
  expect(r.parse(JSON.parse(example))).toMatchObject({ ok: true });
});

test.each(SCHEDULES.map((s) => [s.id] as const))('the README schedule table lists %s', (id) => {
  expect(readme).toMatch(new RegExp(`^\\| \`${id}\` \\|`, 'm'));
});
