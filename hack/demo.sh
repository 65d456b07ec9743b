#!/usr/bin/env bash
# make demo: karpctl against the real Karpenter v1.15.0 controller in a local sandbox (see
# docs/sandbox.md). Starts the sandbox, narrates every karpctl command, lets the real Karpenter provision
# a pending workload beside karpctl's plan, runs a leader-kill drill, and tears everything down — also on
# Ctrl-C or failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
K=bin/kubectl-karpctl
SB=bin/sandbox
t_start=$(date +%s)

if [ -t 1 ]; then B=$'\e[1m' D=$'\e[2m' R=$'\e[0m'; else B='' D='' R=''; fi
heading() { printf '\n%s== %s%s\n' "$B" "$*" "$R"; }
say() { printf '%s%s%s\n' "$D" "$*" "$R"; }

# karpctl ARGS...: show the command line, run it, show a non-zero exit code (the demo goes on).
karpctl() {
  printf '%s$ kubectl karpctl %s%s\n' "$B" "$*" "$R"
  "$K" "$@"
  local rc=$?
  [ $rc -eq 0 ] || say "(exit $rc)"
  return 0
}

pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  heading "Tearing down"
  if [ -f .sandbox/state.json ]; then
    mapfile -t pids < <(grep -o '"pid": [0-9]*' .sandbox/state.json | awk '{print $2}')
    pids+=("$(grep -o '"supervisorPID": [0-9]*' .sandbox/state.json | awk '{print $2}')")
  fi
  "$SB" down
  local left=()
  for p in "${pids[@]}"; do
    [ -n "$p" ] && [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && left+=("$p")
  done
  if [ ${#left[@]} -gt 0 ]; then
    echo "LEFT BEHIND: ${left[*]}" >&2
    rc=1
  else
    say "no process left behind (${#pids[@]} checked); logs in .sandbox/cluster/"
  fi
  say "demo finished in $(( $(date +%s) - t_start ))s"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

heading "Building karpctl and the sandbox"
if [ -z "${MAKELEVEL:-}" ]; then make -s harness build || exit 1; fi # `make demo` already did
go build -o "$SB" ./hack/sandbox || exit 1

heading "Starting the sandbox: a real control plane on 127.0.0.1 and the real Karpenter $(cat internal/sandbox/crds/VERSION) (2 replicas)"
say "Karpenter batches pending pods; a 6 s idle window leaves time to show karpctl's plan before it acts."
"$SB" up -karpenter-env BATCH_IDLE_DURATION=6s,BATCH_MAX_DURATION=20s || exit 1
eval "$("$SB" env)"
# Nothing of the demo lands in your home: kube cache and drill history stay in .sandbox/.
export XDG_STATE_HOME=$root/.sandbox/state
say "Every command below runs with KUBECONFIG=$KUBECONFIG"

heading "Versions: karpctl, its bundled Karpenter engine, and what runs in the cluster"
karpctl version

heading "Who leads? The real lease, written by the real controller"
karpctl lease

heading "Are the replicas spread and protected?"
karpctl audit-topology

heading "A pending workload: 5 pods × 2 CPU that only Karpenter-launched nodes can take"
"$SB" workload -name inflate -replicas 5 -cpu 2 -memory 1Gi
karpctl plan --dry-run

heading "Karpenter decides: the NodeClaims the real controller created"
"$SB" nodeclaims -wait -timeout 3m || say "(Karpenter did not provision everything in time; see .sandbox/cluster/karpenter-*.log)"
say "Compare with the plan above: same count, NodePool and zones; Karpenter launches the cheapest of the plan's options."

heading "What would Karpenter's disruption controller do now, and why does every node stay?"
say "The sandbox's NodePool consolidates only empty nodes (WhenEmpty); Karpenter's own disruption methods say so per node."
karpctl disrupt --dry-run

heading "Health"
karpctl health

heading "Drill: kill the leader and time the handover"
say "v1.15.0 does not release its lease on SIGTERM: expect ≈ 15–19 s until the other replica takes over."
# A lease watch runs beside the drill and is shown after it: what an operator sees during a failover.
watch_log=.sandbox/lease-watch.log
"$K" lease --watch --watch-duration 40s >"$watch_log" 2>&1 &
watch_pid=$!
karpctl drill leader-kill --yes
kill -INT "$watch_pid" 2>/dev/null
wait "$watch_pid" 2>/dev/null
printf '%s$ kubectl karpctl lease --watch%s   %s(ran during the drill; Ctrl-C printed the summary)%s\n' "$B" "$R" "$D" "$R"
cat "$watch_log"
karpctl lease
karpctl drill history
