#!/usr/bin/env bash
# `make release-snapshot`: the release without publishing it. GoReleaser builds the archives and
# checksums.txt into dist/ from .goreleaser.yaml, hack/krew-manifest renders plugins/karpctl.yaml from
# .krew.yaml with their sha256, krew's validator checks the manifest, and krew installs every
# platform's archive from disk (the validator would download each from its release URI, which a
# snapshot does not have yet). The release test runs the same with a one-platform config:
#   GORELEASER_CONFIG=FILE DIST=DIR MANIFEST=FILE ONLY_BUILT=1 hack/release/snapshot.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} KREW_NO_UPGRADE_CHECK=1
config=${GORELEASER_CONFIG:-.goreleaser.yaml}
dist=${DIST:-dist}            # must be the config's dist (default dist)
manifest=${MANIFEST:-plugins/karpctl.yaml}
tools=${KARPCTL_TOOLS:-$root/.bin/tools}

bash hack/release/tools.sh
# GoReleaser reads the commit only when the clone has a remote; without one (a local repository or
# worktree) it would stamp "none". Name the project's own URL for its run, in its environment only.
if ! git ls-remote --get-url >/dev/null 2>&1; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/karpctl/karpctl.git
fi
t0=$(date +%s)
"$tools/goreleaser" release --snapshot --clean --skip=publish --config "$config"
echo "goreleaser: $(( $(date +%s) - t0 ))s" >&2

go run ./hack/krew-manifest -dist "$dist" -o "$manifest" ${ONLY_BUILT:+-only-built}
"$tools/validate-krew-manifest" -manifest "$manifest" -skip-install

# What the validator's install step checks, per archive: krew installs it for its platform and the
# installation has the binary and a LICENSE.
while read -r _ archive; do
  case "$archive" in *.tar.gz | *.zip) ;; *) continue ;; esac
  platform=${archive%.tar.gz}; platform=${platform%.zip}
  arch=${platform##*_}; platform=${platform%_*}; os=${platform##*_}
  krew_root=$(mktemp -d)
  KREW_ROOT=$krew_root KREW_OS=$os KREW_ARCH=$arch "$tools/krew" install --manifest="$manifest" --archive="$dist/$archive" 2>"$krew_root.log" ||
    { cat "$krew_root.log" >&2; exit 1; }
  license=$(find "$krew_root/store/karpctl" -name LICENSE | head -1)
  bin=$(find "$krew_root/store/karpctl" -name 'kubectl-karpctl*' -type f | head -1)
  if [ -z "$license" ] || [ -z "$bin" ]; then
    echo "krew install of $archive ($os/$arch): no LICENSE or kubectl-karpctl in $krew_root/store" >&2
    exit 1
  fi
  printf '%-8s %-6s %s  binary %s bytes\n' "$os" "$arch" "$archive" "$(wc -c <"$bin" | tr -d " ")"
  rm -rf "$krew_root" "$krew_root.log"
done <"$dist/checksums.txt"

# The binary for this machine runs.
host_bin=$(find "$dist" -path "*_$(go env GOOS)_$(go env GOARCH)*" -name kubectl-karpctl -type f | head -1)
if [ -n "$host_bin" ]; then
  "$host_bin" version --client
fi
echo "release snapshot in $dist: $(grep -cE '\.(tar\.gz|zip)$' "$dist/checksums.txt") archives, checksums.txt; krew manifest $manifest" >&2
