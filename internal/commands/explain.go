package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/load"
	"github.com/karpctl/karpctl/internal/explain"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/view"
)

func init() { register(newExplainCmd) }

const explainLong = `Explain why Karpenter places a pod where it does, or nowhere, and what would change it.

For the pod, explain shows the outcome plan computes for it in the same snapshot (all pending pods):
an existing node, a new NodeClaim (NodePool, cheapest instance type, $/h; shared with other pending
pods or not) or nowhere, with Karpenter's reason. Then every NodePool in Karpenter's order (weight,
then name) with its verdict: LAUNCHES (it takes the pod), COULD LAUNCH (another NodePool comes
first), BLOCKED, SKIPPED (Karpenter does not provision with it) or NOT NEEDED (a node takes the pod).

For a blocked NodePool, every constraint that blocks it, in plain words with the numbers, and the
smallest change that lifts it. Reason kinds: Taint, Requirement, Limit, Resources, Offering,
MinValues, NodeClass, Volume, Topology, Affinity, HostPort. None is guessed: each is confirmed by
running Karpenter's scheduler (the bundled sigs.k8s.io/karpenter, as plan does) again for the pod
alone on that NodePool with the constraint relaxed — no limit, the taint tolerated, the requirement
widened, no requests — and seeing the pod schedule, while keeping it blocks the pod. The change is
sized by the NodeClaim Karpenter then created: a limit is raised to the NodePool's usage plus the
capacity of the instance type that takes the pod.

For the NodePool that launches, the instance types that can take the pod, cheapest first, and how
many were removed by requirements, missing offerings, size and limits (Karpenter's predicates).

TARGET is pod NAME, deployment NAME, statefulset NAME or job NAME (namespace -n, default
"default"), or node NAME / nodeclaim NAME (see below). A workload is explained through one of its pods (a pending one first) or, when it has
none, a pod of its template. With -f FILE and no TARGET, the first pending pod of the files is
explained; -f adds the files' objects on top of the cluster (with --offline: the files alone), as
in plan.

explain node NAME (or nodeclaim NAME) explains a node Karpenter launched: the NodeClaim's
requirements as Karpenter wrote them, where its instance type ranks among the types they allow
(cheapest launchable offering first: Karpenter's on-demand launch takes the cheapest), the pods on it
with their requests against its allocatable, and what Karpenter's disruption methods decide for it
now (disrupt's answer: delete or replace by which method, or why it stays). It reads what disrupt
reads.

Karpenter's settings are plan's: the cluster's Karpenter Deployment (or one in the -f files), then
--karpenter-setting NAME=VALUE, parsed by Karpenter's own option parsers; every run uses them.

API cost (live): plan's paginated LISTs and GETs, plus one GET of the workload. Nothing is written.

Exit codes: 0 the pod runs or would be placed; 3 it stays pending; 2 bad input (unknown pod or
workload: the namespace searched is named); 1 API error.`

const explainExample = `  # Why is this pod pending, and what would let a NodePool take it?
  kubectl karpctl explain pod web-7d9f -n shop

  # One pod of a Deployment (or of its template when none exists)
  kubectl karpctl explain deployment web -n shop

  # Would this manifest schedule, and on what? (on top of the cluster, or offline)
  kubectl karpctl explain -f big-job.yaml
  kubectl karpctl explain --offline -f nodepools.yaml -f big-job.yaml -o json

  # Why is this node the type it is, what fills it, and will Karpenter disrupt it?
  kubectl karpctl explain node ip-10-0-1-5.ec2.internal`

// ExplainOptions are explain's flags and arguments.
type ExplainOptions struct {
	env    *Env
	Format output.Format
	snapshotSource
	catalogFlags

	kind, name, namespace string
}

func newExplainCmd(env *Env) *cobra.Command {
	o := &ExplainOptions{env: env}
	cmd := &cobra.Command{
		Use:     "explain [pod|deployment|statefulset|job|node|nodeclaim NAME] [-f FILE]",
		Short:   "Why Karpenter places a pod where it does, or nowhere, and the smallest change per NodePool",
		Long:    explainLong,
		Example: explainExample,
		Args:    cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(args, cmd.Flags().Changed); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	output.AddFormatFlag(f, &o.Format, output.TableFormat, output.Wide, output.JSON, output.YAML)
	o.addFlags(f, "Explain")
	o.addCatalogFlags(f)
	return cmd
}

// explainKinds maps what a user may type to the kind explained.
var explainKinds = map[string]string{
	"pod": "Pod", "pods": "Pod", "po": "Pod",
	"deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
	"statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
	"job": "Job", "jobs": "Job",
	"node": "Node", "nodes": "Node", "no": "Node",
	"nodeclaim": "NodeClaim", "nodeclaims": "NodeClaim",
}

// Validate checks the arguments and flags; nothing has been sent to the cluster yet.
func (o *ExplainOptions) Validate(args []string, changed func(string) bool) error {
	switch {
	case len(args) == 0 && len(o.Files) == 0:
		return cli.UsageError("explain needs a TARGET (pod|deployment|statefulset|job NAME) or -f FILE")
	case len(args) == 1:
		kind, name, ok := strings.Cut(args[0], "/")
		if !ok {
			return cli.UsageError("explain %s: give the kind and the name, e.g. pod %s", args[0], args[0])
		}
		args = []string{kind, name}
	}
	if len(args) == 2 {
		kind, ok := explainKinds[strings.ToLower(args[0])]
		if !ok {
			return cli.UsageError("explain %s: unknown kind; use pod, deployment, statefulset, job, node or nodeclaim", args[0])
		}
		o.kind, o.name = kind, args[1]
	}
	o.namespace = o.env.Globals.Namespace()
	if o.namespace == "" {
		o.namespace = "default"
	}
	if err := o.validate(); err != nil {
		return err
	}
	return o.validateCatalog(changed)
}

// Run reads the snapshot, finds the pod, explains it and prints; exit 3 when it stays pending.
func (o *ExplainOptions) Run(ctx context.Context) error {
	if o.kind == "Node" || o.kind == "NodeClaim" {
		return o.runNode(ctx)
	}
	read, err := o.read(ctx, o.env, load.Options{}, load.ClusterOptions{})
	if err != nil {
		return err
	}
	ns, name, err := o.target(ctx, read)
	if err != nil {
		return err
	}
	var e *explain.PodExplanation
	err = withProgress(o.env, fmt.Sprintf("explaining %s/%s with Karpenter %s's scheduler…", ns, name, cli.EngineVersion()), func() error {
		src, err := o.source(read.Snapshot)
		if err != nil {
			return err
		}
		e, err = explain.Pod(ctx, read.Snapshot, ns, name, engine.Options{InstanceTypes: src})
		if errors.Is(err, explain.ErrPodNotFound) {
			return cli.UsageError("%v: Karpenter does not provision for it (a DaemonSet, static or finished pod)", err)
		}
		return inputError(err)
	})
	if err != nil {
		return o.engineVerdict(err)
	}
	e.Warnings = read.withSkew(e.Warnings)
	report := explain.Report{Header: o.header(read), PodExplanation: e}
	if err := o.env.print(o.Format, report, func(w io.Writer, s output.Styles, wide bool) error { return view.Explain(w, s, report, wide) }); err != nil {
		return err
	}
	if !e.Placed() {
		return cli.Unhealthy("explain: %s stays pending", e.Pod)
	}
	return nil
}

// header is what every explain report says first.
func (o *ExplainOptions) header(read *readSnapshot) explain.Header {
	return explain.Header{Mode: read.mode, Engine: cli.Engine(), EngineVersion: cli.EngineVersion(), KarpenterVersion: read.KarpenterVersion,
		Files: o.Files, KarpenterSettings: read.Snapshot.Karpenter}
}

// runNode explains a node or NodeClaim with what disrupt reads.
func (o *ExplainOptions) runNode(ctx context.Context) error {
	read, err := o.read(ctx, o.env, load.Options{}, load.ClusterOptions{Disruption: true})
	if err != nil {
		return err
	}
	var e *explain.NodeExplanation
	err = withProgress(o.env, fmt.Sprintf("explaining %s %s with Karpenter %s's disruption methods…", strings.ToLower(o.kind), o.name, cli.EngineVersion()), func() error {
		src, err := o.source(read.Snapshot)
		if err != nil {
			return err
		}
		e, err = explain.Node(ctx, read.Snapshot, src, o.name, o.kind == "NodeClaim")
		if errors.Is(err, explain.ErrNodeNotFound) {
			return cli.UsageError("%s %s not found (nodes and NodeClaims are cluster-wide; kubectl get %ss lists them)", strings.ToLower(o.kind), o.name, strings.ToLower(o.kind))
		}
		if errors.Is(err, explain.ErrNotKarpenterNode) {
			return cli.UsageError("%v", err)
		}
		return inputError(err)
	})
	if err != nil {
		return o.engineVerdict(err)
	}
	e.Warnings = read.withSkew(e.Warnings)
	report := explain.NodeReport{Header: o.header(read), NodeExplanation: e}
	return o.env.print(o.Format, report, func(w io.Writer, s output.Styles, wide bool) error { return view.ExplainNode(w, s, report, wide) })
}

// target is the pod to explain: the one named, one of the workload's, or the files' first pending
// pod. A workload without pods gets a pod of its template added to the snapshot's pending pods.
func (o *ExplainOptions) target(ctx context.Context, read *readSnapshot) (string, string, error) {
	snap := read.Snapshot
	switch o.kind {
	case "":
		if len(snap.PendingPods) == 0 {
			return "", "", cli.UsageError("%s: no pending pod in the files to explain; name one with pod NAME", strings.Join(o.Files, ", "))
		}
		return o.firstFilePod(snap)
	case "Pod":
		if findPod(snap, o.namespace, o.name) == nil {
			return "", "", cli.UsageError("pod %s not found in namespace %s (pending or running; -n NAMESPACE searches another)", o.name, o.namespace)
		}
		return o.namespace, o.name, nil
	}
	sel, tpl, err := o.workload(ctx, read)
	if err != nil {
		return "", "", err
	}
	if p := workloadPod(snap, o.namespace, o.kind, o.name, sel); p != nil {
		return p.Namespace, p.Name, nil
	}
	if tpl == nil {
		return "", "", cli.UsageError("%s %s not found in namespace %s", strings.ToLower(o.kind), o.name, o.namespace)
	}
	p := load.TemplatePod(o.kind, o.namespace, o.name, tpl)
	snap.PendingPods = append(snap.PendingPods, p)
	return p.Namespace, p.Name, nil
}

// firstFilePod is the first pending pod that came from the files: the files are read alone once
// more to tell their pods from the cluster's.
func (o *ExplainOptions) firstFilePod(snap *engine.Snapshot) (string, string, error) {
	files, err := o.readFiles(o.env, load.Options{})
	if err != nil {
		return "", "", err
	}
	if len(files.PendingPods) == 0 {
		return "", "", cli.UsageError("%s: no pod or workload in the files to explain; name one with pod NAME", strings.Join(o.Files, ", "))
	}
	p := files.PendingPods[0]
	return p.Namespace, p.Name, nil
}

// workload GETs the workload (live) for its selector and template; offline it has neither and
// its replicas are found by owner.
func (o *ExplainOptions) workload(ctx context.Context, read *readSnapshot) (labels.Selector, *corev1.PodTemplateSpec, error) {
	if read.kube == nil {
		return nil, nil, nil
	}
	var sel *metav1.LabelSelector
	var tpl *corev1.PodTemplateSpec
	var err error
	switch o.kind {
	case "Deployment":
		d, e := read.kube.AppsV1().Deployments(o.namespace).Get(ctx, o.name, metav1.GetOptions{})
		if err = e; e == nil {
			sel, tpl = d.Spec.Selector, &d.Spec.Template
		}
	case "StatefulSet":
		s, e := read.kube.AppsV1().StatefulSets(o.namespace).Get(ctx, o.name, metav1.GetOptions{})
		if err = e; e == nil {
			sel, tpl = s.Spec.Selector, &s.Spec.Template
		}
	case "Job":
		j, e := read.kube.BatchV1().Jobs(o.namespace).Get(ctx, o.name, metav1.GetOptions{})
		if err = e; e == nil {
			sel, tpl = j.Spec.Selector, &j.Spec.Template
		}
	}
	if err != nil {
		if isNotFound(err) {
			return nil, nil, cli.UsageError("%s %s not found in namespace %s", strings.ToLower(o.kind), o.name, o.namespace)
		}
		return nil, nil, fmt.Errorf("reading %s %s/%s: %w", strings.ToLower(o.kind), o.namespace, o.name, err)
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, nil, cli.UsageError("%s %s/%s: selector: %v", strings.ToLower(o.kind), o.namespace, o.name, err)
	}
	return s, tpl, nil
}

func findPod(snap *engine.Snapshot, ns, name string) *corev1.Pod {
	for _, ps := range [][]*corev1.Pod{snap.PendingPods, snap.Pods} {
		for _, p := range ps {
			if p.Namespace == ns && p.Name == name {
				return p
			}
		}
	}
	return nil
}

// workloadPod is one of the workload's pods, a pending one first: matched by the selector (live) or
// by the owner the loader gives a workload's replicas (files).
func workloadPod(snap *engine.Snapshot, ns, kind, name string, sel labels.Selector) *corev1.Pod {
	owned := func(p *corev1.Pod) bool {
		if p.Namespace != ns {
			return false
		}
		if sel != nil && !sel.Empty() {
			return sel.Matches(labels.Set(p.Labels))
		}
		for _, ref := range p.OwnerReferences {
			if ref.Name == name && (ref.Kind == kind || (kind == "Deployment" && ref.Kind == "ReplicaSet")) {
				return true
			}
		}
		return false
	}
	for _, ps := range [][]*corev1.Pod{snap.PendingPods, snap.Pods} {
		for _, p := range ps {
			if owned(p) {
				return p
			}
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var status interface{ Status() metav1.Status }
	return errors.As(err, &status) && status.Status().Reason == metav1.StatusReasonNotFound
}
