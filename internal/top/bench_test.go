package top

import (
	"fmt"
	"testing"

	"github.com/karpctl/karpctl/internal/engine"
)

// BenchmarkBuild builds the screen of 2,000 nodes and 20,000 bound pods, as top does on every
// change (at most ten times a second) and each second for the ages.
func BenchmarkBuild(b *testing.B) {
	in := scenario()
	snap := &engine.Snapshot{NodePools: in.Snapshot.NodePools}
	for i := range 2000 {
		n := fmt.Sprintf("node-%04d", i)
		snap.Nodes = append(snap.Nodes, node(n, "default", "4", 0))
		for j := range 10 {
			snap.Pods = append(snap.Pods, pod("x", fmt.Sprintf("%s-%d", n, j), n, "300m"))
		}
	}
	in.Snapshot = snap
	// As Live's screens do: the pods' requests are kept from one build to the next.
	in.Requests = &RequestMemo{}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if s := Build(in); len(s.Nodes) != 2000 {
			b.Fatalf("%d nodes", len(s.Nodes))
		}
	}
}
