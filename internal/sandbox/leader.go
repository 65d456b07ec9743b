package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/lease"
)

// Leader is who holds Karpenter's lease right now.
type Leader struct {
	// Identity is the lease's holderIdentity, os.Hostname()_uuid of the leading process.
	Identity string
	// Pod is the identity's hostname part, which names the pod (see Isolation).
	Pod string
	// Process is the Runner's process for Pod (zero when the pod has none).
	Process Process
	Lease   *coordinationv1.Lease
}

// ErrNoLeader means the lease is missing, released, expired, or held by no running process.
var ErrNoLeader = errors.New("no Karpenter replica leads")

// Lease reads Karpenter's leader-election Lease.
func (s *Sandbox) Lease(ctx context.Context) (*coordinationv1.Lease, error) {
	l, err := s.Env.Client.CoordinationV1().Leases(s.Namespace).Get(ctx, s.LeaseName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading lease %s/%s: %w", s.Namespace, s.LeaseName, err)
	}
	return l, nil
}

// Leader returns the current leader: a holder whose lease is fresh and whose pod has a running process.
func (s *Sandbox) Leader(ctx context.Context) (*Leader, error) {
	l, err := s.Lease(ctx)
	if err != nil {
		return nil, err
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return nil, fmt.Errorf("%w: lease %s/%s has no holder", ErrNoLeader, s.Namespace, s.LeaseName)
	}
	id := *l.Spec.HolderIdentity
	dur, _ := lease.Duration(l)
	if l.Spec.RenewTime == nil || time.Since(l.Spec.RenewTime.Time) > dur {
		return nil, fmt.Errorf("%w: lease held by %s has expired", ErrNoLeader, id)
	}
	pod, _ := lease.ParseIdentity(id)
	ld := &Leader{Identity: id, Pod: pod, Lease: l}
	if s.Runner == nil {
		return ld, nil
	}
	if p, ok := s.Runner.Process(ld.Pod); ok {
		ld.Process = p
		return ld, nil
	}
	if s.Runner.Isolation() == NoIsolation {
		ld.Pod = "" // the identity carries the machine's hostname, not a pod's
		return ld, nil
	}
	return nil, fmt.Errorf("%w: holder %s names no pod with a running process", ErrNoLeader, id)
}

// WaitForLeader waits until some replica leads (see Leader).
func (s *Sandbox) WaitForLeader(ctx context.Context) (*Leader, error) {
	return s.WaitForNewLeader(ctx, "")
}

// WaitForNewLeader waits until a replica other than the holder identity previous leads. A failover
// after the leader pod was deleted takes up to leaseDuration + retryPeriod (≈ 15–19 s with v1.15.0,
// which never releases the lease).
func (s *Sandbox) WaitForNewLeader(ctx context.Context, previous string) (*Leader, error) {
	var got *Leader
	err := waitFor(ctx, "a Karpenter leader", func() (bool, error) {
		l, err := s.Leader(ctx)
		if err != nil {
			return false, err
		}
		got = l
		return l.Identity != previous, nil
	})
	return got, err
}

// KarpenterPods are the Karpenter Deployment's pods, by name (including terminating ones).
func (s *Sandbox) KarpenterPods(ctx context.Context) ([]corev1.Pod, error) {
	k := discovery.Karpenter{Namespace: s.Namespace, PodSelector: labels.SelectorFromSet(harness.KarpenterLabels())}
	return k.Pods(ctx, s.Env.Client)
}

// WaitForReplicas waits until n Karpenter pods exist, none terminating, each backed by a process,
// and returns the processes.
func (s *Sandbox) WaitForReplicas(ctx context.Context, n int) ([]Process, error) {
	var procs []Process
	err := waitFor(ctx, fmt.Sprintf("%d Karpenter replicas with processes", n), func() (bool, error) {
		pods, err := s.KarpenterPods(ctx)
		if err != nil {
			return false, err
		}
		procs = procs[:0]
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				return false, nil
			}
			proc, ok := s.Runner.Process(p.Name)
			if !ok {
				return false, nil
			}
			procs = append(procs, proc)
		}
		return len(procs) == n, nil
	})
	return procs, err
}
