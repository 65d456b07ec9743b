package sandbox

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/harness"
)

// Isolation is how a Karpenter process gets the pod's name as its hostname (Karpenter's lease holder
// identity is os.Hostname()_uuid, so this is what makes the holder map to a pod).
type Isolation string

const (
	// UTSNamespace: root; the process runs in its own UTS namespace (what `unshare --uts` does).
	UTSNamespace Isolation = "uts-namespace"
	// UserUTSNamespace: not root, but unprivileged user namespaces work (`unshare --user --map-root-user --uts`).
	UserUTSNamespace Isolation = "user+uts-namespace"
	// NoIsolation: neither works; every process reports the machine's hostname, so the lease holder
	// identity does not name a pod and pod-based checks (lease holder → pod) cannot match.
	NoIsolation Isolation = "none"
)

// Event is something the Runner did to a Karpenter process.
type Event struct {
	Time time.Time `json:"time"`
	Pod  string    `json:"pod"`
	PID  int       `json:"pid"`
	// Kind is started, stopping (signal sent), stopped (exited after a stop), exited (on its own;
	// the Runner restarts it with back-off while the pod exists).
	Kind   string `json:"kind"`
	Detail string `json:"detail,omitempty"`
}

// Process is one karpenter-kwok process backing a pod.
type Process struct {
	Pod             string    `json:"pod"`
	UID             types.UID `json:"uid"`
	Node            string    `json:"node"`
	PID             int       `json:"pid"`
	MetricsPort     int       `json:"metricsPort"`
	HealthProbePort int       `json:"healthProbePort"`
	Started         time.Time `json:"started"`
	Log             string    `json:"log"`
	Restarts        int       `json:"restarts"`

	cmd      *exec.Cmd
	done     chan struct{}
	stopping bool
}

// Runner is the sandbox's kubelet for Karpenter pods: it watches the pods of the Karpenter Deployment
// and keeps exactly one karpenter-kwok process per Running pod on a node. A pod with a
// deletionTimestamp, or deleted, has its process stopped: SIGKILL for grace period 0, else SIGTERM and
// SIGKILL after min(grace, 30 s). Karpenter v1.15.0 installs no signal handler, so SIGTERM ends it at
// once without releasing the lease — as in a real cluster.
type Runner struct {
	env        *harness.Env
	namespace  string
	bin        string
	kubeconfig string
	isolation  Isolation
	log        io.Writer
	onEvent    func(Event)

	mu       sync.Mutex
	procs    map[types.UID]*Process
	restarts map[types.UID]int
	events   []Event
	informer cache.SharedIndexInformer
	wg       sync.WaitGroup
	closed   bool
}

func newRunner(env *harness.Env, ns string, log io.Writer) (*Runner, error) {
	bin, err := harness.Bin(KarpenterBinary)
	if err != nil {
		return nil, err
	}
	// Karpenter runs outside a pod, so it gets a kubeconfig (system:masters: the chart's RBAC is not
	// reproduced; the sandbox tests karpctl against Karpenter's behaviour, not Karpenter's RBAC).
	kc, err := env.WriteKubeconfig("karpenter", "system:serviceaccount:"+ns+":"+ServiceAccount, "system:masters")
	if err != nil {
		return nil, err
	}
	r := &Runner{
		env: env, namespace: ns, bin: bin, kubeconfig: kc, isolation: DetectIsolation(), log: log,
		procs: map[types.UID]*Process{}, restarts: map[types.UID]int{},
	}
	if r.isolation == NoIsolation {
		r.warnf("sandbox: not root and no unprivileged user namespaces: Karpenter processes keep this machine's hostname, so the lease holder identity will not name a pod")
	}
	return r, nil
}

// Isolation reports how processes get their pod's hostname.
func (r *Runner) Isolation() Isolation { return r.isolation }

// OnEvent registers f to be called (synchronously, keep it short) for every later event.
func (r *Runner) OnEvent(f func(Event)) {
	r.mu.Lock()
	r.onEvent = f
	r.mu.Unlock()
}

// Processes are the running processes, oldest first.
func (r *Runner) Processes() []Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Process, 0, len(r.procs))
	for _, p := range r.procs {
		if !p.stopping {
			out = append(out, p.snapshot())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// Process returns the running process of the named pod.
func (r *Runner) Process(pod string) (Process, bool) {
	for _, p := range r.Processes() {
		if p.Pod == pod {
			return p, true
		}
	}
	return Process{}, false
}

// Events are everything the Runner did so far, in order.
func (r *Runner) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

func (p *Process) snapshot() Process {
	return Process{Pod: p.Pod, UID: p.UID, Node: p.Node, PID: p.PID, MetricsPort: p.MetricsPort,
		HealthProbePort: p.HealthProbePort, Started: p.Started, Log: p.Log, Restarts: p.Restarts}
}

func (r *Runner) start(ctx context.Context) error {
	f := informers.NewSharedInformerFactoryWithOptions(r.env.Client, 0,
		informers.WithNamespace(r.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = discovery.DefaultSelector }))
	r.informer = f.Core().V1().Pods().Informer()
	if _, err := r.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.sync(o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { r.sync(o.(*corev1.Pod)) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				r.deleted(p)
			}
		},
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), r.informer.HasSynced) {
		return fmt.Errorf("pod runner: cache did not sync")
	}
	return nil
}

// sync starts or stops the process for one pod.
func (r *Runner) sync(pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	p := r.procs[pod.UID]
	switch {
	case pod.DeletionTimestamp != nil:
		if p != nil {
			r.stopLocked(p, gracePeriod(pod), "pod deleted")
		}
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		if p != nil {
			r.stopLocked(p, 0, "pod "+string(pod.Status.Phase))
		}
	case p == nil && pod.Spec.NodeName != "" && pod.Status.Phase == corev1.PodRunning:
		if err := r.startLocked(pod); err != nil {
			r.eventLocked(Event{Pod: pod.Name, Kind: "failed", Detail: err.Error()})
		}
	}
}

func (r *Runner) deleted(pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.procs[pod.UID]; p != nil {
		r.stopLocked(p, gracePeriod(pod), "pod deleted")
	}
	delete(r.restarts, pod.UID)
}

// gracePeriod is what a kubelet would give the container: the deletion's grace, else the pod's.
func gracePeriod(pod *corev1.Pod) time.Duration {
	g := int64(30)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.DeletionGracePeriodSeconds != nil {
		g = *pod.DeletionGracePeriodSeconds
	}
	return min(time.Duration(g)*time.Second, 30*time.Second)
}

func (r *Runner) startLocked(pod *corev1.Pod) error {
	metricsPort, healthPort := harness.FreePort(), harness.FreePort()
	for healthPort == metricsPort {
		healthPort = harness.FreePort()
	}
	env := r.processEnv(pod, metricsPort, healthPort)
	logPath := filepath.Join(r.env.Dir, "karpenter-"+pod.Name+".log")
	cmd := Command(r.isolation, pod.Name, r.bin)
	cmd.Env = env
	exited, err := harness.StartLogged(cmd, logPath, r.log)
	if err != nil {
		return fmt.Errorf("starting karpenter for pod %s: %w", pod.Name, err)
	}
	p := &Process{
		Pod: pod.Name, UID: pod.UID, Node: pod.Spec.NodeName, PID: cmd.Process.Pid,
		MetricsPort: metricsPort, HealthProbePort: healthPort, Started: time.Now(), Log: logPath,
		Restarts: r.restarts[pod.UID], cmd: cmd, done: make(chan struct{}),
	}
	r.procs[pod.UID] = p
	r.eventLocked(Event{Pod: pod.Name, PID: p.PID, Kind: "started",
		Detail: fmt.Sprintf("node %s, metrics :%d, health :%d, hostname via %s", p.Node, metricsPort, healthPort, r.isolation)})
	r.wg.Add(1)
	go r.wait(p, exited)
	return nil
}

// wait reaps p; an exit nobody asked for is a crash, restarted with back-off like a kubelet would.
func (r *Runner) wait(p *Process, exited <-chan error) {
	defer r.wg.Done()
	err := <-exited
	close(p.done)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.procs, p.UID)
	status := "exit 0"
	if err != nil {
		status = err.Error()
	}
	if p.stopping {
		r.eventLocked(Event{Pod: p.Pod, PID: p.PID, Kind: "stopped", Detail: status})
		return
	}
	r.eventLocked(Event{Pod: p.Pod, PID: p.PID, Kind: "exited", Detail: status + "; log " + p.Log})
	if r.closed {
		return
	}
	r.restarts[p.UID]++
	backoff := min(time.Duration(1<<min(r.restarts[p.UID], 6))*time.Second, time.Minute)
	uid := p.UID
	time.AfterFunc(backoff, func() {
		for _, o := range r.informer.GetStore().List() {
			if pod := o.(*corev1.Pod); pod.UID == uid {
				r.sync(pod)
			}
		}
	})
}

func (r *Runner) stopLocked(p *Process, grace time.Duration, why string) {
	if p.stopping {
		return
	}
	p.stopping = true
	sig := syscall.SIGTERM
	if grace == 0 {
		sig = syscall.SIGKILL
	}
	r.eventLocked(Event{Pod: p.Pod, PID: p.PID, Kind: "stopping", Detail: fmt.Sprintf("%s: %s (grace %s)", why, sig, grace)})
	_ = syscall.Kill(-p.PID, sig)
	if sig == syscall.SIGTERM {
		go func() {
			select {
			case <-p.done:
			case <-time.After(grace):
				_ = syscall.Kill(-p.PID, syscall.SIGKILL)
			}
		}()
	}
}

// stopAll stops every process (SIGTERM, SIGKILL after 5 s) and waits for them.
func (r *Runner) stopAll() {
	r.mu.Lock()
	r.closed = true
	for _, p := range r.procs {
		r.stopLocked(p, 5*time.Second, "sandbox stopping")
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *Runner) eventLocked(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	r.events = append(r.events, e)
	if r.onEvent != nil {
		r.onEvent(e)
	}
}

func (r *Runner) warnf(format string, args ...any) {
	w := r.log
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, format+"\n", args...)
}

// processEnv is the pod container's literal env (as the chart sets it), with what only the runner can
// know on top: the process's own ports (all processes share one network) and the kubeconfig.
func (r *Runner) processEnv(pod *corev1.Pod, metricsPort, healthPort int) []string {
	vars := map[string]string{
		"SYSTEM_NAMESPACE":          pod.Namespace,
		"LEADER_ELECTION_NAMESPACE": pod.Namespace,
	}
	if c := discovery.ControllerContainer(&pod.Spec); c != nil {
		maps.Copy(vars, discovery.LiteralEnv(c))
	}
	vars["METRICS_PORT"] = strconv.Itoa(metricsPort)
	vars["HEALTH_PROBE_PORT"] = strconv.Itoa(healthPort)
	vars["KUBECONFIG"] = r.kubeconfig
	vars["KUBECACHEDIR"] = filepath.Join(r.env.Dir, "kubecache")
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, override := vars[k]; !override && !strings.HasPrefix(k, "KUBERNETES_SERVICE") {
			env = append(env, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// Command builds the command that runs bin with hostname set to pod under isolation. The process leads
// its own process group (signals reach it and nothing else) and dies with the sandbox (Pdeathsig).
func Command(iso Isolation, pod, bin string) *exec.Cmd {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if iso == NoIsolation {
		cmd := exec.Command(bin)
		cmd.SysProcAttr = attr
		return cmd
	}
	// sh sets the namespace's hostname, then becomes karpenter-kwok (exec): one PID, one process.
	cmd := exec.Command("/bin/sh", "-c", `echo "$0" > /proc/sys/kernel/hostname && exec "$@"`, pod, bin)
	attr.Cloneflags = syscall.CLONE_NEWUTS
	if iso == UserUTSNamespace {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	cmd.SysProcAttr = attr
	return cmd
}

var (
	isolationOnce sync.Once
	isolation     Isolation
)

// DetectIsolation finds the best way to give a process its own hostname here: root → UTS namespace;
// otherwise an unprivileged user namespace if the kernel allows one; else none.
func DetectIsolation() Isolation {
	isolationOnce.Do(func() {
		for _, iso := range []Isolation{UTSNamespace, UserUTSNamespace} {
			if iso == UTSNamespace && os.Geteuid() != 0 {
				continue
			}
			cmd := Command(iso, "karpctl-probe", "/bin/cat")
			cmd.Args = append(cmd.Args, "/proc/sys/kernel/hostname")
			out, err := cmd.Output()
			if err == nil && strings.TrimSpace(string(out)) == "karpctl-probe" {
				isolation = iso
				return
			}
		}
		isolation = NoIsolation
	})
	return isolation
}

// RSS is a process's resident set size in bytes (0 if it is gone).
func RSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
