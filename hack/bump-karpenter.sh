#!/usr/bin/env bash
# make bump-karpenter VERSION=vX.Y.Z: moves karpctl to Karpenter's AWS release VERSION
# (github.com/aws/karpenter-provider-aws) and the sigs.k8s.io/karpenter that release requires, then
# proves the result against the real Karpenter:
#   1. go.mod and go.sum (go get both modules, go mod tidy);
#   2. the sandbox's CRDs and the EC2 data file's provider tables (go generate);
#   3. every text that names the old versions: docs, README, help, comments and test fixtures
#      (recorded files under testdata/ keep their names: they are what an older Karpenter served);
#   4. the control-plane binaries, whose karpenter-kwok is built from the new sigs.k8s.io/karpenter;
#   5. the unit tests and the tests that compare karpctl with the real Karpenter in the sandbox.
# Steps 1-3 only change files; review them with `git diff` and commit. SKIP_TESTS=1 stops after 4.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}

new_p=${1:-}
[[ $new_p =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "error: VERSION must be a Karpenter release like v1.15.2 (make bump-karpenter VERSION=v1.15.2)" >&2; exit 2; }
[ -z "$(git status --porcelain -- go.mod go.sum)" ] || { echo "error: go.mod or go.sum has uncommitted changes: commit or stash them first" >&2; exit 2; }

provider=github.com/aws/karpenter-provider-aws
core=sigs.k8s.io/karpenter
old_p=$(go list -m -f '{{.Version}}' $provider)
old_c=$(go list -m -f '{{.Version}}' $core)

# The sigs.k8s.io/karpenter the release requires, from its go.mod (only the .mod is fetched).
gomod=$(go mod download -json "$provider@$new_p" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p') || true
[ -n "$gomod" ] && [ -f "$gomod" ] || { echo "error: the Go module proxy does not serve $provider@$new_p: check the version with 'go list -m -versions $provider'" >&2; exit 1; }
new_c=$(awk -v m="$core" '$1 == m { print $2; exit }' "$gomod")
[ -n "$new_c" ] || { echo "error: $provider@$new_p does not require $core" >&2; exit 1; }
echo "Karpenter: $provider $old_p -> $new_p, $core $old_c -> $new_c" >&2

# Both zips must be served before anything changes; the proxy can list a version and still refuse it.
for m in "$provider@$new_p" "$core@$new_c"; do
  if ! err=$(go mod download "$m" 2>&1); then
    echo "error: the Go module proxy refuses $m ($(echo "$err" | tr '\n' ' ' | sed 's/  */ /g')): nothing was changed" >&2
    exit 1
  fi
done

go get "$provider@$new_p" "$core@$new_c"
go mod tidy
go generate ./internal/sandbox ./internal/engine/catalog/aws

# Texts: the provider's own version first (where it differs from the core's), then the core's.
# A version glued to more characters (1.15.0-rc.1, karpenter-v1.15.0-leader.metrics.txt) is left alone.
files=$(git grep -l -I -e "${old_c#v}" -e "${old_p#v}" -- . ':!go.mod' ':!go.sum' ':!**/testdata/**' ':!internal/sandbox/crds/**' ':!internal/engine/catalog/aws/zz_generated*' ':!hack/bump-karpenter.sh' || true)
if [ -n "$files" ]; then
  # shellcheck disable=SC2086
  OLD_P=${old_p#v} NEW_P=${new_p#v} OLD_C=${old_c#v} NEW_C=${new_c#v} perl -pi -e '
    BEGIN { ($op, $np, $oc, $nc) = map { quotemeta } @ENV{qw(OLD_P NEW_P OLD_C NEW_C)}; $np = $ENV{NEW_P}; $nc = $ENV{NEW_C} }
    s{((?:karpenter-provider-aws`?[@ ]|provider )v?)$op(?![\w-]|\.\d)}{$1$np}g;
    s{(?<![\w.])(v?)$oc(?![\w-]|\.\d)}{$1$nc}g;
  ' $files
fi
go build ./... && go vet ./...
echo "changed: $(git status --porcelain | wc -l) files; review with git diff" >&2

make harness
[ "${SKIP_TESTS:-}" = 1 ] && exit 0
# The unit tests, then every test that compares karpctl with the real Karpenter.
go test ./internal/...
go test -p 1 -timeout 40m ./test/e2e/sandbox ./test/e2e/plansandbox ./test/e2e/disruptsandbox ./test/e2e/drill/realkarpenter
