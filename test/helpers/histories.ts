// Histories of real runs, stored under test/histories/ and replayed by test/integration/replay.test.ts.
// Recorded only on purpose (npm run record-histories), after a change deliberately versioned with patched().
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export const HISTORY_DIR = path.join(__dirname, '..', 'histories');

export async function saveHistoryIfRecording(name: string, handle: WorkflowHandle): Promise<void> {
  if (!process.env.RECORD_HISTORIES) return;
  const history = await handle.fetchHistory();
  writeFileSync(path.join(HISTORY_DIR, `${name}.json`), `${JSON.stringify(history, null, 1)}\n`);
}

export function storedHistories(): Array<{ name: string; workflowType: string; history: temporal.api.history.v1.IHistory }> {
  return readdirSync(HISTORY_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      // Stored as protobufjs' JSON form of the History message (what JSON.stringify gives), read back the same way.
      const history = temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(path.join(HISTORY_DIR, f), 'utf8')));
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      return { name: f.replace(/\.json$/, ''), workflowType: started?.workflowType?.name ?? '?', history };
    });
}
