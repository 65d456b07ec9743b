package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
)

// up starts the supervisor (serve) in a session of its own unless one runs, and waits until it is
// ready.
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
