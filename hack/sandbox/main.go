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
//
// supervisor.go holds the subcommands that own the sandbox's processes (up, run, down), client.go
// those that only talk to a running one (status, env, workload, nodeclaims), state.go what they share
// on disk.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/karpctl/karpctl/internal/harness"
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

// cli runs one subcommand against the state folder dir.
type cli struct{ dir string }

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

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
	os.Exit(1)
}
