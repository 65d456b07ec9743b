package explain

import (
	"slices"
	"strings"
	"testing"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	"github.com/awslabs/operatorpkg/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
)

// notReadyNodeClass is an EC2NodeClass whose status says Ready=False, and the NodePool "eks" on it.
func notReadyNodeClass() (*karpv1.NodePool, *awsv1.EC2NodeClass) {
	nc := &awsv1.EC2NodeClass{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	nc.Spec.AMISelectorTerms = []awsv1.AMISelectorTerm{{Alias: "al2023@latest"}}
	nc.Status.Subnets = []awsv1.Subnet{{ID: "subnet-a", Zone: "us-east-1a", ZoneID: "use1-az1"}}
	nc.Status.Conditions = []status.Condition{{Type: status.ConditionReady, Status: metav1.ConditionFalse,
		Reason: "SecurityGroupsNotFound", Message: "SecurityGroupSelector did not match any SecurityGroups"}}
	np := nodePool("eks")
	np.Spec.Template.Spec.NodeClassRef = &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"}
	return np, nc
}

func nodeClassReason(t *testing.T, v NodePoolVerdict) Reason {
	t.Helper()
	if v.Verdict != VerdictSkipped || len(v.Reasons) == 0 || v.Reasons[0].Kind != NodeClass {
		t.Fatalf("eks %+v, want skipped for its NodeClass", v)
	}
	r := v.Reasons[0]
	for _, r := range v.Reasons {
		t.Logf("%s: %s; change: %s", r.Kind, r.Message, r.Change)
	}
	if nc := r.NodeClass; nc == nil || nc.Kind != "EC2NodeClass" || nc.Name != "default" || nc.Reason != "SecurityGroupsNotFound" ||
		nc.Message != "SecurityGroupSelector did not match any SecurityGroups" {
		t.Errorf("nodeClass %+v", r.NodeClass)
	}
	for _, want := range []string{"EC2NodeClass/default is not Ready", "SecurityGroupsNotFound: SecurityGroupSelector did not match"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message %q lacks %q", r.Message, want)
		}
	}
	return r
}

// The only NodePool's NodeClass is not Ready: the pod stays pending (no NodePool Karpenter provisions
// with), and the reason is the NodeClass, proven by the run with it Ready launching for the pod.
func TestExplainNodeClassOnlyNodePool(t *testing.T) {
	np, nc := notReadyNodeClass()
	snap := &engine.Snapshot{NodePools: []*karpv1.NodePool{np}, EC2NodeClasses: []*awsv1.EC2NodeClass{nc}, PendingPods: []*corev1.Pod{pod("p", "1")}}
	e := explainPod(t, snap, "p")
	if e.Placed() || !strings.Contains(e.Outcome.Reason, "no NodePool is left that Karpenter provisions with") {
		t.Fatalf("outcome %+v, want unschedulable for want of a NodePool", e.Outcome)
	}
	if len(e.NodePools) != 1 {
		t.Fatalf("nodePools %+v", e.NodePools)
	}
	r := nodeClassReason(t, e.NodePools[0])
	if len(e.NodePools[0].Reasons) != 1 || !strings.Contains(r.Message, "with it Ready, Karpenter's scheduler launches ") ||
		!strings.Contains(r.Change, "make EC2NodeClass default Ready") {
		t.Errorf("reasons %+v", e.NodePools[0].Reasons)
	}
}

// Once Ready, the NodePool would still be blocked by the pod's architecture: both reasons, the
// second proven by relaxing it on the NodePool as Karpenter would see it Ready.
func TestExplainNodeClassAndRequirement(t *testing.T) {
	np, nc := notReadyNodeClass()
	snap := &engine.Snapshot{NodePools: []*karpv1.NodePool{np}, EC2NodeClasses: []*awsv1.EC2NodeClass{nc},
		PendingPods: []*corev1.Pod{pod("p", "1", selecting("team", "a"))}}
	e := explainPod(t, snap, "p")
	v := e.NodePools[0]
	r := nodeClassReason(t, v)
	if !slices.Equal(kinds(v.Reasons), []Kind{NodeClass, Requirement}) || v.Reasons[1].Key != "team" || !strings.Contains(r.Message, "still blocked") {
		t.Fatalf("reasons %+v, want NodeClass then the team requirement", v.Reasons)
	}
}

// With another usable NodePool, that one takes the pod; the one whose NodeClass is not Ready is
// skipped with the NodeClass reason, proven.
func TestExplainNodeClassOneOfTwoNodePools(t *testing.T) {
	np, nc := notReadyNodeClass()
	snap := &engine.Snapshot{NodePools: []*karpv1.NodePool{np, nodePool("pool")}, EC2NodeClasses: []*awsv1.EC2NodeClass{nc},
		PendingPods: []*corev1.Pod{pod("p", "1")}}
	e := explainPod(t, snap, "p")
	if e.Outcome.Kind != OutcomeNewNodeClaim || e.Outcome.NodePool != "pool" {
		t.Fatalf("outcome %+v", e.Outcome)
	}
	v := verdictOf(t, e, "eks")
	r := nodeClassReason(t, v)
	if len(v.Reasons) != 1 || !strings.Contains(r.Change, "the NodePool then launches ") {
		t.Errorf("reasons %+v", v.Reasons)
	}
	if n := len(e.NodePools); n != 2 {
		t.Errorf("%d verdicts, want one per NodePool: %+v", n, e.NodePools)
	}
}

// With an existing node of another NodePool that has room, the NodeClass reason says so and lists nothing else: the run
// with the NodeClass Ready places the pod on that node, so no constraint of the NodePool blocks it.
func TestExplainNodeClassWithRoomOnANode(t *testing.T) {
	np, nc := notReadyNodeClass()
	snap := &engine.Snapshot{NodePools: []*karpv1.NodePool{np, nodePool("default")}, EC2NodeClasses: []*awsv1.EC2NodeClass{nc},
		Nodes: []*corev1.Node{node("roomy", "default", "c-8x-amd64-linux", "8")}, PendingPods: []*corev1.Pod{pod("p", "1")}}
	e := explainPod(t, snap, "p")
	if e.Outcome.Kind != OutcomeExistingNode || e.Outcome.Node != "roomy" {
		t.Fatalf("outcome %+v, want the existing node roomy", e.Outcome)
	}
	v := e.NodePools[slices.IndexFunc(e.NodePools, func(v NodePoolVerdict) bool { return v.Name == "eks" })]
	r := nodeClassReason(t, v)
	if len(v.Reasons) != 1 || !strings.Contains(r.Message, "node roomy has room for the pod alone") {
		t.Errorf("eks reasons %+v, want the NodeClass alone, naming node roomy", v.Reasons)
	}
}
