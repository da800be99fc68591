import { readFileSync } from 'node:fs';
import path from 'node:path';
import { configSchema, type Config } from './schema';

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

/** Loads RUNBOOK_CONFIG (default config/local.json), resolving ${VAR} from the environment. */
export function loadConfig(file = process.env.RUNBOOK_CONFIG ?? 'config/local.json', env = process.env): Config {
  const abs = path.resolve(file);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(abs, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config ${abs}: ${(err as Error).message}`);
  }
  return parseConfig(raw, env, abs);
}
