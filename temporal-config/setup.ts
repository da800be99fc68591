// Namespaces and search attributes as code. Idempotent: registers only what is missing, so it runs at
// every `npm start`, before every test run, and against a production cluster (`npm run temporal:setup`).
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import Long from 'long';
import { ALL_SEARCH_ATTRIBUTES } from '../common/search-attributes';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
const typeOf: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  TEXT: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

export interface SetupReport {
  namespace: string;
  createdNamespace: boolean;
  addedSearchAttributes: string[];
}

function isGrpcCode(err: unknown, code: number): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: number }).code === code;
}
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

export async function ensureNamespace(connection: Connection, namespace: string, retentionDays = 7): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return false;
  } catch (err) {
    if (!isGrpcCode(err, NOT_FOUND)) throw err;
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(retentionDays * 24 * 3600) },
      description: 'runbook automation',
    });
  } catch (err) {
    if (!isGrpcCode(err, ALREADY_EXISTS)) throw err;
    return false;
  }
  // A new namespace takes a moment to be usable by every frontend cache.
  for (let i = 0; i < 50; i++) {
    try {
      await connection.workflowService.describeNamespace({ namespace });
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return true;
}

/** A namespace registered a moment ago may be unknown to some services until their caches refresh (~10s). */
async function retryNotFound<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isGrpcCode(err, NOT_FOUND) || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await retryNotFound(() => connection.operatorService.listSearchAttributes({ namespace }));
  const known = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = ALL_SEARCH_ATTRIBUTES.filter((k) => !known.has(k.name));
  if (missing.length === 0) return [];
  const searchAttributes: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  for (const key of missing) {
    const t = typeOf[key.type];
    if (t === undefined) throw new Error(`search attribute ${key.name}: unsupported type ${key.type}`);
    searchAttributes[key.name] = t;
  }
  try {
    await retryNotFound(() => connection.operatorService.addSearchAttributes({ namespace, searchAttributes }));
  } catch (err) {
    if (!isGrpcCode(err, ALREADY_EXISTS)) throw err;
  }
  return missing.map((k) => k.name);
}

export async function setupTemporal(connection: Connection, namespaces: readonly string[]): Promise<SetupReport[]> {
  const reports: SetupReport[] = [];
  for (const namespace of namespaces) {
    const createdNamespace = await ensureNamespace(connection, namespace);
    const addedSearchAttributes = await ensureSearchAttributes(connection, namespace);
    reports.push({ namespace, createdNamespace, addedSearchAttributes });
  }
  return reports;
}
