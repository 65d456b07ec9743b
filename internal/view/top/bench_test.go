package top

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/top"
)

// bigScreen is a screen of n nodes.
func bigScreen(n int) *top.Screen {
	s := screen()
	s.Nodes = nil
	p := 0.19
	for i := range n {
		s.Nodes = append(s.Nodes, top.NodeRow{Name: fmt.Sprintf("node-%04d", i), NodePool: fmt.Sprintf("pool-%d", i%5), InstanceType: "c-4x-amd64-linux",
			Zone: "test-zone-a", CapacityType: "spot", PricePerHour: &p, Usage: map[string]top.Usage{"cpu": {Requested: float64(i % 4), Allocatable: 4}}})
	}
	return s
}

// planSnapshot has pending pods for one kwok NodePool (from files: assumed Ready).
func planSnapshot(pending int) *engine.Snapshot {
	np := &karpv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: karpv1.NodePoolSpec{Template: karpv1.NodeClaimTemplate{Spec: karpv1.NodeClaimTemplateSpec{
		NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.kwok.sh", Kind: "KWOKNodeClass", Name: "default"},
	}}}}
	snap := &engine.Snapshot{NodePools: []*karpv1.NodePool{np}}
	sizes := []string{"100m", "250m", "500m", "1", "2"}
	for i := range pending {
		snap.PendingPods = append(snap.PendingPods, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("p-%05d", i), UID: types.UID(fmt.Sprintf("p-%d", i)), Labels: map[string]string{"app": fmt.Sprint(i % 50)}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(sizes[i%len(sizes)]), corev1.ResourceMemory: resource.MustParse("512Mi")}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending},
		})
	}
	return snap
}

// BenchmarkKeysDuringPlan presses keys on a screen of 2,000 nodes while Karpenter's scheduler plans
// 5,000 pending pods on other goroutines, as top's predictions do: each key's Update and the redraw
// must answer within 100 ms (reported: the slowest and the 99th percentile).
func BenchmarkKeysDuringPlan(b *testing.B) {
	snap := planSnapshot(5000)
	for range b.N {
		m := newModel(nil, top.View{Sort: top.SortNodePool}, output.StylesFor(&bytes.Buffer{}))
		m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
		m.Update(screenMsg{bigScreen(2000)})
		src, err := engine.Sources(snap, "")
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		t0 := time.Now()
		go func() {
			_, err := engine.Plan(context.Background(), snap, engine.Options{InstanceTypes: src})
			done <- err
		}()
		var lat []time.Duration
		keys := []tea.KeyMsg{{Type: tea.KeyDown}, {Type: tea.KeyPgDown}, {Type: tea.KeyRunes, Runes: []rune("s")}, {Type: tea.KeyUp}}
	loop:
		for i := 0; ; i++ {
			select {
			case err := <-done:
				if err != nil {
					b.Fatal(err)
				}
				break loop
			case <-time.After(20 * time.Millisecond):
			}
			k0 := time.Now()
			m.Update(keys[i%len(keys)])
			_ = m.View()
			lat = append(lat, time.Since(k0))
		}
		planTook := time.Since(t0)
		if len(lat) == 0 {
			b.Fatal("the plan ended before any key was pressed")
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-key-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-key-ms")
		b.ReportMetric(float64(len(lat)), "keys")
		b.ReportMetric(planTook.Seconds(), "plan-s")
	}
}
