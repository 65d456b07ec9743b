// Package versions answers `kubectl karpctl version`: karpctl's own build, the Karpenter engine and
// EC2 data bundled into it, and, from the cluster, the Kubernetes server's and Karpenter's versions.
package versions

import (
	"context"
	"runtime"

	"k8s.io/client-go/kubernetes"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/engine"
)

// Info is `version -o json`.
type Info struct {
	Karpctl string `json:"karpctl"`
	// Commit and CommitDate are the git commit karpctl was built from and its time ("unknown" when
	// the build recorded neither).
	Commit     string `json:"commit"`
	CommitDate string `json:"commitDate"`
	Engine     string `json:"engine"`
	GoVersion  string `json:"goVersion"`
	// Platform is the binary's GOOS/GOARCH.
	Platform string `json:"platform"`
	// AWSData dates the EC2 facts and prices behind the AWS provider's instance-type model.
	AWSData engine.AWSData `json:"awsData"`
	// Server and Karpenter are empty when no cluster is reachable; Error says why.
	Server             string `json:"server,omitempty"`
	KarpenterImage     string `json:"karpenterImage,omitempty"`
	KarpenterVersion   string `json:"karpenterVersion,omitempty"`
	KarpenterNamespace string `json:"karpenterNamespace,omitempty"`
	Error              string `json:"error,omitempty"`
}

// Client is karpctl's own versions; it contacts nothing.
func Client() Info {
	b := cli.Build()
	return Info{Karpctl: b.Version, Commit: b.Commit, CommitDate: b.Date, Engine: cli.Engine(),
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, AWSData: engine.DefaultAWSModel.Data()}
}

// Cluster is Client plus the server's version and, when find finds it, Karpenter's image. Karpenter
// not found is no error here; an unreachable server is.
func Cluster(ctx context.Context, c kubernetes.Interface, find func(context.Context, kubernetes.Interface) (*discovery.Karpenter, error)) (Info, error) {
	v := Client()
	sv, err := c.Discovery().ServerVersion()
	if err != nil {
		return v, err
	}
	v.Server = sv.GitVersion
	if k, err := find(ctx, c); err == nil {
		v.KarpenterImage, v.KarpenterVersion, v.KarpenterNamespace = k.Image, k.Version, k.Namespace
	}
	return v, nil
}
