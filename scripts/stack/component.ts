// What a server of the local stack is (how to tell it is up, how to start it, what to do once it is) and
// what the factories in components/ share. components.ts lists them and starts and stops them in order.
import { configFile, readSelection } from '../../config/load';
import { KUBECONFIG } from '../k8s/plane';
import { HOST, PORTS } from './paths';
import { stackUrls, type StackSecrets } from './secrets';

export interface Component<N extends string = string> {
  name: N;
  /** What a person uses to reach it. */
  address: string;
  ready(): Promise<boolean>;
  start(): Promise<void>;
  /** Runs after it is ready, whether started now or reused; may return a note for the person starting it. */
  after?(): Promise<string | void>;
  startTimeoutMs: number;
}

/** What every factory gets: built once per `components()` call. */
export interface StackContext {
  secrets: StackSecrets;
  /** Connection URLs of the servers (with secrets). */
  urls: ReturnType<typeof stackUrls>;
  /** Environment of our own child processes (demo service, worker). */
  env: NodeJS.ProcessEnv;
}

export type ComponentFactory<N extends string = string> = (ctx: StackContext) => Component<N>;

export function stackEnv(s: StackSecrets): NodeJS.ProcessEnv {
  const urls = stackUrls(s);
  return {
    ...process.env,
    ...s,
    TEMPORAL_ADDRESS: urls.temporal,
    // RUNBOOK_CONFIG, else what `npm start` selected (--platform), else config/local.json.
    RUNBOOK_CONFIG: configFile(),
    // config/kubernetes.json names the kubeconfig as ${KUBECONFIG}: the local plane's, not one of the person's own.
    ...(readSelection()?.platform === 'kubernetes' ? { KUBECONFIG } : {}),
    DEMO_PORT: String(PORTS.demo),
    DEMO_PG_URL: urls.pg('reports'),
    DEMO_REDIS_URL: urls.redis,
    DEMO_MONGO_URL: urls.mongo,
    WORKER_METRICS_ADDRESS: `${HOST}:${PORTS.workerMetrics}`,
    WORKER_SDK_METRICS_ADDRESS: `${HOST}:${PORTS.workerSdkMetrics}`,
    API_LISTEN: `${HOST}:${PORTS.api}`,
  };
}

export function stackContext(secrets: StackSecrets): StackContext {
  return { secrets, urls: stackUrls(secrets), env: stackEnv(secrets) };
}

/** Node arguments that run our own TypeScript entry points (demo service, worker) as they are. */
export const TSX: readonly string[] = ['--import', 'tsx'];
