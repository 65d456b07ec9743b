package drill

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/karpctl/karpctl/internal/harness"
)

// sims is the kubelet of the simulated Karpenter pods. The harness runs kube-controller-manager and
// kube-scheduler, so real Deployments/ReplicaSets recreate evicted pods and the scheduler places them
// (honouring cordons, anti-affinity and zone spread) — more realistic than playing the ReplicaSet in
// the test, and required for zone-outage, whose replacements must land in other zones by the
// scheduler's own decision. kwok marks the pods Running; sims gives each Running pod a replica-sim
// process (real client-go leader election, identity <pod>_<uuid>) and ends it when the pod goes:
// SIGTERM when the pod gets a deletionTimestamp with a grace period (an eviction: the simulator
// releases the lease), SIGKILL with grace period 0 (a crash, no release).
type sims struct {
	t       *testing.T
	ns      string
	noRel   bool
	mu      sync.Mutex
	procs   map[string]*harness.Process
	stopped map[string]bool
}

func startSims(ctx context.Context, t *testing.T, ns string, noRelease bool) *sims {
	s := &sims{t: t, ns: ns, noRel: noRelease, procs: map[string]*harness.Process{}, stopped: map[string]bool{}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			w, err := env.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if p, ok := ev.Object.(*corev1.Pod); ok {
					s.handle(ev.Type, p)
				}
			}
			w.Stop()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		s.killAll()
	})
	return s
}

func (s *sims) handle(typ watch.EventType, p *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	proc := s.procs[p.Name]
	switch {
	case typ == watch.Deleted:
		if proc != nil {
			delete(s.procs, p.Name)
			go proc.Kill() // gone without a graceful phase: a crash
		}
		s.stopped[p.Name] = true
	case p.DeletionTimestamp != nil:
		if proc != nil {
			delete(s.procs, p.Name)
			if s.noRel || (p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds == 0) {
				go proc.Kill() // grace period 0: a crash
			} else {
				go proc.Stop(5 * time.Second) // SIGTERM: the simulator releases the lease
			}
		}
		s.stopped[p.Name] = true
	case proc == nil && !s.stopped[p.Name] && p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning:
		np, err := env.StartReplica(harness.FastTimings(harness.ReplicaSpec{Namespace: s.ns, Pod: p.Name, NoRelease: s.noRel}), nil)
		if err != nil {
			s.t.Errorf("starting replica for %s: %v", p.Name, err)
			return
		}
		s.procs[p.Name] = np
	}
}

// kill stops every simulator at once without release (the leader "stops").
func (s *sims) killAll() {
	s.mu.Lock()
	ps := s.procs
	s.procs = map[string]*harness.Process{}
	for n := range ps {
		s.stopped[n] = true
	}
	s.mu.Unlock()
	for _, p := range ps {
		p.Kill()
	}
}
