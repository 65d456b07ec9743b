package engine

import (
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/events"
)

// eventRecorder keeps what Karpenter tells users through events, the only place where some of its
// decisions are explained: FailedScheduling messages (pods rejected before scheduling, e.g. a missing
// PVC, are reported nowhere else) and, for disruption, why a node is not a candidate or cannot be
// consolidated (DisruptionBlocked, Unconsolidatable), by node and by NodeClaim name, first message
// first.
type eventRecorder struct {
	mu        sync.Mutex
	messages  map[types.UID]string
	nodeNotes map[string][]nodeNote
}

type nodeNote struct {
	reason, message string
}

func newEventRecorder() *eventRecorder {
	return &eventRecorder{messages: map[types.UID]string{}, nodeNotes: map[string][]nodeNote{}}
}

func (r *eventRecorder) Publish(evts ...events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evts {
		switch e.Reason {
		case events.FailedScheduling:
			if p, ok := e.InvolvedObject.(*corev1.Pod); ok {
				r.messages[p.UID] = strings.TrimPrefix(e.Message, "Failed to schedule pod, ")
			}
		case events.DisruptionBlocked, events.Unconsolidatable:
			var key string
			switch o := e.InvolvedObject.(type) {
			case *corev1.Node:
				key = "node/" + o.Name
			case *karpv1.NodeClaim:
				key = "nodeclaim/" + o.Name
			default:
				continue
			}
			note := nodeNote{reason: e.Reason, message: e.Message}
			if !slices.Contains(r.nodeNotes[key], note) {
				r.nodeNotes[key] = append(r.nodeNotes[key], note)
			}
		}
	}
}

// reset forgets the pods' scheduling failures before the scheduler runs again.
func (r *eventRecorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages = map[types.UID]string{}
}

func (r *eventRecorder) message(uid types.UID) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.messages[uid]
	return m, ok
}

// notes returns what Karpenter said about a node or its NodeClaim, the node's first.
func (r *eventRecorder) notes(node, nodeClaim string) []nodeNote {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []nodeNote
	if node != "" {
		out = append(out, r.nodeNotes["node/"+node]...)
	}
	if nodeClaim != "" {
		for _, n := range r.nodeNotes["nodeclaim/"+nodeClaim] {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}
