package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
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

// status prints the state, every recorded process's memory, the lease holder, pods and NodeClaims.
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

// env prints the export line of the running sandbox.
func (c *cli) env() int {
	st, _, err := c.connect()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	fmt.Println(c.envLine(st))
	return 0
}

// workload creates a Deployment only nodes Karpenter launches can take, and waits until its pods
// are marked Unschedulable.
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

// nodeclaims lists Karpenter's NodeClaims, with -wait once every pending pod is scheduled.
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
