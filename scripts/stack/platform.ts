// What the demo service runs on in the local stack, chosen at `npm start` (--platform, or RUNBOOK_PLATFORM):
// `local`, its own supervisor (the default), or `kubernetes`, the local Kubernetes plane with the service's
// objects in namespace runbooks-demo. The choice is a config file and the components it needs; the stack
// records it in .data/ (config/load.ts), so the worker, the API and later commands use the same one.
import type { ComponentName } from './components';

export const PLATFORMS = {
  local: { config: 'config/local.json', components: [] as ComponentName[] },
  kubernetes: { config: 'config/kubernetes.json', components: ['kubernetes'] as ComponentName[] },
};

export type PlatformName = keyof typeof PLATFORMS;

const isPlatform = (p: string): p is PlatformName => Object.hasOwn(PLATFORMS, p);

/** --platform when given, else RUNBOOK_PLATFORM, else local. */
export function choosePlatform(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): PlatformName {
  const [value, source] = flag !== undefined ? [flag, '--platform'] : env.RUNBOOK_PLATFORM ? [env.RUNBOOK_PLATFORM, 'RUNBOOK_PLATFORM'] : ['local', ''];
  if (!isPlatform(value)) {
    throw new Error(`${source} "${value}" is not a platform of the local stack; choose one of: ${Object.keys(PLATFORMS).join(', ')}`);
  }
  return value;
}
