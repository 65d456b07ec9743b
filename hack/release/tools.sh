#!/usr/bin/env bash
# Installs the release tools, pinned, from the Go module proxy into $KARPCTL_TOOLS (default
# <repo>/.bin/tools): goreleaser, krew and krew's validate-krew-manifest. A tool whose binary already
# records the pinned module version (go version -m) is kept, so a warm run is a no-op.
#   hack/release/tools.sh [goreleaser|krew|validate-krew-manifest ...]   (default: all three)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tools=${KARPCTL_TOOLS:-$root/.bin/tools}
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}

GORELEASER_VERSION=v2.15.1   # the newest that builds with Go 1.27 from the module proxy
KREW_VERSION=v0.4.3

# tool name → "module package version"
spec() {
  case "$1" in
    goreleaser) echo "github.com/goreleaser/goreleaser/v2 github.com/goreleaser/goreleaser/v2 $GORELEASER_VERSION" ;;
    krew) echo "sigs.k8s.io/krew sigs.k8s.io/krew/cmd/krew $KREW_VERSION" ;;
    validate-krew-manifest) echo "sigs.k8s.io/krew sigs.k8s.io/krew/cmd/validate-krew-manifest $KREW_VERSION" ;;
    *) echo "tools.sh: unknown tool $1 (goreleaser, krew, validate-krew-manifest)" >&2; return 2 ;;
  esac
}

names=("$@")
[ $# -gt 0 ] || names=(goreleaser krew validate-krew-manifest)
mkdir -p "$tools"
for name in "${names[@]}"; do
  s=$(spec "$name")
  read -r module pkg version <<<"$s"
  if go version -m "$tools/$name" 2>/dev/null | grep -qE "^[[:space:]]+mod[[:space:]]+$module[[:space:]]+$version([[:space:]]|$)"; then
    continue
  fi
  t0=$(date +%s)
  GOBIN="$tools" go install -trimpath -ldflags "-s -w" "$pkg@$version"
  echo "installed $name $version into $tools in $(( $(date +%s) - t0 ))s" >&2
done
