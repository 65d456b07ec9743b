#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME (Go's -fuzztime: 10s, 5m, 1000x) one after another and prints a
# table of executions per target. A failing target stops the run with go test's report; its input is
# in the package's testdata/fuzz/TARGET/ and becomes a regression seed once committed.
#   FUZZTIME=10s bash hack/fuzz.sh            (what CI runs)
#   FUZZTIME=10m FUZZPARALLEL=1 bash hack/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
PARALLEL=${FUZZPARALLEL:-$(nproc)}
# FUZZQUICK=1 (CI) leaves out the targets marked "karpenter" or "slow": fuzzing builds every package
# the target links with coverage instrumentation, and for the packages that link Karpenter's scheduler
# and the AWS provider that build alone takes about 14 minutes on 2 cores; the "slow" one takes about 3
# minutes from a cold cache (it links cli-runtime's kubeconfig loading) and runs under 100 inputs in
# 10 s. Their corpus still runs in make test.
QUICK=${FUZZQUICK:-0}
# package target: everything karpctl reads from a user or a cluster writer.
TARGETS=(
  "./internal/manifest FuzzParse"
  "./internal/engine/load FuzzParse karpenter"
  "./internal/engine/load FuzzParseScale karpenter"
  "./internal/engine FuzzZonesDown karpenter"
  "./internal/fleet FuzzSelect slow"
  "./internal/health FuzzParseMetrics"
  "./internal/lease FuzzEvaluate"
  "./internal/drill FuzzLockGate karpenter"
  "./internal/engine/karpenter FuzzResolve"
)
summary=()
total=0
for t in "${TARGETS[@]}"; do
  read -r pkg name heavy <<<"$t"
  if [ "$QUICK" = 1 ] && [ -n "${heavy:-}" ]; then
    summary+=("$(printf '%-22s %-18s %12s' "$pkg" "$name" "skipped (FUZZQUICK)")")
    continue
  fi
  log=$(mktemp)
  start=$(date +%s)
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel "$PARALLEL" "$pkg" 2>&1 | tee "$log"; then
    echo "fuzz: $pkg $name failed; see above" >&2
    exit 1
  fi
  took=$(( $(date +%s) - start ))
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  rm -f "$log"
  total=$(( total + took ))
  summary+=("$(printf '%-22s %-18s %12s execs %6ss' "$pkg" "$name" "${execs:-0}" "$took")")
done
printf '%s\n' "${summary[@]}"
echo "fuzz: ${#TARGETS[@]} targets, ${total}s in total"
