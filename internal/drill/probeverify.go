package drill

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/karpctl/karpctl/internal/engine"
	ksettings "github.com/karpctl/karpctl/internal/engine/karpenter"
)

// verifyProbe runs Karpenter's scheduler (engine.Plan, the code behind `plan`) on the live cluster
// with the probe pod added, and says what Karpenter would launch for it ("Karpenter would launch TYPE
// in ZONE for the probe"), recording it in the plan. refusal says, in Karpenter's words where it has
// some, why Karpenter would not launch a new node for the probe: it refuses the pod, the pod fits an
// existing node, the NodePool's limits or offerings leave no room. err is an API error reading the
// cluster. The scheduler runs with the settings of the cluster's Karpenter (nil: its defaults).
func verifyProbe(ctx context.Context, c Client, pl *ProbePlan, settings *ksettings.Settings) (launch, refusal string, err error) {
	snap, err := c.Snapshot(ctx)
	if err != nil {
		return "", "", err
	}
	snap.Karpenter = settings
	probe := pl.pod.DeepCopy()
	snap.PendingPods = append(snap.PendingPods, probe)
	res, err := engine.Plan(ctx, snap, engine.Options{})
	if errors.Is(err, engine.ErrNoUsableNodePool) {
		return "", "Karpenter's scheduler has no NodePool to launch the probe with: " + err.Error(), nil
	}
	if err != nil {
		return "", "Karpenter's scheduler could not be run on the cluster for the probe: " + err.Error(), nil
	}
	return probeVerdict(res, pl)
}

// probeVerdict finds the probe in a plan.
func probeVerdict(res *engine.Result, pl *ProbePlan) (launch, refusal string, err error) {
	name := pl.Namespace + "/" + pl.Pod
	for _, np := range res.NodePools {
		for _, nc := range np.NodeClaims {
			if !slices.Contains(nc.Pods, name) {
				continue
			}
			if np.Name != pl.NodePool {
				return "", fmt.Sprintf("Karpenter would launch %s in NodePool %s for the probe, not in NodePool %s", nc.InstanceType, np.Name, pl.NodePool), nil
			}
			pl.PredictedInstanceType, pl.PredictedZone, pl.PredictedZones = nc.InstanceType, nc.Zone, nc.Zones
			where := ""
			if len(nc.Zones) > 1 {
				where = fmt.Sprintf("; the cheapest offering's zone: the cloud provider picks among %s", strings.Join(nc.Zones, ", "))
			}
			return fmt.Sprintf("Karpenter would launch %s in %s for the probe (its scheduler, run on the cluster with the probe added%s)", nc.InstanceType, nc.Zone, where), "", nil
		}
	}
	for _, en := range res.ExistingNodes {
		if slices.Contains(en.Pods, name) {
			return "", fmt.Sprintf("Karpenter would place the probe on existing node %s, so it would not measure provisioning", en.Node), nil
		}
	}
	for _, g := range res.Unschedulable {
		if slices.Contains(g.Pods, name) {
			return "", "Karpenter would not launch a node for the probe: " + g.Reason + warningsString(res.Warnings, pl.NodePool), nil
		}
	}
	return "", "Karpenter's scheduler made no decision for the probe", nil
}

// warningsString is what the plan warned about the NodePool, e.g. its limits.
func warningsString(ws []engine.Warning, pool string) string {
	var out []string
	for _, w := range ws {
		if w.NodePool == pool {
			out = append(out, w.Message)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " (NodePool " + pool + ": " + strings.Join(out, "; ") + ")"
}
