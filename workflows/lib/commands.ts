// Commands a notification tells a person to run: copy-paste ready, so the input goes in single quotes.

/** `echo '<input>' | npm run runbook -- start <runbook> --input -` (a ' in the input is closed, escaped, reopened). */
export function startCommand(runbook: string, input: Record<string, unknown>): string {
  const json = JSON.stringify(input).replace(/'/g, "'\\''");
  return `echo '${json}' | npm run runbook -- start ${runbook} --input -`;
}
