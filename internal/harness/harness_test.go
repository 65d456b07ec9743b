package harness

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var env *Env

func TestMain(m *testing.M) { os.Exit(Main(m, Options{Kwok: true}, &env)) }

// A kwok-managed node turns Ready and a pod bound to it Running with a loopback address.
func TestKwokNodeAndPod(t *testing.T) {
	Need(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := NewBuilder(env.Client)
	n := b.Node(ctx, t, NodeSpec{Name: "n-a", Zone: "zone-a"})
	p := b.Pod(ctx, t, PodSpec{Namespace: "default", Name: "p", Node: n.Name})
	if !WaitFor(ctx, func() bool {
		got, err := env.Client.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.PodRunning
	}) {
		t.Fatal("pod never Running")
	}
	got, _ := env.Client.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{})
	if ip := got.Status.PodIP; len(ip) < 4 || ip[:4] != "127." {
		t.Fatalf("pod IP %q is not loopback", ip)
	}
	node, _ := env.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && a.Address != "127.0.0.1" {
			t.Fatalf("node address %s is not loopback", a.Address)
		}
	}
}
