package commands

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/load"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/view"
)

func init() { register(newDisruptCmd) }

const disruptLong = `Show what Karpenter's disruption controller would do now, computed by Karpenter's own disruption
methods (pkg/controllers/disruption of the bundled sigs.k8s.io/karpenter: Emptiness, StaticDrift,
Drift, MultiNodeConsolidation, SingleNodeConsolidation, in the controller's order) with its candidate
selection, disruption budgets and command validation, over a read-only snapshot of the cluster.
karpctl never disrupts anything: --dry-run is the only mode.

It prints the first command Karpenter would execute (method, reason, decision, the candidate nodes
with the pods that would move and where they would land, the replacement NodeClaims and the
savings in $/h), the disruptions each NodePool's budgets allow now per reason, and why every other
Karpenter node stays: in Karpenter's own words where its events give them (a do-not-disrupt pod or
node, a PodDisruptionBudget, the WhenEmpty policy, no cheaper replacement, ...), otherwise from the
NodeClaim's state (not Consolidatable yet and the time left, a budget of zero). --all lists what every
method would propose, not only the first. -o wide lists every pod; -o json|yaml print the stable schema.

Live (default) it reads the same objects as plan, plus PodDisruptionBudgets, with paginated lists
and writes nothing; -f adds manifests on top, --offline reads them alone (Nodes and NodeClaims from
'kubectl get -o yaml' dumps keep their status). --ignore-consolidate-after treats every NodeClaim
as Consolidatable: what Karpenter would do once the consolidateAfter timers have run out.
Instance types (prices of candidates and replacements) follow each NodePool's NodeClass as in plan:
the AWS provider's model for an EC2NodeClass (--region when nothing tells it), kwok's catalog for a
KWOKNodeClass; --catalog kwok|FILE overrides them.

Exit codes: 0 Karpenter would disrupt nothing (consolidated, or no Karpenter nodes); 3 it would
disrupt something; 2 bad flags or input; 1 API error.`

const disruptExample = `  # What would Karpenter's disruption controller do now, and why do the other nodes stay?
  kubectl karpctl disrupt --dry-run

  # Once every consolidateAfter has run out; every method's proposal
  kubectl karpctl disrupt --ignore-consolidate-after --all

  # From a dump, without a cluster
  kubectl get nodepools,nodeclaims,nodes,pods,pdb -A -o yaml > cluster.yaml
  kubectl karpctl disrupt --offline -f cluster.yaml`

// DisruptOptions are disrupt's flags.
type DisruptOptions struct {
	env    *Env
	Format output.Format
	dryRunOnly
	snapshotSource
	catalogFlags
	All                    bool
	IgnoreConsolidateAfter bool
}

func newDisruptCmd(env *Env) *cobra.Command {
	o := &DisruptOptions{env: env}
	cmd := snapshotCommand(&cobra.Command{
		Use:     "disrupt",
		Short:   "Dry-run Karpenter's disruption controller: what it would consolidate or replace now, and why other nodes stay",
		Long:    disruptLong,
		Example: disruptExample,
	}, "Decide", o, &o.Format, &o.snapshotSource, &o.catalogFlags)
	f := cmd.Flags()
	o.addDryRunFlag(f, "Decide", "disrupts nodes")
	f.BoolVar(&o.All, "all", false, "List what every disruption method would propose, not only the first command")
	f.BoolVar(&o.IgnoreConsolidateAfter, "ignore-consolidate-after", false, "Treat every NodeClaim as Consolidatable (what happens once consolidateAfter has passed)")
	return cmd
}

// Validate checks the flags and reads the catalog; nothing has been sent to the cluster yet. changed
// tells which flags were given (cmd.Flags().Changed).
func (o *DisruptOptions) Validate(changed func(string) bool) error {
	return validateDecision(&o.dryRunOnly, &o.snapshotSource, &o.catalogFlags, changed)
}

// Run reads the snapshot, runs Karpenter's disruption methods and prints; exit 3 when Karpenter
// would disrupt something.
func (o *DisruptOptions) Run(ctx context.Context) error {
	read, err := o.read(ctx, o.env, load.Options{}, load.ClusterOptions{Disruption: true})
	if err != nil {
		return err
	}
	var res *engine.DisruptResult
	err = withProgress(o.env, fmt.Sprintf("deciding with Karpenter %s's disruption methods…", cli.EngineVersion()), func() (err error) {
		src, err := o.source(read.Snapshot)
		if err != nil {
			return err
		}
		res, err = engine.Disrupt(ctx, read.Snapshot, src, engine.DisruptOptions{All: o.All, IgnoreConsolidateAfter: o.IgnoreConsolidateAfter})
		return inputError(err)
	})
	if err != nil {
		return o.engineVerdict(err)
	}
	res.Warnings = read.withSkew(res.Warnings)
	report := engine.DisruptReport{
		Mode: read.mode, Engine: cli.Engine(), EngineVersion: cli.EngineVersion(), KarpenterVersion: read.KarpenterVersion,
		Files: o.Files, IgnoreConsolidateAfter: o.IgnoreConsolidateAfter, KarpenterSettings: read.Snapshot.Karpenter, DisruptResult: res,
	}
	if err := o.env.print(o.Format, report, func(w io.Writer, s output.Styles, wide bool) error { return view.Disrupt(w, s, report, wide) }); err != nil {
		return err
	}
	if len(res.Commands) > 0 {
		c := res.Commands[0]
		return cli.Unhealthy("disrupt: Karpenter would %s %d node(s) now (%s, %s)", c.Decision, len(c.Candidates), c.Method, c.Reason)
	}
	return nil
}

// withProgress runs f and, when it takes longer than progressAfter, says msg once on stderr (stdout
// stays clean for -o json).
func withProgress(env *Env, msg string, f func() error) error {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-done:
		case <-time.After(progressAfter):
			fmt.Fprintln(env.ErrOut, msg)
		}
	}()
	err := f()
	close(done)
	<-exited
	return err
}
