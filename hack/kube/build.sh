#!/usr/bin/env bash
# Builds the control-plane binaries the harness and sandbox run, and the kubectl the release test installs
# karpctl into, from the Go module proxy, into $KARPCTL_BIN (default <repo>/.bin). A stamp of the inputs
# makes a warm run a no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${KARPCTL_BIN:-$root/.bin}
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
mkdir -p "$bin"

KUBE_VERSION=v1.36.3
KWOK_VERSION=v0.8.0
# The stamp covers what the binaries are built from: this module, this script, and the Kubernetes and
# Karpenter module versions the root module pins, which karpenter-kwok is built with (not the whole
# root go.mod, which changes with karpctl's own dependencies).
stamp_of() { { cat "$here/go.mod" "$here/go.sum" "$0"; grep -E '^\s*(sigs\.)?k8s\.io/' "$root/go.mod"; echo "$KWOK_VERSION"; } | sha256sum | cut -c1-16; }
want=$(stamp_of)
if [ -f "$bin/.stamp" ] && [ "$(cat "$bin/.stamp")" = "$want" ] && [ "${1:-}" != "-f" ]; then
  exit 0
fi
t0=$(date +%s)
# kubectl reports client-go's version, the control plane component-base's: stamp both, as Kubernetes does.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=36 -X $pkg.gitTreeState=clean"
done
echo "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd ($KUBE_VERSION) into $bin" >&2
(cd "$here" && go build -trimpath -ldflags "$ldflags" -o "$bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl ./etcd)
echo "building kwok $KWOK_VERSION" >&2
GOBIN="$bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
echo "building karpenter-kwok (sigs.k8s.io/karpenter/kwok from the root module)" >&2
# Static and -trimpath as make builds and tests karpctl, so Karpenter's packages compile once for both.
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/karpenter-kwok" sigs.k8s.io/karpenter/kwok)
echo "$want" > "$bin/.stamp"
echo "control-plane binaries ready in $(( $(date +%s) - t0 ))s" >&2
