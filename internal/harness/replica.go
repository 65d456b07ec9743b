package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/discovery"
)

// ReplicaSpec describes one simulated Karpenter replica (hack/replica-sim).
type ReplicaSpec struct {
	Namespace string // lease namespace
	Lease     string // default karpenter-leader-election
	Pod       string // identity prefix, as Karpenter's hostname = pod name
	// Timings default to controller-runtime's 15 s / 10 s / 2 s; tests shorten them.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// NoRelease keeps the lease on SIGTERM, as Karpenter v1.15.0 does.
	NoRelease bool
}

// FastTimings are short election timings for tests: 2 s lease, 1.5 s renew deadline, 250 ms retry.
func FastTimings(s ReplicaSpec) ReplicaSpec {
	s.LeaseDuration, s.RenewDeadline, s.RetryPeriod = 2*time.Second, 1500*time.Millisecond, 250*time.Millisecond
	return s
}

var (
	simOnce sync.Once
	simPath string
	simErr  error
)

// ReplicaSimulator builds hack/replica-sim once per process (go's build cache makes it cheap).
func ReplicaSimulator() (string, error) {
	simOnce.Do(func() {
		dir := BinDir()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			simErr = err
			return
		}
		tmp := filepath.Join(dir, fmt.Sprintf(".replica-sim.%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-o", tmp, "./hack/replica-sim")
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			simErr = fmt.Errorf("building replica-sim: %v\n%s", err, out)
			return
		}
		simPath = filepath.Join(dir, "replica-sim")
		simErr = os.Rename(tmp, simPath)
	})
	return simPath, simErr
}

// StartReplica runs a simulated replica against this control plane.
func (e *Env) StartReplica(s ReplicaSpec, log io.Writer) (*Process, error) {
	path, err := ReplicaSimulator()
	if err != nil {
		return nil, err
	}
	if s.Lease == "" {
		s.Lease = discovery.DefaultLeaseName
	}
	if s.LeaseDuration == 0 {
		s.LeaseDuration, s.RenewDeadline, s.RetryPeriod = 15*time.Second, 10*time.Second, 2*time.Second
	}
	return e.Run(log, "replica-"+strings.ReplaceAll(s.Pod, "/", "-"), path, nil,
		"--kubeconfig", e.Kubeconfig, "--namespace", s.Namespace, "--lease", s.Lease, "--hostname", s.Pod,
		"--lease-duration", s.LeaseDuration.String(), "--renew-deadline", s.RenewDeadline.String(),
		"--retry-period", s.RetryPeriod.String(), fmt.Sprintf("--release-on-cancel=%t", !s.NoRelease))
}

// WaitLeaseHolder polls the Lease ns/name (discovery.DefaultLeaseName when empty) every 50 ms until it has a
// holder, one whose identity starts with pod+"_" (Karpenter's "<hostname>_<uuid>") when pod is not
// empty, and returns it. When ctx ends first, the error names the last holder seen or the last error.
func (e *Env) WaitLeaseHolder(ctx context.Context, ns, name, pod string) (*coordinationv1.Lease, error) {
	if name == "" {
		name = discovery.DefaultLeaseName
	}
	what := fmt.Sprintf("a holder of lease %s/%s", ns, name)
	if pod != "" {
		what = fmt.Sprintf("%s to hold lease %s/%s", pod, ns, name)
	}
	var held *coordinationv1.Lease
	err := Poll(ctx, 50*time.Millisecond, what, func() (bool, error) {
		l, err := e.Client.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		if holder != "" && (pod == "" || strings.HasPrefix(holder, pod+"_")) {
			held = l
			return true, nil
		}
		return false, fmt.Errorf("held by %q", holder)
	})
	return held, err
}
