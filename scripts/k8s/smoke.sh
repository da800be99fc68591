#!/usr/bin/env bash
# Exercises the local plane (scripts/k8s/plane.ts up) with the built kubectl and prints each command with its
# real output and duration: the transcript in docs/k8s-plane.md comes from this. Namespace plane-smoke is
# recreated on each run. Exits non-zero when a step does not behave as on a real cluster.
set -uo pipefail
BIN="${K8S_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/temporal-runbooks/k8s-v1.34.4/bin}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
KC="${RUNBOOK_DATA_DIR:-$ROOT/.data}/k8s/kubeconfig"
NS=plane-smoke
FAILED=0

k() { # k [expect-fail] ARGS...: runs kubectl, echoing the command, its output and its time
  local expect=0
  if [[ $1 == expect-fail ]]; then expect=1; shift; fi
  echo "\$ kubectl $*"
  local t0 rc
  t0=$(date +%s%N)
  "$BIN/kubectl" --kubeconfig "$KC" "$@" 2>&1
  rc=$?
  echo "  (exit $rc, $((($(date +%s%N) - t0) / 1000000)) ms)"
  if { [[ $expect == 0 && $rc != 0 ]] || [[ $expect == 1 && $rc == 0 ]]; }; then
    echo "  !! unexpected exit code"
    FAILED=1
  fi
}

REVS='custom-columns=NAME:.metadata.name,REVISION:.metadata.annotations.deployment\.kubernetes\.io/revision,IMAGE:.spec.template.spec.containers[0].image,DESIRED:.spec.replicas,READY:.status.readyReplicas'
CONDS='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'

"$BIN/kubectl" --kubeconfig "$KC" delete namespace "$NS" --ignore-not-found --wait=true >/dev/null 2>&1
k version
k get nodes -o wide
k create namespace "$NS"
k -n "$NS" create deployment reports --image=reports:v1.4.2 --replicas=2
k -n "$NS" rollout status deployment/reports --timeout=60s
k -n "$NS" get deployment,rs,pods -o wide
k -n "$NS" set image deployment/reports reports=reports:v1.5.0
k -n "$NS" rollout status deployment/reports --timeout=60s
k -n "$NS" get rs -o "$REVS"
k -n "$NS" rollout undo deployment/reports
k -n "$NS" rollout status deployment/reports --timeout=60s
k -n "$NS" get rs -o "$REVS"
k -n "$NS" rollout history deployment/reports
k -n "$NS" scale deployment/reports --replicas=0
k -n "$NS" rollout status deployment/reports --timeout=60s
k -n "$NS" get deployment,pods -l app=reports
k -n "$NS" create configmap reports-config --from-literal=FEATURE_X=off
k -n "$NS" patch configmap reports-config --type=merge -p '{"data":{"FEATURE_X":"on"}}'
k -n "$NS" get configmap reports-config -o 'jsonpath={.data}{"\n"}'

# A rollout that never finishes: the new pods ask for a node label no node has, so they stay Pending.
k -n "$NS" create deployment stuck --image=reports:v1.4.2 --replicas=2
k -n "$NS" rollout status deployment/stuck --timeout=60s
k -n "$NS" patch deployment stuck -p '{"spec":{"progressDeadlineSeconds":10,"template":{"spec":{"nodeSelector":{"example.com/no-such-node":"true"},"containers":[{"name":"reports","image":"reports:v1.5.0"}]}}}}'
k expect-fail -n "$NS" rollout status deployment/stuck --timeout=60s
k -n "$NS" get deployment stuck -o "jsonpath=$CONDS"
k -n "$NS" get rs,pods -l app=stuck -o wide
k -n "$NS" rollout undo deployment/stuck
k -n "$NS" rollout status deployment/stuck --timeout=60s
k -n "$NS" get deployment stuck -o "jsonpath=$CONDS"

echo
if [[ $FAILED == 0 ]]; then echo "smoke: all steps behaved as expected"; else echo "smoke: some steps did not"; fi
exit $FAILED
