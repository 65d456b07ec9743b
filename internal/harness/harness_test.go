package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
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

// RestrictedKubeconfig returns only once its user may do what the rules allow, at the first request,
// and nothing else.
func TestRestrictedKubeconfig(t *testing.T) {
	Need(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kc, err := env.RestrictedKubeconfig(ctx, "pod-reader",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("listing pods right after RestrictedKubeconfig: %v", err)
	}
	if _, err := c.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing secrets: %v, want Forbidden", err)
	}
}

// A component that dies while starting (say, its port was taken) fails the health wait at once as
// errExited, which Start retries with new ports, instead of leaving tests to time out against it.
func TestWaitHealthyComponentExited(t *testing.T) {
	Need(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := env.Run(nil, "exits-at-once", "/bin/false", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = waitHealthy(ctx, map[*Process]string{p: fmt.Sprintf("http://127.0.0.1:%d/healthz", FreePort())}, 30*time.Second)
	if !errors.Is(err, errExited) || time.Since(start) > 10*time.Second {
		t.Fatalf("after %s: %v, want errExited at once", time.Since(start).Round(time.Millisecond), err)
	}
}

// FreePort's ports lie below the ephemeral range, where no outgoing connection can take them, and are
// free to bind.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 200 {
		p := FreePort()
		if p < portFloor || p >= low {
			t.Fatalf("FreePort() = %d, want a free port in [%d, %d)", p, portFloor, low)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("FreePort() = %d, not bindable: %v", p, err)
		}
		l.Close()
	}
}
