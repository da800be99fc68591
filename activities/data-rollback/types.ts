// What the database rollback activities take and return: plain JSON, because these values enter workflow
// history (the plan is shown for approval; apply/undo results are audited).

/** One configured step and how many documents/rows it would change now. */
export interface DataRollbackCount {
  id: string;
  store: 'mongo' | 'postgres';
  target: string;
  /** Mongo steps: the collection they change (e.g. to back it up first). */
  collection?: string;
  /** Postgres steps: the table they change, schema.table. */
  table?: string;
  /** The collection or table and its filter, e.g. `public.report_exports where format in ('dashboard')`. */
  where: string;
  /** What the step does to them, e.g. `delete`, `set frequency='weekly'; unset customSchedule`. */
  change: string;
  description?: string;
  /** Postgres steps: the down-migration the step belongs to. */
  migration?: string;
  /** Documents/rows the step would change now: matching the filter and not already changed. */
  count: number;
}

/** Identifies one apply/undo of a step: the same runKey is the same rollback (its saved copies). */
export interface DataRollbackStepInput {
  service: string;
  stepId: string;
  runKey: string;
}

export interface DataRollbackApplyResult {
  id: string;
  /** Documents/rows this attempt found still to change. */
  matched: number;
  /** Documents/rows this attempt changed (deleted or updated). */
  changed: number;
  /** Copies this attempt saved for undo. */
  saved: number;
  /** Copies an earlier attempt of the same run had saved for this step (kept: the first copy wins), whether their rows still match or were changed by it. */
  alreadySaved: number;
}

/** What apply did, per store (the activity adds the step id). */
export type ApplyCounts = Omit<DataRollbackApplyResult, 'id'>;

export interface DataRollbackUndoResult {
  id: string;
  /** Documents/rows put back; 0 when this run's step was already undone or changed nothing. */
  restored: number;
}

export interface DataIntegrityCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DataIntegrityResult {
  ok: boolean;
  checks: DataIntegrityCheck[];
}
