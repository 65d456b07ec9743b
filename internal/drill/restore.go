package drill

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/utils/ptr"
)

// RestoreResult is what `drill restore` undid.
type RestoreResult struct {
	Uncordoned  []string `json:"uncordoned"`
	LockDeleted string   `json:"lockDeleted,omitempty"`
	// ProbeDeleted are the probe pods and NodeClaims deleted.
	ProbeDeleted []string `json:"probeDeleted,omitempty"`
	Errors       []string `json:"errors,omitempty"`
}

// Restore undoes what crashed drills left: every node labelled CordonLabel (only id's when id is
// set) is uncordoned and unmarked, every probe pod labelled ProbeLabel in ns is deleted with its
// NodeClaim, and the drill lock in ns is deleted when it belongs to id (any drill when id is empty).
// Nodes cordoned by someone else carry no label and are never touched.
// Each read and change is retried while the API server fails in a way a retry can cure.
func Restore(ctx context.Context, c Client, ns, id string) (RestoreResult, error) {
	c = persistent{c}
	var res RestoreResult
	sel := CordonLabel
	if id != "" {
		sel = CordonLabel + "=" + id
	}
	nodes, err := c.Nodes(ctx, sel)
	if err != nil {
		return res, err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	for _, n := range nodes {
		if err := c.PatchNode(ctx, n.Name, uncordonPatch); err != nil {
			res.Errors = append(res.Errors, err.Error())
			continue
		}
		res.Uncordoned = append(res.Uncordoned, fmt.Sprintf("%s (drill %s)", n.Name, n.Labels[CordonLabel]))
	}
	if ns != "" {
		deleted, errs := restoreProbes(ctx, c, ns, id)
		res.ProbeDeleted, res.Errors = deleted, append(res.Errors, errs...)
		res.restoreLock(ctx, c, ns, id)
	}
	if len(res.Errors) > 0 {
		return res, errors.New(strings.Join(res.Errors, "; "))
	}
	return res, nil
}

// restoreLock deletes the drill lock in ns when it belongs to id (any drill when id is empty).
func (res *RestoreResult) restoreLock(ctx context.Context, c Client, ns, id string) {
	l, err := c.Lease(ctx, ns, LockName)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
		return
	}
	if l == nil {
		return
	}
	holder := ptr.Deref(l.Spec.HolderIdentity, "")
	if id != "" && holder != id {
		return
	}
	if err := c.DeleteLease(ctx, ns, LockName, l.UID); err != nil {
		res.Errors = append(res.Errors, err.Error())
		return
	}
	res.LockDeleted = fmt.Sprintf("%s/%s (drill %s)", ns, LockName, holder)
}
