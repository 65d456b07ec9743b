// Package sandbox runs karpctl's sandbox: the harness's real control plane on loopback (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kwok) plus the real Karpenter v1.15.0
// controller — its kwok cloud-provider build — as a chart-like Deployment whose pods are backed by real
// karpenter-kwok processes doing real leader election. The pod Runner is the sandbox's kubelet for
// Karpenter pods: a pod Running on a fake node gets a process whose hostname is the pod name; a deleted
// pod's process is stopped. `make demo`, hack/sandbox and the e2e tests all start it through Start.
package sandbox

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/harness"
)

// Defaults of the sandbox's Karpenter installation.
const (
	DefaultNamespace = "karpenter"
	DeploymentName   = "karpenter"
	ServiceAccount   = "karpenter"
	NodePoolName     = "default"
	NodeClassName    = "default"
	// KarpenterBinary is hack/kube/build.sh's `go build sigs.k8s.io/karpenter/kwok`.
	KarpenterBinary = "karpenter-kwok"
)

// Options configure Start.
type Options struct {
	// Dir holds the control plane's certificates, data, kubeconfigs and every component's log
	// (karpenter-POD.log per Karpenter process). A temporary folder, removed by Stop, when empty.
	Dir string
	// Namespace of the Karpenter Deployment, its Lease and PDB (default "karpenter").
	Namespace string
	// Replicas of the Karpenter Deployment (default 2).
	Replicas int32
	// KarpenterEnv is added to the Deployment's container env; the Runner passes literal values on to
	// each process (e.g. LOG_LEVEL, BATCH_IDLE_DURATION). Ports and the kubeconfig are the Runner's.
	KarpenterEnv map[string]string
	// NoKarpenter starts the control plane, CRDs, NodePool and system nodes but no Deployment/Runner.
	NoKarpenter bool
	// Log receives every component's output; nil discards it (each also logs to Dir/NAME.log).
	Log io.Writer
	// Timeout bounds Start's readiness wait (default 3 minutes).
	Timeout time.Duration
}

// Sandbox is one running sandbox.
type Sandbox struct {
	sceneState
	Env       *harness.Env
	Dynamic   dynamic.Interface
	Namespace string
	// Deployment is the Karpenter Deployment's name; LeaseName its lease in Namespace.
	Deployment string
	LeaseName  string
	// NodePool and NodeClass are the Karpenter objects the sandbox creates.
	NodePool, NodeClass string
	// SystemNodes are the three non-Karpenter nodes (zones test-zone-a/b/c) Karpenter itself runs on.
	SystemNodes []string
	// Runner backs Karpenter pods with karpenter-kwok processes; nil with NoKarpenter.
	Runner *Runner
	// StartupTime is how long Start took until ready (leader elected).
	StartupTime time.Duration

	cancel context.CancelFunc
}

// Start brings the sandbox up and returns once every Karpenter replica runs as a process, one of them
// holds the lease and the NodePool is Ready. On error everything started so far is stopped. Missing
// binaries yield an error wrapping harness.ErrMissingBinaries.
func Start(ctx context.Context, opts Options) (_ *Sandbox, err error) {
	t0 := time.Now()
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Replicas == 0 {
		opts.Replicas = 2
	}
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Minute
	}
	if !opts.NoKarpenter { // harness.Start checks the control plane's binaries before it starts any
		if _, err := harness.Bin(KarpenterBinary); err != nil {
			return nil, err
		}
	}
	if opts.Dir != "" {
		if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, err
		}
	}
	ctx, cancelWait := context.WithTimeout(ctx, opts.Timeout)
	defer cancelWait()

	env, err := harness.Start(ctx, harness.Options{Dir: opts.Dir, Kwok: true, ControllerManager: true, Scheduler: true, Log: opts.Log})
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Sandbox{
		Env: env, Namespace: opts.Namespace, Deployment: DeploymentName, LeaseName: discovery.DefaultLeaseName,
		NodePool: NodePoolName, NodeClass: NodeClassName, cancel: cancel,
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, s.logTails())
			s.Stop()
		}
	}()
	// Clients started without a kubeconfig of their own (karpctl in the demo) must not write ~/.kube.
	if os.Getenv("KUBECACHEDIR") == "" {
		_ = os.Setenv("KUBECACHEDIR", filepath.Join(env.Dir, "kubecache"))
	}
	if s.Dynamic, err = dynamic.NewForConfig(env.Config); err != nil {
		return nil, err
	}
	if err = installCRDs(ctx, s.Dynamic); err != nil {
		return nil, err
	}
	if err = s.createNodePool(ctx); err != nil {
		return nil, err
	}
	if err = s.createSystemNodes(ctx); err != nil {
		return nil, err
	}
	// Workload Deployments in "default" need its ServiceAccount (the controller-manager creates it).
	if err = waitFor(ctx, "the default ServiceAccount", func() (bool, error) {
		_, err := env.Client.CoreV1().ServiceAccounts(corev1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}); err != nil {
		return nil, err
	}
	if opts.NoKarpenter {
		s.StartupTime = time.Since(t0)
		return s, nil
	}
	if err = s.createKarpenter(ctx, opts); err != nil {
		return nil, err
	}
	if s.Runner, err = newRunner(env, opts.Namespace, opts.Log); err != nil {
		return nil, err
	}
	if err = s.Runner.start(runCtx); err != nil {
		return nil, err
	}
	if err = waitFor(ctx, fmt.Sprintf("%d Karpenter processes", opts.Replicas), func() (bool, error) {
		return len(s.Runner.Processes()) >= int(opts.Replicas), nil
	}); err != nil {
		return nil, err
	}
	if _, err = s.WaitForLeader(ctx); err != nil {
		return nil, err
	}
	// The leader marks the NodePool Ready once it has reconciled the NodeClass; until then Karpenter
	// (and karpctl plan) skip the NodePool, so "up" is not up before that.
	if err = waitFor(ctx, fmt.Sprintf("NodePool %s Ready", s.NodePool), func() (bool, error) {
		return s.nodePoolReady(ctx, s.NodePool)
	}); err != nil {
		return nil, err
	}
	s.StartupTime = time.Since(t0)
	return s, nil
}

// Stop ends the Karpenter processes, then the control plane (reverse start order).
func (s *Sandbox) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	if s.Runner != nil {
		s.Runner.stopAll()
	}
	if s.Env != nil {
		s.Env.Stop()
	}
}

// Kubeconfig is the admin kubeconfig (system:masters) of the sandbox.
func (s *Sandbox) Kubeconfig() string { return s.Env.Kubeconfig }

// waitFor polls cond every 200 ms until it is true or ctx ends (see harness.Poll).
func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	return harness.Poll(ctx, 200*time.Millisecond, what, cond)
}

// logTails is the end of each component's log, for a failed start.
func (s *Sandbox) logTails() string {
	if s.Env == nil {
		return ""
	}
	logs, _ := filepath.Glob(filepath.Join(s.Env.Dir, "*.log"))
	out := ""
	for _, l := range logs {
		out += fmt.Sprintf("--- %s (last 15 lines)\n%s\n", l, harness.Tail(l, 15))
	}
	return out
}
