package drill

import (
	"fmt"
	"strings"
	"time"
)

// ProbeReport is what the provisioning probe measured, on the drill's timeline (seconds since the
// action), and its verdict.
type ProbeReport struct {
	Pod          string `json:"pod"`
	NodePool     string `json:"nodePool"`
	NodeClaim    string `json:"nodeClaim,omitempty"`
	Node         string `json:"node,omitempty"`
	InstanceType string `json:"instanceType,omitempty"`
	Zone         string `json:"zone,omitempty"`
	// CreatedBy is the lease holder that created the NodeClaim: only the leader runs Karpenter's
	// provisioner, so a NodeClaim created after the new holder's acquireTime is the new leader's.
	CreatedBy string `json:"createdBy,omitempty"`
	Result    Result `json:"result"`
	Reason    string `json:"reason"`
	// Refusal is Karpenter's FailedScheduling message for the probe, when it refused it: the probe
	// karpctl built is at fault, not Karpenter's failover.
	Refusal        string  `json:"refusal,omitempty"`
	RefusedSeconds float64 `json:"refusedSeconds,omitempty"`

	CreatedSeconds       float64 `json:"createdSeconds,omitempty"`
	UnschedulableSeconds float64 `json:"unschedulableSeconds,omitempty"`
	// NodeClaimSeconds is "provisioning resumed after": the probe's NodeClaim seen − the action.
	NodeClaimSeconds float64 `json:"nodeClaimSeconds,omitempty"`
	NodeReadySeconds float64 `json:"nodeReadySeconds,omitempty"`
	RunningSeconds   float64 `json:"runningSeconds,omitempty"`
	// ResumeSeconds is the NodeClaim seen − the new leader's acquireTime (− the probe's creation when
	// the leader kept the lease), judged against ResumeBoundSeconds.
	ResumeSeconds      float64 `json:"resumeSeconds,omitempty"`
	ResumeBoundSeconds float64 `json:"resumeBoundSeconds,omitempty"`
	ResumeBound        string  `json:"resumeBound,omitempty"`
	// LaunchSeconds is the probe Running − its NodeClaim seen, judged against LaunchBoundSeconds.
	LaunchSeconds      float64  `json:"launchSeconds,omitempty"`
	LaunchBoundSeconds float64  `json:"launchBoundSeconds,omitempty"`
	LaunchBound        string   `json:"launchBound,omitempty"`
	CleanedUp          []string `json:"cleanedUp,omitempty"`
	CleanupErrors      []string `json:"cleanupErrors,omitempty"`
}

// probeInput is the probe's timeline as observed, plus the lease facts it is judged with.
type probeInput struct {
	plan  *ProbePlan
	slack time.Duration
	// action is the drill's action time; acquired the new holder's acquireTime (zero if none).
	action, acquired time.Time
	leaderHit        bool
	newLeader        string
	created          time.Time
	unschedulable    time.Time
	claimSeen        time.Time // the probe's NodeClaim, first seen
	claimCreation    time.Time // its creationTimestamp (whole seconds)
	ready, running   time.Time
	claim, node      string
	instanceType     string
	zone             string
	failure          string
	refusal          string
	refused          time.Time
	nominated        time.Time
}

// ResumeBound is how long after the new leader acquired the lease (or after the probe was created,
// when the leader kept it) Karpenter may take to create the probe's NodeClaim: the new leader's
// controller start (startup), one full batch window (BATCH_MAX_DURATION: the provisioner waits for
// the window to close, at most this long), and the slack.
func ResumeBound(startup, batchMax, slack time.Duration, leaderHit bool) (time.Duration, string) {
	if !leaderHit {
		return batchMax + slack, fmt.Sprintf("the leader kept the lease: batch window max %s + slack %s", batchMax, slack)
	}
	return startup + batchMax + slack, fmt.Sprintf("new leader's controller start %s + batch window max %s + slack %s", startup, batchMax, slack)
}

func fromSeconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// judgeProbe fills the report: the milestones, and PASS only when the new leader (or the leader that
// kept the lease) created the NodeClaim within ResumeBound and the probe ran within the launch
// allowance after it.
func judgeProbe(in probeInput) *ProbeReport {
	pl := in.plan
	r := &ProbeReport{Pod: pl.Namespace + "/" + pl.Pod, NodePool: pl.NodePool, NodeClaim: in.claim, Node: in.node, InstanceType: in.instanceType, Zone: in.zone, Result: Fail}
	since := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return t.Sub(in.action).Seconds()
	}
	r.CreatedSeconds, r.UnschedulableSeconds, r.NodeClaimSeconds = since(in.created), since(in.unschedulable), since(in.claimSeen)
	r.NodeReadySeconds, r.RunningSeconds = since(in.ready), since(in.running)
	r.Refusal, r.RefusedSeconds = in.refusal, since(in.refused)
	bound, why := ResumeBound(fromSeconds(pl.StartupSeconds), fromSeconds(pl.BatchMaxSeconds), in.slack, in.leaderHit)
	r.ResumeBoundSeconds, r.ResumeBound = bound.Seconds(), why
	launch := fromSeconds(pl.LaunchSeconds) + in.slack
	r.LaunchBoundSeconds, r.LaunchBound = launch.Seconds(), fmt.Sprintf("launch allowance %s (%s) + slack %s", fromSeconds(pl.LaunchSeconds), pl.LaunchFrom, in.slack)
	base, baseName := in.acquired, "the new leader acquired the lease"
	if !in.leaderHit {
		base, baseName = in.created, "the probe was created"
	}
	switch {
	case in.failure != "":
		r.Reason = "probe failed: " + in.failure
		return r
	case in.claimSeen.IsZero() && in.refusal != "":
		r.Reason = refusalReason(in.refusal)
		return r
	case in.leaderHit && in.acquired.IsZero():
		r.Reason = "no new leader acquired the lease, so provisioning never resumed"
		return r
	case in.claimSeen.IsZero() && !in.nominated.IsZero():
		r.Reason = fmt.Sprintf("Karpenter nominated the probe %.1fs after the action, but no NodeClaim of NodePool %s was created for it", since(in.nominated), pl.NodePool)
		return r
	case in.claimSeen.IsZero():
		r.Reason = fmt.Sprintf("provisioning did not resume: no NodeClaim was created for the probe and Karpenter said nothing about it, no FailedScheduling or Nominated event (created %.1fs after the action, unschedulable: %t)", r.CreatedSeconds, !in.unschedulable.IsZero())
		return r
	case in.leaderHit && in.claimCreation.Before(in.acquired.Truncate(time.Second)):
		r.Reason = fmt.Sprintf("NodeClaim %s was created at %s, before the new leader acquired the lease at %s: the old leader launched it before it stopped, so this drill did not measure the new leader",
			in.claim, in.claimCreation.UTC().Format(time.RFC3339), in.acquired.UTC().Format(time.RFC3339Nano))
		return r
	}
	r.CreatedBy = in.newLeader
	resume := in.claimSeen.Sub(base)
	r.ResumeSeconds = resume.Seconds()
	if resume > bound {
		r.Reason = fmt.Sprintf("provisioning resumed %.3fs after the action: NodeClaim %s %.3fs after %s > %.3fs (%s)", r.NodeClaimSeconds, in.claim, resume.Seconds(), baseName, bound.Seconds(), why)
		return r
	}
	if in.running.IsZero() {
		r.Reason = fmt.Sprintf("provisioning resumed %.3fs after the action (NodeClaim %s), but the probe never ran", r.NodeClaimSeconds, in.claim)
		return r
	}
	l := in.running.Sub(in.claimSeen)
	r.LaunchSeconds = l.Seconds()
	if l > launch {
		r.Reason = fmt.Sprintf("provisioning resumed %.3fs after the action, but the probe ran %.3fs after its NodeClaim > %.3fs (%s)", r.NodeClaimSeconds, l.Seconds(), launch.Seconds(), r.LaunchBound)
		return r
	}
	r.Result = Pass
	r.Reason = fmt.Sprintf("provisioning resumed after %.3fs (NodeClaim %s %.3fs after %s ≤ %.3fs: %s); probe Running after %.3fs",
		r.NodeClaimSeconds, in.claim, resume.Seconds(), baseName, bound.Seconds(), why, r.RunningSeconds)
	return r
}

// input is the prober's observations for judgeProbe.
func (pr *prober) input() probeInput {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	in := probeInput{plan: pr.plan, created: pr.created, unschedulable: pr.unschedulable, running: pr.running,
		claim: pr.claim, node: pr.node, failure: pr.failure, refusal: pr.refusal, refused: pr.refused, nominated: pr.nominatedAt}
	if cl := pr.claims[pr.claim]; cl != nil {
		in.claimSeen, in.claimCreation, in.ready, in.instanceType, in.zone = cl.seen, cl.creation, cl.ready, cl.instanceType, cl.zone
		// The scheduler binds only to a Ready node: its node was Ready by the binding at the latest
		// (the NodeClaim watch may deliver its Ready condition after the pod watch the binding).
		if !pr.scheduled.IsZero() && (in.ready.IsZero() || in.ready.After(pr.scheduled)) {
			in.ready = pr.scheduled
		}
	}
	return in
}

// finishProbe judges the probe on the drill's timeline and deletes the probe pod and its NodeClaim,
// on every exit of Run (on a context that outlives Ctrl-C). A probe that did not PASS, or that could
// not be cleaned up, fails a drill that passed otherwise.
func (ru *run) finishProbe(pr *prober) {
	if pr == nil {
		return
	}
	r, p := ru.r, ru.p
	in := pr.input()
	in.action, in.leaderHit, in.newLeader, in.slack = r.ActionTime, p.Plan.leaderHit(), r.NewLeader, p.opts.Slack
	if !in.leaderHit {
		in.newLeader = p.Plan.Leader + " (kept the lease)"
	}
	for _, e := range r.Timeline {
		if e.Kind == EvAcquired {
			in.acquired = e.Time
		}
	}
	rep := judgeProbe(in)
	if pr.err != nil {
		ru.apiError(fmt.Errorf("probe: %w", pr.err))
	}
	cctx, cancel := ru.cleanupContext()
	defer cancel()
	rep.CleanedUp, rep.CleanupErrors = pr.cleanup(cctx)
	for _, d := range rep.CleanedUp {
		ru.emit(Event{Time: p.opts.Now(), Kind: EvProbeDeleted, Detail: d})
	}
	r.Probe = rep
	if len(rep.CleanupErrors) > 0 {
		r.Explanation = append(r.Explanation, fmt.Sprintf("could not clean up the probe: %s; run `kubectl karpctl drill restore`", strings.Join(rep.CleanupErrors, "; ")))
		ru.restoreFailed(fmt.Errorf("cleaning up the probe: %s", strings.Join(rep.CleanupErrors, "; ")))
	}
	if rep.Refusal != "" && rep.NodeClaim == "" {
		r.Explanation = append(r.Explanation, "Karpenter refused the probe pod karpctl built, so the probe says nothing about Karpenter's failover: the preflight's scheduler run accepted it; please report this with the refusal")
	}
	switch {
	case r.Result == Pass && (rep.Result != Pass || len(rep.CleanupErrors) > 0):
		r.Result = Fail
		r.Reason += "; probe: " + rep.Reason
	case r.Result == Pass:
		r.Reason += fmt.Sprintf("; provisioning resumed after %.3fs (probe Running after %.3fs)", rep.NodeClaimSeconds, rep.RunningSeconds)
	}
}
