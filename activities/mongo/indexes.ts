import type { Db } from 'mongodb';

export interface IndexRebuild {
  rebuilt: string[];
}

/**
 * Rebuilds every secondary index of a collection (the `reIndex` of the seeds, which MongoDB 6 deprecated
 * and FerretDB lacks): each index is dropped and created again with the same key and options. The run is
 * resumable: an index found missing (a crash between drop and create) is recreated from the spec saved
 * before the first drop.
 */
export async function rebuildIndexes(db: Db, collection: string, savedSpecs?: IndexSpec[]): Promise<IndexRebuild & { specs: IndexSpec[] }> {
  const coll = db.collection(collection);
  const current = (await coll.listIndexes().toArray()) as IndexSpec[];
  const specs = savedSpecs ?? current.filter((i) => i.name !== '_id_');
  const rebuilt: string[] = [];
  for (const spec of specs) {
    const { key, name, v: _v, ns: _ns, ...options } = spec;
    if (current.some((c) => c.name === name)) await coll.dropIndex(name);
    await coll.createIndex(key, { ...options, name });
    rebuilt.push(name);
  }
  return { rebuilt, specs };
}

/**
 * An index spec as stored in the audit store (jsonb): jsonb does not keep object key order, and the order
 * of a compound index's keys is the index, so keys are kept as [field, direction] pairs.
 */
export interface StoredIndexSpec {
  name: string;
  key: Array<[string, 1 | -1]>;
  [option: string]: unknown;
}

export function toStored(spec: IndexSpec): StoredIndexSpec {
  return { ...spec, key: Object.entries(spec.key) };
}

export function fromStored(spec: StoredIndexSpec): IndexSpec {
  const { key, name, ...options } = spec;
  return { ...options, name, key: Object.fromEntries(key) };
}

export interface IndexSpec {
  name: string;
  key: Record<string, 1 | -1>;
  unique?: boolean;
  sparse?: boolean;
  v?: number;
  ns?: string;
  [option: string]: unknown;
}
