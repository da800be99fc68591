// The versions of the demo reports service the local platform can deploy, and how each behaves once
// deployed: the stable release, a bad release that fails a share of report requests, and a slow one whose
// latency trips the "p95 > 10 s" rollback trigger. Only POST /reports is affected; probes and /health are not.

export interface VersionSpec {
  name: string;
  description: string;
  /** Share of POST /reports answered 500 (0..1). */
  errorRate: number;
  /** How long POST /reports takes before it answers. */
  delayMs: number;
}

export type VersionCatalog = readonly VersionSpec[];

export const STABLE_VERSION = 'v1.4.2';
export const FAULTY_VERSION = 'v1.5.0';
export const SLOW_VERSION = 'v1.5.1-slow';

/** Slow enough that the p95 of the public API exceeds the 10 s of the latency rollback trigger. */
export const SLOW_DELAY_MS = 12_000;

export const VERSIONS: VersionCatalog = [
  { name: STABLE_VERSION, description: 'stable release: healthy', errorRate: 0, delayMs: 0 },
  { name: FAULTY_VERSION, description: 'reports v2: a bad release, answers 500 to 30 % of report requests', errorRate: 0.3, delayMs: 0 },
  { name: SLOW_VERSION, description: `answers report requests after ${SLOW_DELAY_MS / 1000} s (p95 > 10 s)`, errorRate: 0, delayMs: SLOW_DELAY_MS },
];

/** The versions every demo starts with when its deployment history is empty. */
export const DEFAULT_INITIAL_VERSIONS: readonly string[] = [STABLE_VERSION];

export function findVersion(catalog: VersionCatalog, name: string): VersionSpec | undefined {
  return catalog.find((v) => v.name === name);
}

/** Throws when a name is not in the catalog, naming the ones that are. */
export function checkVersions(catalog: VersionCatalog, names: readonly string[], what: string): void {
  for (const name of names) {
    if (!findVersion(catalog, name)) throw new Error(`${what}: unknown version "${name}"; available: ${catalog.map((v) => v.name).join(', ')}`);
  }
}
