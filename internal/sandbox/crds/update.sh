#!/usr/bin/env bash
# Copies Karpenter's CRDs (and, into aws/, the AWS provider's EC2NodeClass CRD) from the modules the
# root go.mod pins (the same source karpenter-kwok is built
# from by hack/kube/build.sh), so the sandbox installs exactly the schema its controller expects.
# Run through `go generate ./internal/sandbox` after bumping sigs.k8s.io/karpenter; a unit test fails
# when the copies drift from the pinned module.
set -euo pipefail
cd "$(dirname "$0")"
dir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/karpenter)
[ -n "$dir" ] || { go mod download sigs.k8s.io/karpenter; dir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/karpenter); }
rm -f ./*.yaml
cp "$dir"/pkg/apis/crds/*.yaml "$dir"/kwok/apis/crds/*.yaml .
chmod 0644 ./*.yaml
go list -m -f '{{.Version}}' sigs.k8s.io/karpenter > VERSION

aws=$(go list -m -f '{{.Dir}}' github.com/aws/karpenter-provider-aws)
[ -n "$aws" ] || { go mod download github.com/aws/karpenter-provider-aws; aws=$(go list -m -f '{{.Dir}}' github.com/aws/karpenter-provider-aws); }
mkdir -p aws
rm -f aws/*.yaml
cp "$aws"/pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml aws/
chmod 0644 aws/*.yaml
go list -m -f '{{.Version}}' github.com/aws/karpenter-provider-aws > aws/VERSION
