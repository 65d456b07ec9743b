// Package discovery finds the Karpenter installation every karpctl command works on: the Deployment,
// its pods' selector, and the leader-election Lease it uses. It never assumes kube-system.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Defaults from Karpenter v1.15.0 (pkg/operator/options/options.go) and its Helm chart.
const (
	DefaultSelector  = "app.kubernetes.io/name=karpenter"
	DefaultLeaseName = "karpenter-leader-election"
)

// ErrNotFound means no Karpenter Deployment matched; the message says what was searched.
var ErrNotFound = errors.New("karpenter not found")

// Options say where to look; all optional.
type Options struct {
	Namespace string // --karpenter-namespace; empty searches all namespaces
	Selector  string // --karpenter-selector
	Lease     string // --lease NAMESPACE/NAME, overrides the Deployment's settings
}

// Karpenter is what was found.
type Karpenter struct {
	// Deployment is nil when only --lease pointed karpctl at a Lease and no Deployment matched.
	Deployment *appsv1.Deployment `json:"-"`
	Namespace  string             `json:"namespace"`
	Name       string             `json:"name"`
	// PodSelector selects the Deployment's pods (its spec.selector).
	PodSelector labels.Selector `json:"-"`
	Container   string          `json:"container"`
	Image       string          `json:"image"`
	// Version is the image tag (without digest), e.g. "1.15.0".
	Version                string `json:"version"`
	LeaseNamespace         string `json:"leaseNamespace"`
	LeaseName              string `json:"leaseName"`
	LeaderElectionDisabled bool   `json:"leaderElectionDisabled"`
	WarmupDisabled         bool   `json:"controllerWarmupDisabled"`
	// Env is the controller container's literal environment (valueFrom entries are not resolved).
	Env map[string]string `json:"-"`
}

// ParseLease splits --lease NAMESPACE/NAME; anything else (no slash, an empty part, a second slash)
// is an error naming the flag.
func ParseLease(s string) (ns, name string, err error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("--lease %q: want NAMESPACE/NAME, e.g. --lease karpenter/karpenter-leader-election", s)
	}
	return ns, name, nil
}

// Find locates Karpenter with one Deployment list (by label selector) and no pod or node reads.
func Find(ctx context.Context, c kubernetes.Interface, o Options) (*Karpenter, error) {
	sel := o.Selector
	if sel == "" {
		sel = DefaultSelector
	}
	if _, err := labels.Parse(sel); err != nil {
		return nil, fmt.Errorf("%w: --karpenter-selector %q is not a label selector: %v", ErrNotFound, sel, err)
	}
	var leaseNS, leaseName string
	if o.Lease != "" {
		var err error
		if leaseNS, leaseName, err = ParseLease(o.Lease); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
		}
	}
	list, err := c.AppsV1().Deployments(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		where := "all namespaces"
		if o.Namespace != "" {
			where = "namespace " + o.Namespace
		}
		return nil, fmt.Errorf("listing Deployments with %s in %s: %w", sel, where, err)
	}
	deps := list.Items
	if leaseNS != "" && len(deps) > 1 {
		// --lease names the installation when several match.
		var same []appsv1.Deployment
		for _, d := range deps {
			if d.Namespace == leaseNS {
				same = append(same, d)
			}
		}
		deps = same
	}
	switch {
	case len(deps) == 0 && leaseNS != "":
		return &Karpenter{LeaseNamespace: leaseNS, LeaseName: leaseName, Namespace: leaseNS}, nil
	case len(deps) == 0:
		where := "in any namespace"
		if o.Namespace != "" {
			where = "in namespace " + o.Namespace
		}
		return nil, fmt.Errorf("%w: no Deployment with labels %s %s; point karpctl at it with --karpenter-namespace NS, --karpenter-selector LABELS or --lease NS/NAME", ErrNotFound, sel, where)
	case len(deps) > 1:
		var names []string
		for _, d := range deps {
			names = append(names, d.Namespace+"/"+d.Name)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%w: %d Deployments match %s (%s); choose one with --karpenter-namespace or --karpenter-selector", ErrNotFound, len(deps), sel, strings.Join(names, ", "))
	}
	k := FromDeployment(&deps[0])
	if leaseNS != "" {
		k.LeaseNamespace, k.LeaseName = leaseNS, leaseName
	}
	return k, nil
}

// FromDeployment reads Karpenter's settings from a Deployment (live or from a manifest).
func FromDeployment(d *appsv1.Deployment) *Karpenter {
	k := &Karpenter{Deployment: d, Namespace: d.Namespace, Name: d.Name, Env: map[string]string{}}
	if d.Spec.Selector != nil {
		if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
			k.PodSelector = s
		}
	}
	if k.PodSelector == nil {
		k.PodSelector = labels.SelectorFromSet(d.Spec.Template.Labels)
	}
	if c := ControllerContainer(&d.Spec.Template.Spec); c != nil {
		k.Container, k.Image = c.Name, c.Image
		k.Version = ImageTag(c.Image)
		k.Env = LiteralEnv(c)
	}
	k.LeaseName = DefaultLeaseName
	if v := k.Env["LEADER_ELECTION_NAME"]; v != "" {
		k.LeaseName = v
	}
	// Empty LEADER_ELECTION_NAMESPACE means the pod's own namespace (controller-runtime's default).
	k.LeaseNamespace = d.Namespace
	if v := k.Env["LEADER_ELECTION_NAMESPACE"]; v != "" {
		k.LeaseNamespace = v
	}
	k.LeaderElectionDisabled = parseBool(k.Env["DISABLE_LEADER_ELECTION"], false)
	k.WarmupDisabled = parseBool(k.Env["DISABLE_CONTROLLER_WARMUP"], true)
	return k
}

// ControllerContainer picks Karpenter's container: the chart names it "controller"; otherwise the
// first whose image mentions karpenter; otherwise the first.
func ControllerContainer(spec *corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == "controller" {
			return &spec.Containers[i]
		}
	}
	for i := range spec.Containers {
		if strings.Contains(spec.Containers[i].Image, "karpenter") {
			return &spec.Containers[i]
		}
	}
	if len(spec.Containers) > 0 {
		return &spec.Containers[0]
	}
	return nil
}

// ImageTag returns the tag of an image reference ("" when it has none), without a digest.
func ImageTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[colon+1:]
	}
	return ""
}

func parseBool(s string, def bool) bool {
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return def
	}
	return b
}

// Pods lists the Karpenter pods with one request: by the Deployment's selector in its namespace.
func (k *Karpenter) Pods(ctx context.Context, c kubernetes.Interface) ([]corev1.Pod, error) {
	if k.PodSelector == nil {
		return nil, nil
	}
	list, err := c.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: k.PodSelector.String()})
	if err != nil {
		return nil, fmt.Errorf("listing Karpenter pods in %s (%s): %w", k.Namespace, k.PodSelector, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

// Nodes gets the named nodes one by one (never a cluster-wide list); missing nodes are left out.
func Nodes(ctx context.Context, c kubernetes.Interface, names []string) (map[string]*corev1.Node, error) {
	out := map[string]*corev1.Node{}
	for _, n := range names {
		if n == "" || out[n] != nil {
			continue
		}
		node, err := c.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("reading node %s: %w", n, err)
		}
		out[n] = node
	}
	return out, nil
}

// NodeNames returns the distinct nodes the pods are bound to, in order.
func NodeNames(pods []corev1.Pod) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range pods {
		if n := p.Spec.NodeName; n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// PodReady reports whether the pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Unschedulable is the pod's PodScheduled=False condition with reason Unschedulable (the scheduler
// found no node), nil when it has none.
func Unschedulable(p *corev1.Pod) *corev1.PodCondition {
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// PodLive reports whether the pod is neither terminating nor finished (Succeeded or Failed).
func PodLive(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// DesiredReplicas is the Deployment's spec.replicas, 1 when unset (the API server's default).
func DesiredReplicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas != nil {
		return *d.Spec.Replicas
	}
	return 1
}

// LiteralEnv is the container's env with literal values (valueFrom entries need the cluster to resolve).
func LiteralEnv(c *corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// VersionsMatch compares a cluster's Karpenter version with the bundled engine's, ignoring a leading
// v; known is false when either is unknown.
func VersionsMatch(cluster, bundled string) (match, known bool) {
	c, b := strings.TrimPrefix(cluster, "v"), strings.TrimPrefix(bundled, "v")
	if c == "" || b == "" || b == "unknown" {
		return false, false
	}
	return c == b, true
}
