// A Mongo rollback step: count, apply (save, then change) and undo. FerretDB has no multi-document
// transactions, so idempotency comes from the order of writes instead: every matching document is first
// saved under a key made of the run, the step and its _id with $setOnInsert (a retry never overwrites the
// first copy), and only then changed, restricted to the saved _ids and to documents the change would still
// alter. A retry after a crash therefore re-matches only documents not yet changed.
import { BSON, type AnyBulkWriteOperation, type Db, type Document, type Filter, type UpdateFilter } from 'mongodb';
import type { MongoRollbackStep } from '../../config/data-rollback';
import { UnsafeOperationError } from '../errors';
import type { ApplyCounts } from './types';

export const SAVED_DOCUMENTS = 'runbook_saved_documents';
const BATCH = 500;

export interface SavedDocument {
  /** `<runKey>:<stepId>:<_id of the document as canonical EJSON>` */
  _id: string;
  runKey: string;
  stepId: string;
  collection: string;
  op: 'delete' | 'update';
  doc: Document;
  savedAt: Date;
  restoredAt?: Date;
}

/**
 * The step's filter narrowed to documents the change would still alter: for delete every match; for set
 * a field that differs, for unset a field that is present. A document already changed no longer matches.
 */
export function pendingFilter(step: MongoRollbackStep): Filter<Document> {
  const filter = step.filter as Filter<Document>;
  if (step.delete) return filter;
  const differs: Filter<Document>[] = [];
  for (const [field, value] of Object.entries(step.set ?? {})) {
    // {$ne: null} does not match a missing field, which $set would still create.
    differs.push(value === null ? { [field]: { $ne: null } } : { [field]: { $ne: value } });
    if (value === null) differs.push({ [field]: { $exists: false } });
  }
  for (const field of step.unset ?? []) differs.push({ [field]: { $exists: true } });
  return { $and: [filter, { $or: differs }] };
}

function update(step: MongoRollbackStep): UpdateFilter<Document> {
  const u: UpdateFilter<Document> = {};
  if (step.set && Object.keys(step.set).length) u.$set = step.set;
  if (step.unset?.length) u.$unset = Object.fromEntries(step.unset.map((f) => [f, '']));
  return u;
}

export function savedId(runKey: string, stepId: string, docId: unknown): string {
  return `${runKey}:${stepId}:${BSON.EJSON.stringify(docId, { relaxed: false })}`;
}

export async function countMongo(db: Db, step: MongoRollbackStep): Promise<number> {
  return db.collection(step.collection).countDocuments(pendingFilter(step));
}

async function refuseIfUndone(db: Db, step: MongoRollbackStep, runKey: string): Promise<void> {
  const undone = await db.collection<SavedDocument>(SAVED_DOCUMENTS).countDocuments({ runKey, stepId: step.id, restoredAt: { $exists: true } }, { limit: 1 });
  if (undone) {
    throw new UnsafeOperationError(
      `step "${step.id}" of run "${runKey}" was already undone; applying it again under the same runKey could not be undone. Use a new runKey`,
    );
  }
}

export async function applyMongo(db: Db, step: MongoRollbackStep, runKey: string, signal?: AbortSignal): Promise<ApplyCounts> {
  await refuseIfUndone(db, step, runKey);
  const saves = db.collection<SavedDocument>(SAVED_DOCUMENTS);
  await saves.createIndex({ runKey: 1, stepId: 1 }, { name: 'run_step' });
  const coll = db.collection(step.collection);
  const pending = pendingFilter(step);
  const op = step.delete ? 'delete' : 'update';

  // promoteValues: false keeps Int32/Double/Long as BSON types, so the saved copy (and an undo) is exact.
  const cursor = coll.find(pending, { promoteValues: false, batchSize: BATCH });
  const ids: unknown[] = [];
  let batch: Document[] = [];
  let saved = 0;
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    const ops: AnyBulkWriteOperation<SavedDocument>[] = batch.map((doc) => ({
      updateOne: {
        filter: { _id: savedId(runKey, step.id, doc._id) },
        update: { $setOnInsert: { runKey, stepId: step.id, collection: step.collection, op, doc, savedAt: new Date() } },
        upsert: true,
      },
    }));
    const res = await saves.bulkWrite(ops, { ordered: false });
    saved += res.upsertedCount;
    batch = [];
    signal?.throwIfAborted();
  };
  for await (const doc of cursor) {
    ids.push(doc._id);
    batch.push(doc);
    if (batch.length >= BATCH) await flush();
  }
  await flush();

  let changed = 0;
  for (let i = 0; i < ids.length; i += BATCH) {
    const only = { $and: [pending, { _id: { $in: ids.slice(i, i + BATCH) } }] } as Filter<Document>;
    changed += step.delete ? (await coll.deleteMany(only)).deletedCount : (await coll.updateMany(only, update(step))).modifiedCount;
    signal?.throwIfAborted();
  }
  // Every copy an earlier attempt saved, including those of documents it changed already (they no longer
  // match): an attempt killed after its changes but before its reply must not make the retry report 0.
  const alreadySaved = (await saves.countDocuments({ runKey, stepId: step.id })) - saved;
  return { matched: ids.length, changed, saved, alreadySaved };
}

/** Puts back every copy this run's step saved and has not restored yet; returns how many. */
export async function undoMongo(db: Db, step: MongoRollbackStep, runKey: string, signal?: AbortSignal): Promise<number> {
  const saves = db.collection<SavedDocument>(SAVED_DOCUMENTS);
  const elsewhere = await saves.countDocuments({ runKey, stepId: step.id, collection: { $ne: step.collection } }, { limit: 1 });
  if (elsewhere) {
    throw new UnsafeOperationError(
      `run "${runKey}" saved documents of step "${step.id}" from another collection than the configured "${step.collection}"; ` +
        `the step's configuration changed since it was applied: restore from ${SAVED_DOCUMENTS} by hand`,
    );
  }
  const open = { runKey, stepId: step.id, restoredAt: { $exists: false } };
  // The keys first: marking documents restored while iterating a cursor over the same filter could skip some.
  const keys = (await saves.find(open, { projection: { _id: 1 } }).toArray()).map((s) => s._id);
  const coll = db.collection(step.collection);
  let restored = 0;
  for (let i = 0; i < keys.length; i += BATCH) {
    const copies = await saves.find({ ...open, _id: { $in: keys.slice(i, i + BATCH) } }, { promoteValues: false }).toArray();
    for (const copy of copies) {
      // A crash between these two writes repeats the replace on retry: same document, same result.
      await coll.replaceOne({ _id: copy.doc._id as unknown } as Filter<Document>, copy.doc, { upsert: true });
      await saves.updateOne({ _id: copy._id }, { $set: { restoredAt: new Date() } });
      restored++;
    }
    signal?.throwIfAborted();
  }
  return restored;
}
