import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configSchema, type Config } from './schema';

const ROOT = path.resolve(__dirname, '..');
/** The configuration of the local stack with the demo service on its own supervisor (the default). */
export const DEFAULT_CONFIG = path.join(ROOT, 'config', 'local.json');

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Replaces ${VAR} in every string of a JSON value with the environment's value. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, where = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_m, v: string) => {
      const got = env[v];
      // Name the variable, never a value: these are secrets.
      if (got === undefined) throw new ConfigError(`${where || 'config'}: environment variable ${v} is not set`);
      return got;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, `${where}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, where ? `${where}.${k}` : k)]));
  }
  return value;
}

export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, source = 'config'): Config {
  const result = configSchema.safeParse(interpolateEnv(raw, env));
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`${source} is invalid:\n${lines.join('\n')}`);
  }
  return result.data;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `patch` over `base` (JSON Merge Patch, RFC 7386): objects are merged key by key, arrays and scalars replace,
 * and null removes a key. One exception: an object whose `kind` differs from the base object's replaces it
 * whole, since another kind has other fields (a `kubernetes` platform keeps nothing of a `local` one).
 */
export function mergeConfig(base: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const otherKind = isObject(base) && 'kind' in base && 'kind' in patch && base.kind !== patch.kind;
  const from = isObject(base) && !otherKind ? base : {};
  const out: JsonObject = { ...from };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergeConfig(out[k] ?? null, v);
  }
  return out;
}

/**
 * A config file with what it extends merged in: `"extends": "local.json"` (a path relative to the file) names
 * the file it changes, which may extend another in turn; a file extended twice in one chain is refused.
 */
export function readConfigFile(file: string, chain: string[] = []): JsonObject {
  const abs = path.resolve(file);
  if (chain.includes(abs)) throw new ConfigError(`config ${abs}: "extends" makes a cycle: ${[...chain, abs].join(' -> ')}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(abs, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config ${abs}${chain.length ? ` (extended by ${chain.at(-1)})` : ''}: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new ConfigError(`config ${abs}: must be a JSON object`);
  const { extends: base, ...own } = raw;
  if (base === undefined) return own;
  if (typeof base !== 'string' || base === '') {
    throw new ConfigError(
      `config ${abs}: "extends" must be the path of another config file, relative to this one (e.g. "local.json"), not ${JSON.stringify(base)}`,
    );
  }
  return mergeConfig(readConfigFile(path.resolve(path.dirname(abs), base), [...chain, abs]), own) as JsonObject;
}

/**
 * What the local stack was last started with (`npm start -- --platform kubernetes` selects
 * config/kubernetes.json): written by scripts/stack.ts into .data/, read by every process that loads the
 * config without RUNBOOK_CONFIG (the worker, the API, tools run by hand), so they all act on the same platform.
 */
export interface ConfigSelection {
  platform: string;
  /** Relative to the project root when inside it. */
  config: string;
}

/** .data/, as scripts/stack/paths.ts places it (RUNBOOK_DATA_DIR moves it). */
function dataDir(env: NodeJS.ProcessEnv): string {
  return env.RUNBOOK_DATA_DIR ? path.resolve(env.RUNBOOK_DATA_DIR) : path.join(ROOT, '.data');
}

export const selectionFile = (env: NodeJS.ProcessEnv = process.env): string => path.join(dataDir(env), 'selected-config.json');

export function writeSelection(sel: ConfigSelection, env: NodeJS.ProcessEnv = process.env): void {
  const abs = path.resolve(ROOT, sel.config);
  const rel = path.relative(ROOT, abs);
  const config = rel.startsWith('..') || path.isAbsolute(rel) ? abs : rel;
  mkdirSync(dataDir(env), { recursive: true });
  writeFileSync(selectionFile(env), `${JSON.stringify({ platform: sel.platform, config }, null, 2)}\n`);
}

export function readSelection(env: NodeJS.ProcessEnv = process.env): ConfigSelection | undefined {
  const file = selectionFile(env);
  if (!existsSync(file)) return undefined;
  let sel: unknown;
  try {
    sel = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${file} is not JSON (${(err as Error).message}); start the stack again (npm start) or delete it`);
  }
  if (!isObject(sel) || typeof sel.platform !== 'string' || typeof sel.config !== 'string' || !sel.config) {
    throw new ConfigError(`${file} must be {"platform": "...", "config": "<file>"}; start the stack again (npm start) or delete it`);
  }
  return { platform: sel.platform, config: sel.config };
}

/** RUNBOOK_CONFIG when set, else what the stack was last started with, else config/local.json; absolute. */
export function configFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RUNBOOK_CONFIG) return path.resolve(env.RUNBOOK_CONFIG);
  const sel = readSelection(env);
  return sel ? path.resolve(ROOT, sel.config) : DEFAULT_CONFIG;
}

/** Loads a config file (default: `configFile()`) with what it extends, resolving ${VAR} from the environment. */
export function loadConfig(file = configFile(), env = process.env): Config {
  const abs = path.resolve(file);
  return parseConfig(readConfigFile(abs), env, abs);
}
