// Backup set ids, shared by the backup activities and the backup workflow (which names its set before any
// activity runs). Pure, so it runs in the workflow sandbox.

/** Set ids sort by time: `20261126T031500Z-<8 hex of the run>`. */
export function setIdOf(at: Date, runKey: string): string {
  return `${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${runKey
    .replace(/[^a-z0-9]/gi, '')
    .slice(0, 8)
    .toLowerCase()}`;
}
