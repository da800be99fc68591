// A real, local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// kwok, which fakes a node and the pods' lifecycle (no container runs). The stack runs it as its component
// `kubernetes` (scripts/stack/components/kubernetes.ts: npm start -- --platform kubernetes, and the test suite);
// this file is also a CLI of its own. The binaries come from scripts/k8s/build-plane.sh (a per-user cache
// outside the work tree; scripts/install.sh builds them once).
//   node --import tsx scripts/k8s/plane.ts up [--stages fast|general]   start what is missing, wait until usable
//   node --import tsx scripts/k8s/plane.ts down [--wipe]                stop (reverse order); --wipe drops etcd's data
//   node --import tsx scripts/k8s/plane.ts status
// Everything listens on 127.0.0.1 only: etcd 52379/52380, the API server 56443 (K8S_*_PORT to change).
// Certificates, kubeconfig, kwok stages and etcd data live in .data/k8s; logs and pids in .data/logs, .data/run.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DATA, HOST } from '../stack/paths';
import { logFile, portOpen, readPid, startProcess, stopProcess, waitFor } from '../stack/process';

const run = promisify(execFile);

export const K8S_VERSION = 'v1.34.4';
export const BIN_DIR =
  process.env.K8S_BIN_DIR ?? path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'temporal-runbooks', `k8s-${K8S_VERSION}`, 'bin');
export const K8S_DIR = path.join(DATA, 'k8s');
const PKI = path.join(K8S_DIR, 'pki');
export const KUBECONFIG = path.join(K8S_DIR, 'kubeconfig');
const STAGES = path.join(K8S_DIR, 'kwok-stages.yaml');
const NODE_NAME = 'kwok-node-0';

export const K8S_PORTS = {
  etcdClient: Number(process.env.K8S_ETCD_PORT ?? 52379),
  etcdPeer: Number(process.env.K8S_ETCD_PEER_PORT ?? 52380),
  apiserver: Number(process.env.K8S_APISERVER_PORT ?? 56443),
};

const bin = (name: string): string => path.join(BIN_DIR, name);
const pki = (file: string): string => path.join(PKI, file);

/** The API server's URL, and the kubectl built beside the plane. */
export const API_URL = `https://${HOST}:${K8S_PORTS.apiserver}`;
export const KUBECTL = bin('kubectl');

export type Stages = 'fast' | 'general';
export type Log = (msg: string) => void;

/** The five processes, in start order; pid and log names are prefixed so they sit beside the stack's. */
const NAMES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
type Name = (typeof NAMES)[number];
const proc = (n: Name): string => `k8s-${n}`;

function say(msg: string): void {
  process.stdout.write(`${msg}\n`);
}

function checkBinaries(): void {
  const missing = NAMES.concat()
    .map(bin)
    .concat(bin('kubectl'))
    .filter((b) => !existsSync(b));
  if (missing.length) {
    throw new Error(
      `missing ${missing.join(', ')}; build them first with: npm run setup (scripts/install.sh runs scripts/k8s/build-plane.sh: about 8.5 min on 2 cores, once)`,
    );
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** CA, API server serving certificate, admin client certificate (system:masters), service-account key pair. */
function ensurePki(log: Log): void {
  if (existsSync(pki('sa.pub')) && existsSync(pki('admin.crt'))) return;
  mkdirSync(PKI, { recursive: true, mode: 0o700 });
  const t0 = Date.now();
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    pki('ca.key'),
    '-out',
    pki('ca.crt'),
    '-days',
    '3650',
    '-subj',
    '/CN=runbooks-local-k8s-ca',
  ]);
  const sans = [
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
    'IP:127.0.0.1',
    'IP:10.96.0.1', // the in-cluster `kubernetes` Service address; nothing listens there
  ];
  writeFileSync(
    pki('apiserver.ext'),
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`,
  );
  writeFileSync(pki('client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  const signed = (name: string, subject: string, ext: string): void => {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', pki(`${name}.key`), '-out', pki(`${name}.csr`), '-subj', subject]);
    openssl([
      'x509',
      '-req',
      '-in',
      pki(`${name}.csr`),
      '-CA',
      pki('ca.crt'),
      '-CAkey',
      pki('ca.key'),
      '-CAcreateserial',
      '-out',
      pki(`${name}.crt`),
      '-days',
      '3650',
      '-extfile',
      pki(ext),
    ]);
  };
  signed('apiserver', '/CN=kube-apiserver', 'apiserver.ext');
  signed('admin', '/O=system:masters/CN=admin', 'client.ext');
  openssl(['genrsa', '-out', pki('sa.key'), '2048']);
  openssl(['rsa', '-in', pki('sa.key'), '-pubout', '-out', pki('sa.pub')]);
  log(`certificates created in ${path.relative(process.cwd(), PKI) || PKI} (${Date.now() - t0} ms)`);
}

function writeKubeconfig(): void {
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: local',
    '  cluster:',
    `    server: ${API_URL}`,
    `    certificate-authority: ${pki('ca.crt')}`,
    'users:',
    '- name: admin',
    '  user:',
    `    client-certificate: ${pki('admin.crt')}`,
    `    client-key: ${pki('admin.key')}`,
    'contexts:',
    '- name: local',
    '  context:',
    '    cluster: local',
    '    user: admin',
    'current-context: local',
    '',
  ].join('\n');
  writeFileSync(KUBECONFIG, text, { mode: 0o600 });
}

/** kwok's stock Stage files from its module source (downloaded by the build): "fast" = instantly Ready. */
function writeStages(set: Stages): void {
  const modcache = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
  const dir = path.join(modcache, 'sigs.k8s.io', 'kwok@v0.8.0', 'kustomize', 'stage');
  const node = ['node/fast/node-initialize.yaml', 'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml'];
  const pod =
    set === 'fast'
      ? ['pod-ready', 'pod-complete', 'pod-delete'].map((s) => `pod/fast/${s}.yaml`)
      : ['pod-create', 'pod-init-container-running', 'pod-init-container-completed', 'pod-ready', 'pod-complete', 'pod-delete'].map(
          (s) => `pod/general/${s}.yaml`,
        );
  const parts = [...node, ...pod].map((f) => {
    const file = path.join(dir, f);
    if (!existsSync(file)) throw new Error(`kwok stage file ${file} not found; run bash scripts/k8s/build-plane.sh (it downloads the kwok module)`);
    const text = readFileSync(file, 'utf8').trim();
    // A pod of a broken image never becomes Ready (the stage below takes it instead).
    return f.endsWith('/pod-ready.yaml') ? text.replace(/(\n {4}matchExpressions:\n)/, `$1${NOT_BROKEN}`) : text;
  });
  if (!parts.some((p) => p.includes(BROKEN_IMAGE))) throw new Error('kwok pod-ready stage: its selector has no matchExpressions to extend');
  writeFileSync(STAGES, `${[...parts, BROKEN_STAGE].join('\n---\n')}\n`);
}

/**
 * The local plane's stand-in for an image that cannot start: a container image whose tag ends in "-broken"
 * (e.g. reports:v1.5.0-broken) is pulled and started, but crashes at once, like a real release that fails its
 * start-up; the pod stays Running, not Ready, with CrashLoopBackOff, so its Deployment's rollout never
 * completes and ends in ProgressDeadlineExceeded. Every other image becomes Ready at once ("fast" stages).
 */
export const BROKEN_IMAGE = '-broken';
const BROKEN_QUERY = `.spec.containers.[] | select(.image | endswith("${BROKEN_IMAGE}")) | .image`;
const NOT_BROKEN = `    - key: '${BROKEN_QUERY}'\n      operator: 'DoesNotExist'\n`;
const BROKEN_STAGE = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-broken-image
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
    - key: '${BROKEN_QUERY}'
      operator: 'Exists'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: Ready
        reason: ContainersNotReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: ContainersReady
        reason: ContainersNotReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 3
        started: false
        state:
          waiting:
            reason: CrashLoopBackOff
            message: "back-off restarting failed container (the local plane treats images ending in -broken as crashing)"
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}`;

function args(name: Name): string[] {
  const kc = KUBECONFIG;
  switch (name) {
    case 'etcd':
      return [
        '--name=default',
        `--data-dir=${path.join(K8S_DIR, 'etcd')}`,
        `--listen-client-urls=http://${HOST}:${K8S_PORTS.etcdClient}`,
        `--advertise-client-urls=http://${HOST}:${K8S_PORTS.etcdClient}`,
        `--listen-peer-urls=http://${HOST}:${K8S_PORTS.etcdPeer}`,
        `--initial-advertise-peer-urls=http://${HOST}:${K8S_PORTS.etcdPeer}`,
        `--initial-cluster=default=http://${HOST}:${K8S_PORTS.etcdPeer}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ];
    case 'kube-apiserver':
      return [
        `--etcd-servers=http://${HOST}:${K8S_PORTS.etcdClient}`,
        `--bind-address=${HOST}`,
        `--secure-port=${K8S_PORTS.apiserver}`,
        `--advertise-address=${HOST}`,
        '--endpoint-reconciler-type=none',
        `--cert-dir=${path.join(K8S_DIR, 'apiserver-certs')}`,
        `--tls-cert-file=${pki('apiserver.crt')}`,
        `--tls-private-key-file=${pki('apiserver.key')}`,
        `--client-ca-file=${pki('ca.crt')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki('sa.pub')}`,
        `--service-account-signing-key-file=${pki('sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--authorization-mode=RBAC',
        '--allow-privileged=true',
        '--profiling=false',
      ];
    case 'kube-controller-manager':
      return [
        `--kubeconfig=${kc}`,
        `--authentication-kubeconfig=${kc}`,
        `--authorization-kubeconfig=${kc}`,
        '--leader-elect=false',
        '--secure-port=0',
        `--root-ca-file=${pki('ca.crt')}`,
        `--service-account-private-key-file=${pki('sa.key')}`,
        '--use-service-account-credentials=false',
      ];
    case 'kube-scheduler':
      return [`--kubeconfig=${kc}`, `--authentication-kubeconfig=${kc}`, `--authorization-kubeconfig=${kc}`, '--leader-elect=false', '--secure-port=0'];
    case 'kwok':
      return [`--kubeconfig=${kc}`, `--config=${STAGES}`, '--manage-all-nodes=true', '--node-lease-duration-seconds=40'];
  }
}

/** GET https://127.0.0.1:56443/<what> with the admin certificate; true on 200. */
function apiOk(what: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: HOST,
        port: K8S_PORTS.apiserver,
        path: what,
        method: 'GET',
        ca: readFileSync(pki('ca.crt')),
        cert: readFileSync(pki('admin.crt')),
        key: readFileSync(pki('admin.key')),
        timeout: 2000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export function kubectl(argv: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  const child = run(bin('kubectl'), [`--kubeconfig=${KUBECONFIG}`, ...argv], { maxBuffer: 16 * 1024 * 1024 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  return child;
}

const NODE_YAML = `apiVersion: v1
kind: Node
metadata:
  name: ${NODE_NAME}
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: ${NODE_NAME}
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
`;

export interface PlaneUpOptions {
  /** kwok's pod lifecycle: "fast" (Ready at once, the default) or "general" (delays from pod annotations). */
  stages?: Stages;
  log?: Log;
}

/** All five processes run (by their pid files) and the API server answers /readyz. */
export async function planeReady(): Promise<boolean> {
  return NAMES.every((n) => readPid(proc(n)) !== undefined) && existsSync(pki('admin.crt')) && apiOk('/readyz');
}

/**
 * Starts what is missing and waits until the plane is usable: node Ready, the default ServiceAccount there.
 * If it fails, it stops the processes it started itself (ones found running are left alone).
 */
export async function planeUp({ stages = 'fast', log = () => undefined }: PlaneUpOptions = {}): Promise<{ started: string[] }> {
  checkBinaries();
  const t0 = Date.now();
  mkdirSync(K8S_DIR, { recursive: true });
  ensurePki(log);
  writeKubeconfig();
  writeStages(stages);
  const started: Name[] = [];
  try {
    for (const name of NAMES) {
      if (readPid(proc(name))) continue;
      const port = name === 'etcd' ? K8S_PORTS.etcdClient : name === 'kube-apiserver' ? K8S_PORTS.apiserver : undefined;
      if (port !== undefined && (await portOpen(port))) {
        throw new Error(`port ${port} is taken by something that is not our ${name} (no pid in .data/run/${proc(name)}.pid)`);
      }
      startProcess(proc(name), bin(name), args(name));
      started.push(name);
      if (name === 'etcd') {
        await waitFor('etcd', () => portOpen(K8S_PORTS.etcdClient), 30_000, logFile(proc(name)));
      } else if (name === 'kube-apiserver') {
        await waitFor('kube-apiserver /readyz', () => apiOk('/readyz'), 60_000, logFile(proc(name)));
        log(`kube-apiserver ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
    }
    await kubectl(['apply', '-f', '-'], NODE_YAML);
    await kubectl(['wait', '--for=condition=Ready', `node/${NODE_NAME}`, '--timeout=60s']);
    // The controller-manager creates it; until then ServiceAccount admission rejects every pod.
    await waitFor(
      'the default ServiceAccount',
      () => kubectl(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name']).then(() => true),
      60_000,
      logFile(proc('kube-controller-manager')),
    );
  } catch (err) {
    for (const name of [...started].reverse()) await stopProcess(proc(name));
    throw err;
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  log(
    `${started.length ? `started ${started.join(', ')}` : 'all five already running'}; usable after ${secs} s (node ${NODE_NAME} Ready, default ServiceAccount present)`,
  );
  log(`Kubernetes ${K8S_VERSION} at ${API_URL}  (kwok stages: ${stages}; logs .data/logs/k8s-*.log)`);
  log(`kubeconfig: ${KUBECONFIG}`);
  log(`example:    ${KUBECTL} --kubeconfig ${KUBECONFIG} get nodes`);
  return { started };
}

export type StopOutcome = Awaited<ReturnType<typeof stopProcess>>;

/** Stops the five processes, newest first; the plane's outcome is the strongest of theirs (killed > stopped). */
export async function planeDown({ wipe = false, log = () => undefined }: { wipe?: boolean; log?: Log } = {}): Promise<StopOutcome> {
  const outcomes: StopOutcome[] = [];
  for (const name of [...NAMES].reverse()) {
    const how = await stopProcess(proc(name));
    outcomes.push(how);
    log(`${name}: ${how}`);
  }
  if (wipe) {
    rmSync(path.join(K8S_DIR, 'etcd'), { recursive: true, force: true });
    log('etcd data removed');
  }
  return outcomes.includes('killed') ? 'killed' : outcomes.includes('stopped') ? 'stopped' : 'not-running';
}

async function status(): Promise<void> {
  for (const name of NAMES) {
    const pid = readPid(proc(name));
    say(`${name.padEnd(24)} ${pid ? `running (pid ${pid})` : 'stopped'}`);
  }
  const ready = existsSync(pki('admin.crt')) && (await apiOk('/readyz'));
  say(`API server ${API_URL}/readyz: ${ready ? 'ok' : 'not answering'}`);
  if (existsSync(KUBECONFIG)) say(`kubeconfig: ${KUBECONFIG}`);
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'up') {
    const i = rest.indexOf('--stages');
    const stages = i >= 0 ? rest[i + 1] : 'fast';
    if (stages !== 'fast' && stages !== 'general') throw new Error('--stages is fast or general');
    await planeUp({ stages, log: say });
  } else if (cmd === 'down') {
    await planeDown({ wipe: rest.includes('--wipe'), log: say });
  } else if (cmd === 'status') {
    await status();
  } else {
    say('usage: node --import tsx scripts/k8s/plane.ts up [--stages fast|general] | down [--wipe] | status');
    process.exitCode = 2;
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
