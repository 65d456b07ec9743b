// Package lease answers "who leads Karpenter, and is the lease fresh?" from a Lease, the Karpenter
// pods and their nodes. It reads nothing itself (see Read) and prints nothing.
package lease

import (
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/units"
)

// Verdict is the one-word judgement of the lease.
type Verdict string

const (
	Healthy  Verdict = "Healthy"
	Stale    Verdict = "Stale"    // renewals are late: the leader is struggling or gone
	Expired  Verdict = "Expired"  // renew age exceeds the lease duration: nobody leads until a candidate takes it
	NoHolder Verdict = "NoHolder" // released (holderIdentity empty), waiting for a candidate
	Orphaned Verdict = "Orphaned" // the holder is not one of Karpenter's pods
	Disabled Verdict = "Disabled" // DISABLE_LEADER_ELECTION=true: no lease is used
	Missing  Verdict = "Missing"  // no Lease object
)

// OK reports whether the verdict needs no attention. Disabled is fine only for a single replica:
// without election every replica acts as leader.
func (s Status) OK() bool { return s.Verdict == Healthy || (s.Verdict == Disabled && s.Replicas <= 1) }

// DefaultLeaseDuration is controller-runtime's default, used when the Lease does not say.
const DefaultLeaseDuration = 15 * time.Second

// Duration is the lease's leaseDurationSeconds, or DefaultLeaseDuration (and false) when the Lease
// does not set a positive one.
func Duration(l *coordinationv1.Lease) (time.Duration, bool) {
	if l.Spec.LeaseDurationSeconds != nil && *l.Spec.LeaseDurationSeconds > 0 {
		return time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second, true
	}
	return DefaultLeaseDuration, false
}

// StaleFraction places the Stale threshold at 2/3 of the lease duration. With controller-runtime's
// defaults (duration 15 s, renew deadline 10 s, retry 2 s) that is the renew deadline: a leader renews
// every retry period (~2 s), and one that has not renewed for the renew deadline has already given up
// leadership itself, so the lease is certainly not being kept fresh. Beyond the duration it is Expired.
const StaleFraction = 2.0 / 3.0

// StaleAfter is the renew age past which a lease of the given duration is Stale.
func StaleAfter(duration time.Duration) time.Duration {
	return time.Duration(float64(duration) * StaleFraction)
}

// Status is the lease command's answer (the JSON schema of `lease -o json`).
type Status struct {
	Namespace      string        `json:"namespace"`
	Name           string        `json:"name"`
	Verdict        Verdict       `json:"verdict"`
	Reason         string        `json:"reason"`
	HolderIdentity string        `json:"holderIdentity,omitempty"`
	Holder         *Holder       `json:"holder,omitempty"`
	AcquireTime    *time.Time    `json:"acquireTime,omitempty"`
	RenewTime      *time.Time    `json:"renewTime,omitempty"`
	RenewAge       units.Seconds `json:"renewAgeSeconds"`
	LeaseDuration  units.Seconds `json:"leaseDurationSeconds"`
	StaleAfter     units.Seconds `json:"staleAfterSeconds"`
	Transitions    int32         `json:"leaseTransitions"`
	// Replicas is the Deployment's desired replica count (0 when no Deployment was found).
	Replicas   int32       `json:"replicas"`
	Candidates []Candidate `json:"candidates"`
	ObservedAt time.Time   `json:"observedAt"`
}

// Holder is where the holder identity points.
type Holder struct {
	// Pod is the holder's pod; empty when the identity matches no Karpenter pod.
	Pod string `json:"pod,omitempty"`
	// Hostname is the identity's prefix: a pod name, or a node name with hostNetwork.
	Hostname    string `json:"hostname"`
	HostNetwork bool   `json:"hostNetwork"`
	Node        string `json:"node,omitempty"`
	Zone        string `json:"zone,omitempty"`
}

// Candidate is one Karpenter pod.
type Candidate struct {
	Pod      string    `json:"pod"`
	Role     string    `json:"role"` // leader | follower
	Phase    string    `json:"phase"`
	Ready    bool      `json:"ready"`
	Restarts int32     `json:"restarts"`
	Node     string    `json:"node,omitempty"`
	Zone     string    `json:"zone,omitempty"`
	Created  time.Time `json:"created"`
	Deleting bool      `json:"deleting,omitempty"`
}

// ZoneLabel is the well-known zone label.
const ZoneLabel = corev1.LabelTopologyZone

// ZoneOf is the node's ZoneLabel, "" for a nil node or one without the label.
func ZoneOf(n *corev1.Node) string {
	if n == nil {
		return ""
	}
	return n.Labels[ZoneLabel]
}

// ParseIdentity splits a client-go leader-election identity "<hostname>_<uuid>" (what Karpenter uses)
// at the last underscore. An identity without one is all hostname.
func ParseIdentity(id string) (hostname, suffix string) {
	if i := strings.LastIndex(id, "_"); i >= 0 {
		return id[:i], id[i+1:]
	}
	return id, ""
}

// Input is what Evaluate judges; Lease is nil when none exists.
type Input struct {
	Namespace, Name string
	Lease           *coordinationv1.Lease
	Disabled        bool
	Replicas        int32
	Pods            []corev1.Pod
	Nodes           map[string]*corev1.Node
	Now             time.Time
}

// Evaluate judges the lease from in alone (its clock is in.Now): the same input gives the same Status.
func Evaluate(in Input) Status {
	s := Status{Namespace: in.Namespace, Name: in.Name, ObservedAt: in.Now, LeaseDuration: units.Seconds(DefaultLeaseDuration), Replicas: in.Replicas}
	if l := in.Lease; l != nil {
		s.HolderIdentity = ptr.Deref(l.Spec.HolderIdentity, "")
		d, _ := Duration(l)
		s.LeaseDuration = units.Seconds(d)
		if l.Spec.AcquireTime != nil {
			t := l.Spec.AcquireTime.Time
			s.AcquireTime = &t
		}
		if l.Spec.RenewTime != nil {
			t := l.Spec.RenewTime.Time
			s.RenewTime = &t
			s.RenewAge = units.Seconds(in.Now.Sub(t))
		}
		if l.Spec.LeaseTransitions != nil {
			s.Transitions = *l.Spec.LeaseTransitions
		}
	}
	s.StaleAfter = units.Seconds(StaleAfter(s.LeaseDuration.Duration()).Round(time.Millisecond))

	podByName := map[string]*corev1.Pod{}
	for i := range in.Pods {
		podByName[in.Pods[i].Name] = &in.Pods[i]
	}
	if s.HolderIdentity != "" {
		s.Holder = resolveHolder(s.HolderIdentity, in.Pods, podByName, in.Nodes)
	}
	for _, p := range in.Pods {
		c := Candidate{Pod: p.Name, Role: "follower", Phase: string(p.Status.Phase), Ready: discovery.PodReady(&p),
			Node: p.Spec.NodeName, Created: p.CreationTimestamp.Time, Deleting: p.DeletionTimestamp != nil}
		for _, cs := range p.Status.ContainerStatuses {
			c.Restarts += cs.RestartCount
		}
		c.Zone = ZoneOf(in.Nodes[p.Spec.NodeName])
		if s.Holder != nil && s.Holder.Pod == p.Name {
			c.Role = "leader"
		}
		s.Candidates = append(s.Candidates, c)
	}
	s.Verdict, s.Reason = judge(in, s)
	return s
}

func resolveHolder(id string, pods []corev1.Pod, byName map[string]*corev1.Pod, nodes map[string]*corev1.Node) *Holder {
	host, _ := ParseIdentity(id)
	h := &Holder{Hostname: host}
	if p := byName[host]; p != nil {
		h.Pod, h.Node = p.Name, p.Spec.NodeName
	} else {
		// With hostNetwork the hostname is the node's: find the hostNetwork Karpenter pod on that node.
		for i := range pods {
			p := &pods[i]
			if p.Spec.HostNetwork && nodeHostname(p.Spec.NodeName, nodes) == host && p.DeletionTimestamp == nil {
				h.Pod, h.Node, h.HostNetwork = p.Name, p.Spec.NodeName, true
				break
			}
		}
	}
	h.Zone = ZoneOf(nodes[h.Node])
	return h
}

// nodeHostname is the node's kubernetes.io/hostname label, else its name.
func nodeHostname(name string, nodes map[string]*corev1.Node) string {
	if n := nodes[name]; n != nil {
		if h := n.Labels[corev1.LabelHostname]; h != "" {
			return h
		}
	}
	return name
}

func judge(in Input, s Status) (Verdict, string) {
	age, dur := s.RenewAge.Duration(), s.LeaseDuration.Duration()
	switch {
	case in.Disabled && in.Replicas > 1:
		return Disabled, fmt.Sprintf("DISABLE_LEADER_ELECTION=true with %d replicas: every replica acts as leader and they fight over the same NodeClaims; enable leader election or run one replica", in.Replicas)
	case in.Disabled:
		return Disabled, "DISABLE_LEADER_ELECTION=true: no lease is used; fine for a single replica, which has no standby"
	case in.Lease == nil:
		return Missing, fmt.Sprintf("no Lease %s/%s: Karpenter has not started, uses another lease name/namespace, or leader election is off", in.Namespace, in.Name)
	case s.HolderIdentity == "":
		return NoHolder, "the lease was released and no replica has taken it yet"
	case s.RenewTime == nil:
		return Stale, "the lease has a holder but no renewTime"
	case age > dur:
		return Expired, fmt.Sprintf("last renewed %s ago, longer than the lease duration %s: %s no longer leads and no other replica has taken over", Round(age), dur, s.HolderIdentity)
	case s.Holder == nil || s.Holder.Pod == "":
		return Orphaned, fmt.Sprintf("holder %q is not one of the Karpenter pods (deleted pod, or a Karpenter outside this Deployment)", s.HolderIdentity)
	case age > StaleAfter(dur):
		return Stale, fmt.Sprintf("last renewed %s ago (stale after %s, expires after %s): the leader has missed its renewals", Round(age), Round(StaleAfter(dur)), dur)
	}
	return Healthy, fmt.Sprintf("%s renewed %s ago (stale after %s)", s.Holder.Pod, Round(age), Round(StaleAfter(dur)))
}

// Round shows a duration the way karpctl prints ages: to 100 ms, never negative (clock skew).
func Round(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d.Round(100 * time.Millisecond)
}
