// Command sandbox runs karpctl's local sandbox: a real control plane on loopback with the real Karpenter
// v1.15.0 controller (kwok build, 2 replicas, real leader election). See docs/sandbox.md.
//
//	go run ./hack/sandbox up        # start in the background (idempotent), wait until ready
//	go run ./hack/sandbox status    # what runs, who leads (exit 3 when down)
//	go run ./hack/sandbox down      # stop exactly the processes `up` started
//	go run ./hack/sandbox run       # foreground; Ctrl-C stops it
//	go run ./hack/sandbox env       # export KUBECONFIG=… KUBECACHEDIR=…
//	go run ./hack/sandbox workload [-replicas 5 -cpu 2]   # a Deployment Karpenter must provision for
//	go run ./hack/sandbox nodeclaims [-wait]              # Karpenter's NodeClaims (-wait: until provisioned)
//
// State lives in .sandbox/ (gitignored): supervisor.pid, state.json (every PID started, with its
// start time so a reused PID is never signalled), supervisor.log, and cluster/ (certs, etcd, logs).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
)

const usage = `usage: sandbox [-dir DIR] up|down|status|run|env|workload|nodeclaims [flags]

  up          start the sandbox in the background (idempotent) and wait until Karpenter leads
  down        stop exactly the processes up started
  status      report components, Karpenter replicas, the leader and NodeClaims (exit 3 when down)
  run         run in the foreground until Ctrl-C
  env         print the export line for KUBECONFIG and KUBECACHEDIR
  workload    create a Deployment whose pods only Karpenter-launched nodes can take
  nodeclaims  list Karpenter's NodeClaims; -wait waits until no pod is pending and all are Ready
`

func main() {
	fs := flag.NewFlagSet("sandbox", flag.ExitOnError)
	dir := fs.String("dir", defaultDir(), "state folder")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() == 0 {
		fs.Usage()
		os.Exit(2)
	}
	d, err := filepath.Abs(*dir)
	if err != nil {
		fatal(err)
	}
	cli := &cli{dir: d}
	args := fs.Args()[1:]
	var code int
	switch fs.Arg(0) {
	case "up":
		code = cli.up(args)
	case "down":
		code = cli.down()
	case "status":
		code = cli.status()
	case "run", "serve":
		code = cli.serve(fs.Arg(0) == "serve", args)
	case "env":
		code = cli.env()
	case "workload":
		code = cli.workload(args)
	case "nodeclaims":
		code = cli.nodeclaims(args)
	default:
		fs.Usage()
		code = 2
	}
	os.Exit(code)
}

func defaultDir() string {
	if d := os.Getenv("KARPCTL_SANDBOX_DIR"); d != "" {
		return d
	}
	return filepath.Join(harness.RepoRoot(), ".sandbox")
}

type cli struct{ dir string }

// State is .sandbox/state.json, written by the supervisor.
type State struct {
	SupervisorPID  int       `json:"supervisorPID"`
	Ready          bool      `json:"ready"`
	Error          string    `json:"error,omitempty"`
	Server         string    `json:"server,omitempty"`
	Kubeconfig     string    `json:"kubeconfig,omitempty"`
	KubeCacheDir   string    `json:"kubeCacheDir,omitempty"`
	Namespace      string    `json:"namespace,omitempty"`
	Isolation      string    `json:"isolation,omitempty"`
	StartupSeconds float64   `json:"startupSeconds,omitempty"`
	Procs          []Proc    `json:"processes"`
	Updated        time.Time `json:"updated"`
}

// Proc is one process the supervisor started. StartTicks (from /proc/PID/stat) tells it apart from a
// later process that reuses the PID.
type Proc struct {
	Name       string `json:"name"`
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"startTicks"`
}

func (c *cli) path(name string) string { return filepath.Join(c.dir, name) }

func (c *cli) readState() (*State, error) {
	b, err := os.ReadFile(c.path("state.json"))
	if err != nil {
		return nil, err
	}
	s := &State{}
	return s, json.Unmarshal(b, s)
}

func (c *cli) writeState(s *State) {
	s.Updated = time.Now()
	b, _ := json.MarshalIndent(s, "", "  ")
	tmp := c.path("state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		_ = os.Rename(tmp, c.path("state.json"))
	}
}

// writeSupervisorPID records pid, with its start time, as the supervisor's: "PID TICKS".
func (c *cli) writeSupervisorPID(pid int) {
	_ = os.WriteFile(c.path("supervisor.pid"), fmt.Appendf(nil, "%d %d\n", pid, startTicks(pid)), 0o644)
}

// supervisor returns the recorded supervisor PID if that process is still the one up started.
func (c *cli) supervisor() (Proc, bool) {
	b, err := os.ReadFile(c.path("supervisor.pid"))
	if err != nil {
		return Proc{}, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return Proc{}, false
	}
	sup := Proc{Name: "supervisor"}
	sup.PID, _ = strconv.Atoi(f[0])
	sup.StartTicks, _ = strconv.ParseUint(f[1], 10, 64)
	return sup, sup.PID > 0 && alive(sup)
}

func (c *cli) envLine(s *State) string {
	return fmt.Sprintf("export KUBECONFIG=%s KUBECACHEDIR=%s", s.Kubeconfig, s.KubeCacheDir)
}

func (c *cli) up(args []string) int {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	karpEnv := fs.String("karpenter-env", "", "extra env for the Karpenter Deployment and processes, K=V[,K=V]")
	_ = fs.Parse(args)
	if _, err := parseEnv(*karpEnv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		fatal(err)
	}
	if _, ok := c.supervisor(); ok {
		if s, err := c.readState(); err == nil && s.Ready {
			fmt.Printf("sandbox already up: %s (state in %s)\n%s\n", s.Server, c.dir, c.envLine(s))
			return 0
		}
		fmt.Fprintln(os.Stderr, "sandbox: another `up` is starting it; waiting")
		return c.waitUp(nil, *timeout)
	}
	c.cleanupStale()
	self, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	logf, err := os.Create(c.path("supervisor.log"))
	if err != nil {
		fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(self, "-dir", c.dir, "serve", "-karpenter-env", *karpEnv)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: the supervisor outlives this command and a terminal's Ctrl-C.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	c.writeSupervisorPID(cmd.Process.Pid)
	fmt.Fprintf(os.Stderr, "sandbox: starting (supervisor pid %d, log %s)\n", cmd.Process.Pid, c.path("supervisor.log"))
	return c.waitUp(cmd, *timeout)
}

// waitUp waits for the supervisor to report ready or failed; Ctrl-C stops it.
func (c *cli) waitUp(cmd *exec.Cmd, timeout time.Duration) int {
	exited := make(chan struct{})
	if cmd != nil {
		go func() { _ = cmd.Wait(); close(exited) }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	deadline := time.After(timeout)
	for {
		if s, err := c.readState(); err == nil {
			switch {
			case s.Ready:
				fmt.Printf("sandbox up in %.1fs: %s, Karpenter %s in namespace %s (hostname isolation: %s)\n%s\n",
					s.StartupSeconds, s.Server, sandbox.KarpenterVersion(), s.Namespace, s.Isolation, c.envLine(s))
				if s.Isolation == string(sandbox.NoIsolation) {
					fmt.Fprintln(os.Stderr, "sandbox: WARNING: not root and no user namespaces: every Karpenter process has this machine's hostname, so the lease holder identity names no pod (run as root for pod-named holders)")
				}
				return 0
			case s.Error != "":
				fmt.Fprintf(os.Stderr, "sandbox: start failed: %s\n", s.Error)
				if cmd != nil {
					<-exited
				}
				return 1
			}
		}
		select {
		case <-exited:
			fmt.Fprintf(os.Stderr, "sandbox: supervisor exited during start-up; last lines of %s:\n%s\n", c.path("supervisor.log"), harness.Tail(c.path("supervisor.log"), 40))
			c.cleanupStale()
			return 1
		case <-deadline:
			fmt.Fprintf(os.Stderr, "sandbox: not ready after %s; last lines of %s:\n%s\n", timeout, c.path("supervisor.log"), harness.Tail(c.path("supervisor.log"), 40))
			c.down()
			return 1
		case <-sig:
			fmt.Fprintln(os.Stderr, "sandbox: interrupted; stopping")
			c.down()
			return 130
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// serve is the supervisor: start the sandbox, record every PID, stop everything on SIGTERM/SIGINT.
func (c *cli) serve(background bool, args []string) int {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	karpEnv := fs.String("karpenter-env", "", "extra env for the Karpenter Deployment and processes, K=V[,K=V]")
	_ = fs.Parse(args)
	extraEnv, err := parseEnv(*karpEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		fatal(err)
	}
	if !background {
		if _, ok := c.supervisor(); ok {
			fmt.Fprintln(os.Stderr, "sandbox: already running; `down` first")
			return 1
		}
		c.cleanupStale()
		c.writeSupervisorPID(os.Getpid())
	}
	defer os.Remove(c.path("supervisor.pid"))
	clusterDir := c.path("cluster")
	_ = os.RemoveAll(clusterDir) // a sandbox is disposable: every up starts from an empty etcd
	kubeCache := c.path("kubecache")
	_ = os.Setenv("KUBECACHEDIR", kubeCache)
	st := &State{SupervisorPID: os.Getpid(), KubeCacheDir: kubeCache}
	c.writeState(st)
	// Components log to cluster/NAME.log; this process logs the runner's events.
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: clusterDir, KarpenterEnv: extraEnv})
	if err != nil {
		st.Error = err.Error()
		c.writeState(st)
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		return 1
	}
	defer func() {
		sb.Stop()
		_ = os.Remove(c.path("state.json"))
		fmt.Fprintln(os.Stderr, "sandbox: stopped")
	}()
	st.Ready, st.Server, st.Kubeconfig, st.Namespace = true, sb.Env.Server(), sb.Kubeconfig(), sb.Namespace
	st.Isolation, st.StartupSeconds = string(sb.Runner.Isolation()), sb.StartupTime.Seconds()
	changed := make(chan struct{}, 1)
	logEvent := func(e sandbox.Event) {
		fmt.Fprintf(os.Stderr, "%s runner: %s %s pid %d %s\n", e.Time.Format("15:04:05.000"), e.Kind, e.Pod, e.PID, e.Detail)
	}
	for _, e := range sb.Runner.Events() {
		logEvent(e)
	}
	sb.Runner.OnEvent(func(e sandbox.Event) {
		logEvent(e)
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	record := func() {
		st.Procs = st.Procs[:0]
		for _, p := range sb.Env.Procs {
			st.Procs = append(st.Procs, Proc{Name: p.Name, PID: p.Cmd.Process.Pid, StartTicks: startTicks(p.Cmd.Process.Pid)})
		}
		for _, p := range sb.Runner.Processes() {
			st.Procs = append(st.Procs, Proc{Name: "karpenter/" + p.Pod, PID: p.PID, StartTicks: startTicks(p.PID)})
		}
		c.writeState(st)
	}
	record()
	fmt.Fprintf(os.Stderr, "sandbox: ready in %s\n", sb.StartupTime.Round(100*time.Millisecond))
	if !background {
		fmt.Printf("%s\nCtrl-C stops the sandbox.\n", c.envLine(st))
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(os.Stderr, "sandbox: stopping")
			return 0
		case <-changed:
			record()
		}
	}
}

// down stops the supervisor (which stops its children in order), then any recorded process that is
// somehow still alive — never a process it did not start (PID and start time must both match).
func (c *cli) down() int {
	st, _ := c.readState()
	sup, ok := c.supervisor()
	if !ok && st == nil {
		fmt.Println("sandbox is not running")
		return 0
	}
	if ok {
		_ = syscall.Kill(sup.PID, syscall.SIGTERM)
		// The recorded start time, not the PID's current one: a reused PID is not the supervisor.
		for i := 0; i < 400 && alive(sup); i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	leftovers := c.killRecorded(st)
	n := 0
	if st != nil {
		n = len(st.Procs)
	}
	fmt.Printf("sandbox down: supervisor %d and %d processes stopped", sup.PID, n)
	if len(leftovers) > 0 {
		fmt.Printf("; killed leftovers: %s", strings.Join(leftovers, ", "))
	}
	fmt.Printf(" (logs kept in %s)\n", c.path("cluster"))
	return 0
}

// cleanupStale removes what a supervisor that died without cleaning up left behind.
func (c *cli) cleanupStale() {
	st, err := c.readState()
	if err != nil {
		st = nil
	}
	c.killRecorded(st)
}

// killRecorded SIGKILLs every process st records that is still the one the supervisor started, removes
// the state and PID files, and returns the killed processes as "NAME (PID)".
func (c *cli) killRecorded(st *State) []string {
	var killed []string
	if st != nil {
		for _, p := range st.Procs {
			if alive(p) {
				_ = syscall.Kill(p.PID, syscall.SIGKILL)
				killed = append(killed, fmt.Sprintf("%s (%d)", p.Name, p.PID))
			}
		}
	}
	_ = os.Remove(c.path("state.json"))
	_ = os.Remove(c.path("supervisor.pid"))
	return killed
}

// connect returns the running sandbox's state and a Sandbox with clients to it (no Runner).
func (c *cli) connect() (*State, *sandbox.Sandbox, error) {
	st, err := c.readState()
	if _, ok := c.supervisor(); err != nil || !ok || !st.Ready {
		return nil, nil, errors.New("sandbox is not running (go run ./hack/sandbox up)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return st, &sandbox.Sandbox{Env: &harness.Env{Client: kc}, Dynamic: dc, Namespace: st.Namespace, LeaseName: discovery.DefaultLeaseName}, nil
}

func (c *cli) status() int {
	st, sb, err := c.connect()
	if err != nil {
		fmt.Println(err)
		return 3
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Printf("sandbox up since %s: %s (supervisor pid %d, state %s)\n%s\n\n", st.Updated.Format(time.TimeOnly), st.Server, st.SupervisorPID, c.dir, c.envLine(st))
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROCESS\tPID\tRSS")
	var total int64
	for _, p := range st.Procs {
		rss := sandbox.RSS(p.PID)
		total += rss
		fmt.Fprintf(w, "%s\t%d\t%d MB\n", p.Name, p.PID, rss>>20)
	}
	fmt.Fprintf(w, "total\t\t%d MB\n", total>>20)
	_ = w.Flush()
	fmt.Println()
	if l, err := sb.Lease(ctx); err == nil && l.Spec.HolderIdentity != nil {
		renew := ""
		if l.Spec.RenewTime != nil {
			renew = fmt.Sprintf(", renewed %s ago", time.Since(l.Spec.RenewTime.Time).Round(100*time.Millisecond))
		}
		fmt.Printf("lease %s/%s: holder %s%s\n", st.Namespace, discovery.DefaultLeaseName, *l.Spec.HolderIdentity, renew)
	} else {
		fmt.Printf("lease %s/%s: %v\n", st.Namespace, discovery.DefaultLeaseName, err)
	}
	if pods, err := sb.KarpenterPods(ctx); err == nil {
		for _, p := range pods {
			fmt.Printf("  pod %s on %s: %s\n", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}
	nodes, err := sb.Env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err == nil {
		fmt.Printf("nodes: %d\n", len(nodes.Items))
	}
	if ncs, err := sb.NodeClaims(ctx); err == nil {
		fmt.Printf("nodeclaims: %d\n", len(ncs))
	}
	return 0
}

func (c *cli) env() int {
	st, _, err := c.connect()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	fmt.Println(c.envLine(st))
	return 0
}

func (c *cli) workload(args []string) int {
	fs := flag.NewFlagSet("workload", flag.ExitOnError)
	var w sandbox.Workload
	fs.StringVar(&w.Namespace, "namespace", "default", "namespace")
	fs.StringVar(&w.Name, "name", "inflate", "Deployment name")
	replicas := fs.Int("replicas", 5, "replicas")
	fs.StringVar(&w.CPU, "cpu", "2", "CPU request per pod")
	fs.StringVar(&w.Memory, "memory", "1Gi", "memory request per pod")
	_ = fs.Parse(args)
	w.Replicas = int32(*replicas)
	_, sb, err := c.connect()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	d, err := sb.CreateWorkload(context.Background(), w)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("deployment %s/%s: %d × (%s CPU, %s memory), tolerates nothing: only nodes Karpenter launches can take it\n",
		d.Namespace, d.Name, *d.Spec.Replicas, w.CPU, w.Memory)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := sb.WaitForUnschedulable(ctx, d)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%d pods pending: the scheduler marked them Unschedulable\n", n)
	return 0
}

func (c *cli) nodeclaims(args []string) int {
	fs := flag.NewFlagSet("nodeclaims", flag.ExitOnError)
	wait := fs.Bool("wait", false, "wait until no pod in -namespace is pending and every NodeClaim is Ready")
	ns := fs.String("namespace", "default", "with -wait: the workload's namespace")
	timeout := fs.Duration("timeout", 3*time.Minute, "with -wait: give up after this long")
	asJSON := fs.Bool("json", false, "print JSON")
	_ = fs.Parse(args)
	_, sb, err := c.connect()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	t0 := time.Now()
	var ncs []sandbox.NodeClaim
	if *wait {
		ncs, err = sb.WaitForProvisioned(ctx, *ns)
	} else {
		ncs, err = sb.NodeClaims(ctx)
	}
	if *asJSON {
		b, _ := json.MarshalIndent(ncs, "", "  ")
		fmt.Println(string(b))
	} else {
		if *wait && err == nil {
			fmt.Printf("every pod scheduled; %d NodeClaims Ready after %s\n", len(ncs), time.Since(t0).Round(100*time.Millisecond))
		}
		printNodeClaims(os.Stdout, ncs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func printNodeClaims(out io.Writer, ncs []sandbox.NodeClaim) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tNODEPOOL\tTYPE\tCAPACITY\tZONE\tNODE\tREADY")
	for _, nc := range ncs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", nc.Name, nc.NodePool, nc.InstanceType, nc.CapacityType, nc.Zone, nc.Node, nc.Ready)
	}
	_ = w.Flush()
	byType := map[string]int{}
	for _, nc := range ncs {
		byType[nc.InstanceType+" "+nc.CapacityType+" "+nc.Zone]++
	}
	keys := make([]string, 0, len(byType))
	for k := range byType {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "  %d × %s\n", byType[k], k)
	}
}

func parseEnv(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-karpenter-env: %q is not K=V", kv)
		}
		out[k] = v
	}
	return out, nil
}

// procStat reads /proc/PID/stat: the start time since boot (field 22; 0 if the process is gone) and
// whether the process is a zombie (state Z, field 3).
func procStat(pid int) (ticks uint64, zombie bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // fields after ")" start at 3
	if len(f) < 20 {
		return 0, false
	}
	ticks, _ = strconv.ParseUint(f[19], 10, 64)
	return ticks, f[0] == "Z"
}

// startTicks is the process's start time since boot, 0 if it is gone.
func startTicks(pid int) uint64 {
	t, _ := procStat(pid)
	return t
}

// alive reports whether p still runs as the same process (a zombie does not count).
func alive(p Proc) bool {
	t, zombie := procStat(p.PID)
	return t != 0 && t == p.StartTicks && !zombie
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
	os.Exit(1)
}
