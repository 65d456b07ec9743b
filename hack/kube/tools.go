//go:build tools

// Package kube pins the Kubernetes control-plane binaries the karpctl test harness and sandbox build,
// and the kubectl the release test installs karpctl into as a krew plugin.
// It is a nested module so that the root module's `go test ./...` never compiles Kubernetes.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
