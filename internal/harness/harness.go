// Package harness runs a real Kubernetes control plane on loopback for karpctl's end-to-end tests and
// for the sandbox behind `make demo`: etcd and kube-apiserver always, and on request kwok (fake
// kubelets), kube-controller-manager and kube-scheduler. Binaries come from hack/kube/build.sh.
//
// Network safety: every component binds 127.0.0.1, and fake nodes and pods only ever get loopback
// addresses, so nothing a test starts can dial another host.
//
// This file starts and stops the control plane; process.go runs and signals its processes, ports.go
// picks their loopback ports, binaries.go finds what hack/kube/build.sh built, kubeconfig.go writes
// credentials, requests.go counts what a client sends, and testmain.go runs a test package against it.
package harness

import (
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options chooses which components run beside etcd and kube-apiserver.
type Options struct {
	// Dir holds certificates, data, logs and kubeconfigs; a temporary folder when empty.
	Dir string
	// Kwok fakes kubelets: nodes annotated kwok.x-k8s.io/node=fake turn Ready and their pods Running.
	Kwok bool
	// ControllerManager and Scheduler make Deployments produce scheduled pods.
	ControllerManager bool
	Scheduler         bool
	// Log receives the components' output; discarded when nil (each also logs to Dir/NAME.log).
	Log io.Writer
	// APIServerFlags are added to kube-apiserver's command line (e.g. a watch-cache setting a test
	// needs).
	APIServerFlags []string
}

// Env is one running control plane.
type Env struct {
	Dir        string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	Procs      []*Process

	pki     *pki
	apiPort int
	etcdURL string
	ownDir  bool
}

// errExited marks a start that failed because a component exited while starting up. With ports
// from FreePort that is most often a lost race: something else (a parallel test's client connection,
// another harness) took the port between FreePort and the component's bind.
var errExited = errors.New("exited during start-up")

// startAttempts bounds Start's retries of a start whose component exited (see errExited).
const startAttempts = 3

// Start brings up the control plane and waits until the apiserver and every optional component is
// ready (its /healthz answers). A start in a directory of its own whose component exited during
// start-up is retried from scratch with new ports, up to startAttempts times.
func Start(ctx context.Context, opts Options) (*Env, error) {
	for attempt := 1; ; attempt++ {
		e, err := start(ctx, opts)
		if err == nil || !errors.Is(err, errExited) || opts.Dir != "" || attempt == startAttempts {
			return e, err
		}
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "harness: start attempt %d failed, retrying with new ports: %v\n", attempt, err)
		}
	}
}

// binaries are the ones a start with opts runs.
func (opts Options) binaries() []string {
	bins := []string{"etcd", "kube-apiserver"}
	if opts.ControllerManager {
		bins = append(bins, "kube-controller-manager")
	}
	if opts.Scheduler {
		bins = append(bins, "kube-scheduler")
	}
	if opts.Kwok {
		bins = append(bins, "kwok")
	}
	return bins
}

func start(ctx context.Context, opts Options) (_ *Env, err error) {
	for _, b := range opts.binaries() { // all of them before anything starts
		if _, err := Bin(b); err != nil {
			return nil, err
		}
	}
	e := &Env{Dir: opts.Dir}
	if e.Dir == "" {
		if e.Dir, err = os.MkdirTemp("", "karpctl-harness-"); err != nil {
			return nil, err
		}
		e.ownDir = true
	}
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	if e.pki, err = newPKI(e.Dir); err != nil {
		return nil, fmt.Errorf("creating certificates: %w", err)
	}
	if err := e.startEtcdAndAPIServer(ctx, opts); err != nil {
		return nil, err
	}
	health := map[*Process]string{}
	for _, c := range []struct {
		on    bool
		start func(io.Writer) (*Process, string, error)
	}{{opts.ControllerManager, e.startControllerManager}, {opts.Scheduler, e.startScheduler}, {opts.Kwok, e.startKwok}} {
		if !c.on {
			continue
		}
		p, url, err := c.start(opts.Log)
		if err != nil {
			return nil, err
		}
		health[p] = url
	}
	if err := waitHealthy(ctx, health, 90*time.Second); err != nil {
		return nil, err
	}
	return e, nil
}

// waitHealthy polls each process's /healthz URL until it answers 200, failing at once (errExited)
// when a process exits first.
func waitHealthy(ctx context.Context, health map[*Process]string, timeout time.Duration) error {
	// The components serve /healthz over TLS with self-signed certificates, kwok over plain HTTP;
	// all on 127.0.0.1, and /healthz needs no credentials.
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for p, url := range health {
		err := Poll(ctx, 100*time.Millisecond, p.Name+" /healthz", func() (bool, error) {
			if p.exited() {
				return true, nil // reported below
			}
			resp, err := c.Get(url)
			if err != nil {
				return false, err
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		})
		if p.exited() {
			return fmt.Errorf("%s %w:\n%s", p.Name, errExited, Tail(p.Log, 30))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) startEtcdAndAPIServer(ctx context.Context, opts Options) error {
	log := opts.Log
	etcdClient, etcdPeer, apiPort := FreePort(), FreePort(), FreePort()
	e.apiPort = apiPort
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	e.etcdURL = etcdURL
	if _, err := e.run(log, "etcd", "--data-dir", filepath.Join(e.Dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", etcdPeer),
		"--listen-metrics-urls", fmt.Sprintf("http://127.0.0.1:%d", FreePort()),
		"--quota-backend-bytes", "4294967296", "--unsafe-no-fsync", "--log-level", "warn"); err != nil {
		return err
	}
	serveCert, serveKey, err := e.pki.issue("apiserver", "kube-apiserver", nil, true)
	if err != nil {
		return err
	}
	saKey, err := e.pki.serviceAccountKey()
	if err != nil {
		return err
	}
	var extra []string
	if !opts.ControllerManager {
		// Nothing creates default ServiceAccounts without the controller-manager.
		extra = append(extra, "--disable-admission-plugins=ServiceAccount")
	}
	if _, err := e.run(log, "kube-apiserver", append(append(extra,
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(apiPort),
		"--tls-cert-file", serveCert, "--tls-private-key-file", serveKey,
		"--client-ca-file", e.pki.path("ca.crt"),
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saKey, "--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--authorization-mode", "Node,RBAC",
		"--endpoint-reconciler-type", "none",
		"--allow-privileged",
		"--profiling=false",
		// Nodes are fake; nothing may be dialled through them (see package doc).
		"--kubelet-preferred-address-types", "InternalIP",
	), opts.APIServerFlags...)...); err != nil {
		return err
	}
	if e.Kubeconfig, err = e.WriteKubeconfig("admin", "admin", "system:masters"); err != nil {
		return err
	}
	if e.Config, err = clientcmd.BuildConfigFromFlags("", e.Kubeconfig); err != nil {
		return err
	}
	e.Config.QPS, e.Config.Burst = 200, 400
	if e.Client, err = kubernetes.NewForConfig(e.Config); err != nil {
		return err
	}
	return e.waitReady(ctx, 90*time.Second)
}

func (e *Env) waitReady(ctx context.Context, timeout time.Duration) error {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var dead *Process
	err := Poll(tctx, 200*time.Millisecond, "kube-apiserver /readyz", func() (bool, error) {
		for _, p := range e.Procs {
			if p.exited() {
				dead = p
				return true, nil // reported below
			}
		}
		body, err := e.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(tctx)
		if err != nil || strings.TrimSpace(string(body)) != "ok" {
			return false, err
		}
		// The bootstrap RBAC roles arrive a moment after /readyz on a fresh etcd.
		_, err = e.Client.RbacV1().ClusterRoles().Get(tctx, "view", getOpts)
		return err == nil, err
	})
	switch {
	case dead != nil:
		return fmt.Errorf("%s %w:\n%s", dead.Name, errExited, Tail(dead.Log, 30))
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("kube-apiserver not ready after %s (%v):\n%s", timeout, err, Tail(filepath.Join(e.Dir, "kube-apiserver.log"), 30))
	}
	return nil
}

func (e *Env) startControllerManager(log io.Writer) (*Process, string, error) {
	// With --use-service-account-credentials=false every controller acts as this identity, which the
	// bootstrap role system:kube-controller-manager does not cover: give it the masters group.
	kc, err := e.WriteKubeconfig("controller-manager", "system:kube-controller-manager", "system:masters")
	if err != nil {
		return nil, "", err
	}
	port := FreePort()
	p, err := e.run(log, "kube-controller-manager", "--kubeconfig", kc,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(port),
		"--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc,
		"--service-account-private-key-file", e.pki.path("sa.key"),
		"--root-ca-file", e.pki.path("ca.crt"),
		"--use-service-account-credentials=false",
		"--controllers", "*,-node-ipam-controller,-node-route-controller,-service-lb-controller,-cloud-node-lifecycle-controller",
		"--flex-volume-plugin-dir", filepath.Join(e.Dir, "flexvolume"),
		"--leader-elect=false", "--concurrent-deployment-syncs=10")
	return p, fmt.Sprintf("https://127.0.0.1:%d/healthz", port), err
}

func (e *Env) startScheduler(log io.Writer) (*Process, string, error) {
	kc, err := e.WriteKubeconfig("scheduler", "system:kube-scheduler")
	if err != nil {
		return nil, "", err
	}
	port := FreePort()
	p, err := e.run(log, "kube-scheduler", "--kubeconfig", kc,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(port),
		"--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc,
		"--leader-elect=false")
	return p, fmt.Sprintf("https://127.0.0.1:%d/healthz", port), err
}

func (e *Env) startKwok(log io.Writer) (*Process, string, error) {
	stages := filepath.Join(e.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		return nil, "", err
	}
	kc, err := e.WriteKubeconfig("kwok", "kwok", "system:masters")
	if err != nil {
		return nil, "", err
	}
	port := FreePort()
	p, err := e.run(log, "kwok", "--kubeconfig", kc, "-c", stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-lease-duration-seconds=40",
		// Loopback only: kwok's default pod range 10.0.0.0/24 would be dialled by the apiserver.
		"--node-ip=127.0.0.1", "--cidr=127.244.0.0/16",
		"--node-port=0",
		"--server-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--enable-crds=")
	return p, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), err
}

// Server is the apiserver URL.
func (e *Env) Server() string { return fmt.Sprintf("https://127.0.0.1:%d", e.apiPort) }

// Stop ends every process in reverse start order and removes a temporary Dir.
func (e *Env) Stop() {
	for i := len(e.Procs) - 1; i >= 0; i-- {
		e.Procs[i].Stop(5 * time.Second)
	}
	e.Procs = nil
	if e.ownDir && os.Getenv("KARPCTL_KEEP_HARNESS") == "" {
		_ = os.RemoveAll(e.Dir)
	}
}

var getOpts = metav1.GetOptions{}

//go:embed kwok-stages.yaml
var kwokStages []byte
