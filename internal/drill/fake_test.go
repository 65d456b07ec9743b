package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/watch"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/engine"
)

// fakeClient is a Client in memory: the Karpenter pods, nodes, leases and PDBs of a scenario, the pod
// and lease watches the scenario drives, the errors it injects, and a record of every call.
type fakeClient struct {
	mu     sync.Mutex
	denied map[string]bool // "verb resource" the RBAC check refuses
	pods   []corev1.Pod
	nodes  []corev1.Node
	leases map[string]*coordinationv1.Lease // by "namespace/name"
	pdbs   []policyv1.PodDisruptionBudget
	// errs are the errors of the next calls, by call ("Evict k-a", "PatchNode n-b", "DeleteLease"),
	// each returned once, in order.
	errs map[string][]error
	// onAction runs after each eviction or deletion that succeeded: the cluster's answer to it.
	onAction func(pod string)
	calls    []string
	rv       int

	// The watches the drill opens next; the scenario sends on them before the drill has opened
	// them (their channels are buffered).
	podW, leaseW           *watch.RaceFreeFakeWatcher
	eventW                 *watch.RaceFreeFakeWatcher
	podOpened, leaseOpened bool
}

func newFake(s scenario) *fakeClient {
	f := &fakeClient{denied: map[string]bool{}, leases: map[string]*coordinationv1.Lease{}, errs: map[string][]error{},
		pods: s.pods, nodes: s.nodes, pdbs: s.pdbs, rv: 10, podW: watch.NewRaceFreeFake(), leaseW: watch.NewRaceFreeFake()}
	if s.lease != nil {
		f.leases[ns+"/"+discovery.DefaultLeaseName] = s.lease
	}
	return f
}

// call records a call and returns the error injected for it, if any.
func (f *fakeClient) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	if q := f.errs[name]; len(q) > 0 {
		f.errs[name] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakeClient) inject(call string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[call] = append(f.errs[call], errs...)
}

// called are the calls so far whose names start with one of prefixes.
func (f *fakeClient) called(prefixes ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		for _, p := range prefixes {
			if len(c) >= len(p) && c[:len(p)] == p {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// nextRV stamps obj with a new resourceVersion, which the drill's retry watchers need.
func (f *fakeClient) nextRV(obj metav1.Object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	obj.SetResourceVersion(strconv.Itoa(f.rv))
}

// podEvent and leaseEvent are what the watches deliver next.
func (f *fakeClient) podEvent(typ watch.EventType, p *corev1.Pod) {
	p = p.DeepCopy()
	f.nextRV(p)
	f.current(&f.podW).Action(typ, p)
}

func (f *fakeClient) leaseEvent(l *coordinationv1.Lease) {
	l = l.DeepCopy()
	f.nextRV(l)
	f.current(&f.leaseW).Modify(l)
}

func (f *fakeClient) pod(name string) *corev1.Pod {
	for i := range f.pods {
		if f.pods[i].Name == name {
			return f.pods[i].DeepCopy()
		}
	}
	return nil
}

func (f *fakeClient) Allowed(_ context.Context, a authorizationv1.ResourceAttributes) (bool, string, error) {
	key := a.Verb + " " + resourceName(a)
	if err := f.call("Allowed " + key); err != nil {
		return false, "", err
	}
	return !f.denied[key], "", nil
}

func (f *fakeClient) Lease(_ context.Context, namespace, name string) (*coordinationv1.Lease, error) {
	if err := f.call("Lease " + name); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.leases[namespace+"/"+name]
	if l == nil {
		return nil, nil
	}
	l = l.DeepCopy()
	l.ResourceVersion = "1"
	return l, nil
}

func (f *fakeClient) CreateLease(_ context.Context, l *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	err := f.call("CreateLease " + l.Name)
	if err != nil && !errors.As(err, &lostAnswer{}) {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := l.Namespace + "/" + l.Name
	if f.leases[key] != nil {
		return nil, apierrors.NewAlreadyExists(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, l.Name)
	}
	l = l.DeepCopy()
	l.UID = types.UID("uid-" + l.Name)
	f.leases[key] = l
	if err != nil {
		return nil, err
	}
	return l.DeepCopy(), nil
}

func (f *fakeClient) DeleteLease(_ context.Context, namespace, name string, _ types.UID) error {
	if err := f.call("DeleteLease " + name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.leases, namespace+"/"+name)
	return nil
}

func (f *fakeClient) hasLease(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leases[ns+"/"+name] != nil
}

func (f *fakeClient) WatchLease(context.Context, string, string, string) (watch.Interface, error) {
	return f.watch(&f.leaseW, &f.leaseOpened), f.call("WatchLease")
}

func (f *fakeClient) WatchPods(_ context.Context, _, selector, _ string) (watch.Interface, error) {
	return f.watch(&f.podW, &f.podOpened), f.call("WatchPods " + selector)
}

// watch hands out the watch the scenario sends on; a second call (a retry watcher's re-watch) gets
// a fresh one, which the scenario then sends on.
func (f *fakeClient) watch(w **watch.RaceFreeFakeWatcher, opened *bool) watch.Interface {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *opened {
		*w = watch.NewRaceFreeFake()
	}
	*opened = true
	return *w
}

// current is the watch the scenario sends on.
func (f *fakeClient) current(w **watch.RaceFreeFakeWatcher) *watch.RaceFreeFakeWatcher {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *w
}

func (f *fakeClient) Pods(_ context.Context, _, selector string) (*corev1.PodList, error) {
	if err := f.call("Pods " + selector); err != nil {
		return nil, err
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, err
	}
	l := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
	for _, p := range f.pods {
		if sel.Matches(labels.Set(p.Labels)) {
			l.Items = append(l.Items, *p.DeepCopy())
		}
	}
	return l, nil
}

func (f *fakeClient) PDBs(context.Context, string) ([]policyv1.PodDisruptionBudget, error) {
	return f.pdbs, f.call("PDBs")
}

func (f *fakeClient) Evict(_ context.Context, _, pod string) error {
	if err := f.call("Evict " + pod); err != nil {
		return err
	}
	if f.onAction != nil {
		f.onAction(pod)
	}
	return nil
}

func (f *fakeClient) DeletePod(_ context.Context, _, pod string, grace int64) error {
	if err := f.call(fmt.Sprintf("DeletePod %s %d", pod, grace)); err != nil {
		return err
	}
	if f.onAction != nil && grace == 0 {
		f.onAction(pod)
	}
	return nil
}

func (f *fakeClient) Nodes(_ context.Context, selector string) ([]corev1.Node, error) {
	if err := f.call("Nodes " + selector); err != nil {
		return nil, err
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, err
	}
	var out []corev1.Node
	for _, n := range f.nodes {
		if sel.Matches(labels.Set(n.Labels)) {
			out = append(out, *n.DeepCopy())
		}
	}
	return out, nil
}

func (f *fakeClient) Node(_ context.Context, name string) (*corev1.Node, error) {
	if err := f.call("Node " + name); err != nil {
		return nil, err
	}
	for _, n := range f.nodes {
		if n.Name == name {
			return n.DeepCopy(), nil
		}
	}
	return nil, nil
}

// PatchNode applies the patch to the node, unless the error injected for it says the API server
// did not (any error but lostAnswer).
func (f *fakeClient) PatchNode(_ context.Context, name string, patch []byte) error {
	what := "cordon"
	if string(patch) == string(uncordonPatch) {
		what = "uncordon"
	}
	err := f.call("PatchNode " + what + " " + name)
	if err != nil && !errors.As(err, &lostAnswer{}) {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.nodes {
		if f.nodes[i].Name != name {
			continue
		}
		orig, _ := json.Marshal(f.nodes[i])
		patched, perr := strategicpatch.StrategicMergePatch(orig, patch, corev1.Node{})
		if perr != nil {
			return perr
		}
		var n corev1.Node
		if perr := json.Unmarshal(patched, &n); perr != nil {
			return perr
		}
		f.nodes[i] = n
	}
	return err
}

// node is the fake's node name (a copy), nil when there is none.
func (f *fakeClient) node(name string) *corev1.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		if n.Name == name {
			return n.DeepCopy()
		}
	}
	return nil
}

// lostAnswer, injected for a call, is a call the API server carried out whose answer was lost on the
// way back: the client sees an unexpected EOF.
type lostAnswer struct{}

func (lostAnswer) Error() string { return "unexpected EOF" }
func (lostAnswer) Unwrap() error { return io.ErrUnexpectedEOF }

func (f *fakeClient) DeleteNode(_ context.Context, name string) error {
	return f.call("DeleteNode " + name)
}

func (f *fakeClient) CreatePod(_ context.Context, p *corev1.Pod) (*corev1.Pod, error) {
	return p, f.call("CreatePod " + p.Name)
}

func (f *fakeClient) NodePools(context.Context) ([]*karpv1.NodePool, error) {
	return nil, f.call("NodePools")
}

func (f *fakeClient) NodeClaims(_ context.Context, selector string) ([]karpv1.NodeClaim, string, error) {
	return nil, "1", f.call("NodeClaims " + selector)
}

func (f *fakeClient) WatchNodeClaims(context.Context, string, string) (watch.Interface, error) {
	return watch.NewRaceFreeFake(), f.call("WatchNodeClaims")
}

func (f *fakeClient) PatchNodeClaim(_ context.Context, name string, _ []byte) error {
	return f.call("PatchNodeClaim " + name)
}

func (f *fakeClient) DeleteNodeClaim(_ context.Context, name string) error {
	return f.call("DeleteNodeClaim " + name)
}

func (f *fakeClient) Events(context.Context, string, string) (*corev1.EventList, error) {
	return &corev1.EventList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}}, f.call("Events")
}

func (f *fakeClient) WatchEvents(context.Context, string, string, string) (watch.Interface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.eventW == nil {
		f.eventW = watch.NewRaceFreeFake()
	}
	return f.eventW, nil
}

func (f *fakeClient) Snapshot(context.Context) (*engine.Snapshot, error) {
	if err := f.call("Snapshot"); err != nil {
		return nil, err
	}
	return &engine.Snapshot{Live: true}, nil
}

// The scenario: Karpenter in namespace ns with two replicas, k-a (the leader, on n-a in zone-a) and
// k-b (on n-b in zone-b), a fresh lease held by k-a, and the chart's PodDisruptionBudget
// (maxUnavailable 1, its status computed).
const ns = "karpenter"

var (
	t0       = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	karpSel  = map[string]string{"app.kubernetes.io/name": "karpenter"}
	leaderID = "k-a_1"
)

type scenario struct {
	pods  []corev1.Pod
	nodes []corev1.Node
	lease *coordinationv1.Lease
	pdbs  []policyv1.PodDisruptionBudget
	k     *discovery.Karpenter
}

func newScenario() scenario {
	one := intstr.FromInt32(1)
	return scenario{
		pods:  []corev1.Pod{karpPod("k-a", "n-a"), karpPod("k-b", "n-b")},
		nodes: []corev1.Node{node("n-a", "zone-a"), node("n-b", "zone-b"), node("n-c", "zone-c")},
		lease: electionLease(leaderID, t0.Add(-200*time.Millisecond), 15),
		pdbs: []policyv1.PodDisruptionBudget{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "karpenter", Generation: 1},
			Spec:   policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: karpSel}},
			Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: 1, CurrentHealthy: 2}}},
		k: karpenter(2),
	}
}

func karpenter(replicas int32) *discovery.Karpenter {
	return &discovery.Karpenter{Namespace: ns, Name: "karpenter", PodSelector: labels.SelectorFromSet(karpSel),
		Deployment:     &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &replicas}},
		LeaseNamespace: ns, LeaseName: discovery.DefaultLeaseName}
}

// karpPod is a Karpenter replica Running and Ready on node.
func karpPod(name, node string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: karpSel},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
}

// unschedulablePod is a replica the scheduler cannot place.
func unschedulablePod(name string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: karpSel},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available: 3 node(s) didn't match pod topology spread constraints."}}}}
}

func node(name, zone string, extra ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone, corev1.LabelHostname: name}}}
	for i := 0; i+1 < len(extra); i += 2 {
		n.Labels[extra[i]] = extra[i+1]
	}
	return n
}

// electionLease is Karpenter's lease held by holder ("" when released), renewed (or released) at
// renew, acquired then too.
func electionLease(holder string, renew time.Time, durationSecs int32) *coordinationv1.Lease {
	at := metav1.NewMicroTime(renew)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: discovery.DefaultLeaseName},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &at, AcquireTime: &at, LeaseDurationSeconds: &durationSecs}}
}

// clock is a fake Options.Now: it stands still until the test moves it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
