// Backup sets as the store holds them: which exist, which are complete (their manifest was written last)
// and verified, the newest verified one (what a restore or a risky change relies on), and which ones a
// retention policy removes. Reading only, except through the plan's caller (applyRetention).
import { manifestKey, setPrefix, type BackupManifest, type BackupSource, type BackupStore } from './contract';

/** A set as listed: complete when its manifest exists; the manifest's facts when it does. */
export interface BackupSetSummary {
  service: string;
  setId: string;
  /** When the set was started, from its id. */
  at: string;
  complete: boolean;
  verified: boolean;
  files: number;
  bytes: number;
  finishedAt?: string;
  totalBytes?: number;
}

export interface RetentionPolicy {
  /** Sets older than this are deleted, unless kept by the counts below or being the newest verified set. Ms. */
  maxAgeMs: number;
  /** The newest verified set of each of the last N days that have one is kept, whatever its age. */
  keepDaily: number;
  /** The newest verified set of each of the last N ISO weeks that have one is kept, whatever its age. */
  keepWeekly: number;
}

/** How long an incomplete set (no manifest) may be a backup still being written. */
export const INCOMPLETE_GRACE_MS = 24 * 3600_000;

export interface RetentionPlan {
  keep: Array<{ setId: string; why: string }>;
  delete: Array<{ setId: string; why: string }>;
}

const SET_ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[a-z0-9]{1,8}$/;

/** The start time a set id carries, or undefined for a name that is not a set id. */
export function setTime(setId: string): Date | undefined {
  const m = SET_ID.exec(setId);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** The manifest of a set, verified against its checksum by the store; undefined when the set has none. */
export async function readManifest(store: BackupStore, service: string, setId: string): Promise<BackupManifest | undefined> {
  const key = manifestKey(service, setId);
  if (!(await store.stat(key))) return undefined;
  return JSON.parse((await store.read(key)).toString('utf8')) as BackupManifest;
}

/** Every set of a service, newest first. Names under the service that are not set ids are ignored. */
export async function listSets(store: BackupStore, service: string): Promise<BackupSetSummary[]> {
  const files = await store.list(`${service}/`);
  const bySet = new Map<string, { files: number; bytes: number }>();
  for (const f of files) {
    const setId = f.key.slice(service.length + 1).split('/')[0]!;
    if (!setTime(setId)) continue;
    const s = bySet.get(setId) ?? { files: 0, bytes: 0 };
    s.files++;
    s.bytes += f.bytes;
    bySet.set(setId, s);
  }
  const out: BackupSetSummary[] = [];
  for (const [setId, s] of bySet) {
    const manifest = files.some((f) => f.key === manifestKey(service, setId)) ? await readManifest(store, service, setId).catch(() => undefined) : undefined;
    out.push({
      service,
      setId,
      at: setTime(setId)!.toISOString(),
      complete: manifest !== undefined,
      verified: manifest?.verified === true,
      files: s.files,
      bytes: s.bytes,
      ...(manifest ? { finishedAt: manifest.finishedAt, totalBytes: manifest.totalBytes } : {}),
    });
  }
  return out.sort((a, b) => (a.setId < b.setId ? 1 : a.setId > b.setId ? -1 : 0));
}

/**
 * The manifest of the newest complete, verified set of a service, or undefined when there is none.
 * `covering`: only a set holding every one of those stores (the 6-hourly backup holds Postgres alone).
 */
export async function latestVerifiedSet(
  store: BackupStore,
  service: string,
  opts: { covering?: Array<BackupSource['store']> } = {},
): Promise<BackupManifest | undefined> {
  for (const s of await listSets(store, service)) {
    if (!s.verified) continue;
    const m = await readManifest(store, service, s.setId);
    if (m?.verified && (opts.covering ?? []).every((c) => m.sources.some((src) => src.store === c))) return m;
  }
  return undefined;
}

const day = (d: Date): string => d.toISOString().slice(0, 10);

/** ISO week (`2026-W48`): weeks start on Monday; the year is the one of the week's Thursday. */
export function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dow = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - dow);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/**
 * Which sets to keep and delete (pure). Kept: the newest verified set, always; complete sets younger than
 * maxAge; the newest verified set of each of the last keepDaily days and keepWeekly weeks. Deleted: other
 * complete sets, and incomplete sets older than a day (younger ones may still be being written).
 */
export function planRetention(sets: BackupSetSummary[], policy: RetentionPolicy, nowMs: number): RetentionPlan {
  const sorted = [...sets].sort((a, b) => (a.setId < b.setId ? 1 : -1));
  const keep = new Map<string, string>();
  const add = (setId: string, why: string) => {
    if (!keep.has(setId)) keep.set(setId, why);
  };
  const verified = sorted.filter((s) => s.complete && s.verified);
  if (verified[0]) add(verified[0].setId, 'newest verified set');
  const bucket = (n: number, of: (d: Date) => string, label: string) => {
    const seen = new Set<string>();
    for (const s of verified) {
      const b = of(new Date(s.at));
      if (seen.has(b)) continue;
      if (seen.size >= n) break;
      seen.add(b);
      add(s.setId, `newest verified set of ${label} ${b}`);
    }
  };
  bucket(policy.keepDaily, day, 'day');
  bucket(policy.keepWeekly, isoWeek, 'week');
  const plan: RetentionPlan = { keep: [], delete: [] };
  for (const s of sorted) {
    const age = nowMs - Date.parse(s.at);
    const kept = keep.get(s.setId);
    if (kept) plan.keep.push({ setId: s.setId, why: kept });
    else if (!s.complete) {
      if (age > INCOMPLETE_GRACE_MS) plan.delete.push({ setId: s.setId, why: 'incomplete (no manifest) and older than a day' });
      else plan.keep.push({ setId: s.setId, why: 'incomplete, but may still be being written (younger than a day)' });
    } else if (age <= policy.maxAgeMs) plan.keep.push({ setId: s.setId, why: 'younger than the retention age' });
    else plan.delete.push({ setId: s.setId, why: `older than the retention age${s.verified ? '' : ' (and not verified)'}` });
  }
  return plan;
}

/** Deletes every object of a set (the manifest first, so a half-deleted set is seen as incomplete). */
export async function deleteSet(store: BackupStore, service: string, setId: string): Promise<number> {
  const prefix = setPrefix(service, setId);
  const manifest = manifestKey(service, setId);
  let n = 0;
  if (await store.stat(manifest)) n += await store.deletePrefix(manifest);
  return n + (await store.deletePrefix(prefix));
}
