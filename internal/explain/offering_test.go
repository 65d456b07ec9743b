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

// ec2Snapshot is an on-demand NodePool of a Ready EC2NodeClass with subnets in us-east-1a and
// us-east-1b only, planned with the AWS provider's instance types, and the pending pod.
func ec2Snapshot(p *corev1.Pod, opts ...poolOpt) *engine.Snapshot {
	np := nodePool("eks", opts...)
	np.Spec.Template.Spec.NodeClassRef = &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"}
	nc := &awsv1.EC2NodeClass{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	nc.Spec.AMISelectorTerms = []awsv1.AMISelectorTerm{{Alias: "al2023@latest"}}
	for i, z := range []string{"us-east-1a", "us-east-1b"} {
		nc.Status.Subnets = append(nc.Status.Subnets, awsv1.Subnet{ID: "subnet-" + z, Zone: z, ZoneID: "use1-az" + string(rune('1'+i))})
	}
	nc.Status.Conditions = []status.Condition{{Type: status.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready"}}
	return &engine.Snapshot{NodePools: []*karpv1.NodePool{np}, EC2NodeClasses: []*awsv1.EC2NodeClass{nc}, PendingPods: []*corev1.Pod{p}}
}

func blocked(t *testing.T, snap *engine.Snapshot, nodePool string) NodePoolVerdict {
	t.Helper()
	e := explainPod(t, snap, snap.PendingPods[0].Name)
	v := verdictOf(t, e, nodePool)
	if e.Outcome.Kind != OutcomeUnschedulable || v.Verdict != VerdictBlocked {
		t.Fatalf("outcome %+v, verdict %+v: want blocked", e.Outcome, v)
	}
	return v
}

func contains(t *testing.T, what, s string, words ...string) {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(s, w) {
			t.Errorf("%s %q lacks %q", what, s, w)
		}
	}
}

// A requirement the NodePool does not allow and a zone without a subnet block together: both are
// listed, each needed.
func TestExplainRequirementAndOffering(t *testing.T) {
	snap := ec2Snapshot(pod("p", "1", selecting("team", "x", corev1.LabelTopologyZone, "us-east-1c")))
	v := blocked(t, snap, "eks")
	if got := kinds(v.Reasons); !slices.Equal(got, []Kind{Requirement, Offering}) || v.Alternatives {
		t.Fatalf("reasons %+v (alternatives %v), want Requirement and Offering both needed", v.Reasons, v.Alternatives)
	}
	if v.Reasons[0].Key != "team" || v.Reasons[1].Key != corev1.LabelTopologyZone {
		t.Errorf("keys %q, %q", v.Reasons[0].Key, v.Reasons[1].Key)
	}
}

// The Offering change names the zone, where the types are offered, and whose requirement must
// allow it; the NodePool's capacity type, which does not block, is left alone.
func TestExplainOfferingNamesTheZoneOnly(t *testing.T) {
	snap := ec2Snapshot(pod("p", "1", selecting(corev1.LabelTopologyZone, "us-east-1c")))
	v := blocked(t, snap, "eks")
	if !slices.Equal(kinds(v.Reasons), []Kind{Offering}) {
		t.Fatalf("reasons %+v, want Offering", v.Reasons)
	}
	r := v.Reasons[0]
	if r.Key != corev1.LabelTopologyZone || len(r.Values) != 1 || (r.Values[0] != "us-east-1a" && r.Values[0] != "us-east-1b") {
		t.Fatalf("key %q values %v, want the zone and a zone with a subnet", r.Key, r.Values)
	}
	contains(t, "message", r.Message, "the pod requires topology.kubernetes.io/zone In [us-east-1c]", "offered only with topology.kubernetes.io/zone us-east-1a, us-east-1b")
	contains(t, "change", r.Change, "allow topology.kubernetes.io/zone "+r.Values[0]+" in the pod (where ")
	for _, s := range []string{r.Message, r.Change} {
		if strings.Contains(s, "capacity") || strings.Contains(s, "spot") {
			t.Errorf("%q speaks of capacity type, which does not block", s)
		}
	}

	// The NodePool allows a zone with a subnet besides the pod's: that one is named, in the pod only.
	snap = ec2Snapshot(pod("p", "1", selecting(corev1.LabelTopologyZone, "us-east-1c")),
		requiring(req(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "us-east-1b", "us-east-1c")))
	v = blocked(t, snap, "eks")
	if !slices.Equal(kinds(v.Reasons), []Kind{Offering}) {
		t.Fatalf("reasons %+v, want Offering", v.Reasons)
	}
	r = v.Reasons[0]
	contains(t, "message", r.Message, "the NodePool allows topology.kubernetes.io/zone In [us-east-1b us-east-1c]")
	if !slices.Equal(r.Values, []string{"us-east-1b"}) {
		t.Errorf("values %v, want us-east-1b", r.Values)
	}
	contains(t, "change", r.Change, "allow topology.kubernetes.io/zone us-east-1b in the pod (where ")
	if strings.Contains(r.Change, "NodePool") {
		t.Errorf("change %q", r.Change)
	}
}
