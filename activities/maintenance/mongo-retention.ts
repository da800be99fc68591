// mongo-retention: deletes documents older than a cutoff (and equal to an optional filter) in batches of
// _ids, heartbeating the running total after each batch. FerretDB v1 has no transactions, so each batch is
// its own deleteMany; it repeats the whole condition, so a retry (or a document changed meanwhile) never
// deletes anything that does not match.
import { Context } from '@temporalio/activity';
import type { Db, Document, Filter } from 'mongodb';
import type { MongoRetentionTask } from './types';

export function retentionFilter(task: MongoRetentionTask, cutoff: string): Filter<Document> {
  return { ...(task.filter ?? {}), [task.timeField]: { $lt: new Date(cutoff) } };
}

export async function countExpired(db: Db, task: MongoRetentionTask, cutoff: string): Promise<number> {
  return db.collection(task.collection).countDocuments(retentionFilter(task, cutoff));
}

export async function deleteExpired(db: Db, task: MongoRetentionTask, cutoff: string): Promise<{ deleted: number; batches: number; left: number }> {
  const ctx = Context.current();
  const coll = db.collection(task.collection);
  const filter = retentionFilter(task, cutoff);
  const before = ctx.info.heartbeatDetails as { deleted?: number; batches?: number } | undefined;
  const p = { deleted: before?.deleted ?? 0, batches: before?.batches ?? 0 };
  ctx.heartbeat(p);
  // A batch slower than the heartbeat timeout must not look like a dead worker.
  const timer = setInterval(() => ctx.heartbeat(p), 2000);
  try {
    for (;;) {
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      const ids = (
        await coll
          .find(filter, { projection: { _id: 1 } })
          .limit(task.batchSize)
          .toArray()
      ).map((d) => d._id);
      if (ids.length === 0) break;
      const res = await coll.deleteMany({ $and: [{ _id: { $in: ids } }, filter] });
      p.deleted += res.deletedCount;
      p.batches++;
      ctx.heartbeat(p);
    }
  } finally {
    clearInterval(timer);
  }
  return { ...p, left: await coll.countDocuments(filter) };
}
