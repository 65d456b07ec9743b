package top

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	ksettings "github.com/karpctl/karpctl/internal/engine/karpenter"
)

// The model runs with the settings top read at start: every snapshot carries them, and NodeOverlays
// are watched only when they are on (Karpenter ignores them otherwise).
func TestLiveRunsWithKarpentersSettings(t *testing.T) {
	// The fake clients answer a LIST and a WATCH, not a watch-list stream.
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	overlay := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1alpha1", "kind": "NodeOverlay", "metadata": map[string]any{"name": "cheap"},
		"spec": map[string]any{"requirements": []any{}, "price": "0.01"},
	}}
	lists := map[schema.GroupVersionResource]string{nodePoolsGVR: "NodePoolList", nodeClaimsGVR: "NodeClaimList",
		ec2NodeClassesGVR: "EC2NodeClassList", nodeOverlaysGVR: "NodeOverlayList"}
	for _, tc := range []struct {
		name      string
		overrides []string
		overlays  int
	}{
		{"defaults", nil, 0},
		{"NodeOverlay on", []string{"FEATURE_GATES=NodeOverlay=true"}, 1},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		settings, err := ksettings.Resolve(ctx, ksettings.Input{Overrides: tc.overrides})
		if err != nil {
			t.Fatal(err)
		}
		dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists)
		// Created, not seeded: the fake would file a seeded NodeOverlay under a guessed resource name.
		if _, err := dyn.Resource(nodeOverlaysGVR).Create(ctx, overlay.DeepCopy(), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		l := New(Options{Kube: fake.NewClientset(), Dynamic: dyn, Settings: settings})
		if watched := l.kinds.nodeOverlays != nil; watched != (tc.overlays > 0) {
			t.Errorf("%s: NodeOverlays watched %v", tc.name, watched)
		}
		l.Start(ctx)
		if err := l.WaitSynced(ctx); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		snap := l.Snapshot()
		if snap.Karpenter != settings || len(snap.NodeOverlays) != tc.overlays {
			t.Errorf("%s: snapshot settings %p (want %p), %d NodeOverlays (want %d)", tc.name, snap.Karpenter, settings, len(snap.NodeOverlays), tc.overlays)
		}
		if s := Build(l.Input(View{}, time.Now())); s.KarpenterSettings != settings {
			t.Errorf("%s: the screen does not say what it runs with", tc.name)
		}
		cancel()
	}
}
