// The Kubernetes bench (npm run bench; BENCH_ONLY=k8s), on the local plane (scripts/k8s/plane.ts): each adapter
// operation (activities/platform/kubernetes.ts) next to `kubectl` doing the same operation on the same plane in
// the same run, each in a namespace of its own with the shipped demo objects (deploy/k8s/demo.yaml).
//  15. read the rollout history       deployment()            vs kubectl rollout history
//  16. set image                      deploy(version, id)      vs kubectl set image
//  17. undo                           rollback(id)             vs kubectl rollout undo
//  18. rollout restart                restartWorkers(graceful) vs kubectl rollout restart
//  19. scale and wait for ready       scaleWorkers(n)          vs kubectl scale + kubectl rollout status
//  20. feature flag                   setFlags                 vs kubectl patch configmap --type merge
// Goal: ours <= 1.0x kubectl (an API round trip or two in a warm process, where kubectl starts a process, reads
// the kubeconfig and discovers the API first). Both use the admin kubeconfig. Rounds: BENCH_K8S_ROUNDS (10).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { kubernetesPlatform } from '../activities/platform/kubernetes';
import { BIN_DIR, KUBECONFIG } from '../scripts/k8s/plane';
import { waitForDeployments } from '../scripts/k8s/manifests';
import { demoNamespace, type DemoNamespace } from '../test/helpers/k8s';
import { goal, label, median, time } from './cache';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_K8S_ROUNDS ?? 10);
// Also keeps a side's consecutive restarts over a second apart (kubectl refuses two within one second).
const SETTLE_MS = 500;

const kubectl = (ns: string, args: string[]) => run(path.join(BIN_DIR, 'kubectl'), [`--kubeconfig=${KUBECONFIG}`, '-n', ns, ...args]);

interface Op {
  name: string;
  ours(i: number): Promise<unknown>;
  kubectl(i: number): Promise<unknown>;
}

function line(name: string, ours: number[], base: number[]): string {
  const o = median(ours);
  const b = median(base);
  const ratio = o / b;
  return `${label(`${name} (n=${ours.length})`)} ours ${o.toFixed(1).padStart(7)} ms   kubectl ${b.toFixed(1).padStart(7)} ms   ratio ${ratio.toFixed(2)}x   goal <= 1.0x: ${goal(ratio <= 1)}`;
}

export async function k8sRows(): Promise<string[]> {
  const spaces: DemoNamespace[] = [];
  try {
    const mine = await demoNamespace('bench-ours');
    const theirs = await demoNamespace('bench-kubectl');
    spaces.push(mine, theirs);
    const p = kubernetesPlatform('reports', mine.platform());
    const stamp = Date.now().toString(36);
    const ops: Op[] = [
      { name: 'read rollout history', ours: () => p.deployment(), kubectl: () => kubectl(theirs.namespace, ['rollout', 'history', 'deployment/reports']) },
      {
        name: 'set image',
        ours: (i) => p.deploy(`v2.${i}.0`, `bench-${stamp}-deploy-${i}`),
        kubectl: (i) => kubectl(theirs.namespace, ['set', 'image', 'deployment/reports', `reports=registry.local/reports:v2.${i}.0`]),
      },
      {
        name: 'rollout undo',
        ours: (i) => p.rollback(`bench-${stamp}-undo-${i}`),
        kubectl: () => kubectl(theirs.namespace, ['rollout', 'undo', 'deployment/reports']),
      },
      {
        name: 'rollout restart',
        ours: (i) => p.restartWorkers('graceful', `bench-${stamp}-restart-${i}`),
        kubectl: () => kubectl(theirs.namespace, ['rollout', 'restart', 'deployment/reports-worker']),
      },
      {
        name: 'scale, wait for ready',
        ours: (i) => p.scaleWorkers(i % 2 ? 2 : 3),
        kubectl: async (i) => {
          await kubectl(theirs.namespace, ['scale', 'deployment/reports-worker', `--replicas=${i % 2 ? 2 : 3}`]);
          await kubectl(theirs.namespace, ['rollout', 'status', 'deployment/reports-worker', '--timeout=60s']);
        },
      },
      {
        name: 'set a feature flag',
        ours: (i) => p.setFlags({ REPORTS_V2_ENABLED: i % 2 === 0 }),
        kubectl: (i) =>
          kubectl(theirs.namespace, [
            'patch',
            'configmap',
            'reports-config',
            '--type=merge',
            '-p',
            JSON.stringify({ data: { REPORTS_V2_ENABLED: String(i % 2 === 0) } }),
          ]),
      },
    ];
    const lines: string[] = [];
    for (const op of ops) {
      const ours: number[] = [];
      const base: number[] = [];
      // Both sides start each op from finished rollouts and a quiet plane: the controllers and kwok also
      // finish deleting what the last op scaled away (not timed; without it an op would pay for the other
      // side's leftovers).
      const settle = async (): Promise<void> => {
        await Promise.all([waitForDeployments(mine.kc, mine.namespace), waitForDeployments(theirs.kc, theirs.namespace)]);
        await new Promise((r) => setTimeout(r, SETTLE_MS));
      };
      // One untimed round first: connections, discovery caches and the JIT warm up on both sides.
      for (let i = -1; i < ROUNDS; i++) {
        const k = i < 0 ? 999 : i;
        const sides = [
          { run: () => op.ours(k), into: ours },
          { run: () => op.kubectl(k), into: base },
        ];
        for (const side of sides) {
          await settle();
          const ms = await time(side.run);
          if (i >= 0) side.into.push(ms);
        }
      }
      lines.push(line(op.name, ours, base));
    }
    return lines;
  } finally {
    await Promise.all(spaces.map((s) => s.remove()));
  }
}
