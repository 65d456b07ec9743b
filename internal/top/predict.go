package top

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/explain"
	"github.com/karpctl/karpctl/internal/units"
)

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

// Predictions are the last ones made (nil before the first).
func (l *Live) Predictions() *Predictions { return l.preds.Load() }

// Predicting reports whether a prediction is running now.
func (l *Live) Predicting() bool { return l.predicting.Load() }

// Predict computes prices, plan and disrupt over the caches as they are now and keeps the result.
// It runs on the caller's goroutine; RunPredictions calls it in the background.
func (l *Live) Predict(ctx context.Context) *Predictions {
	l.predicting.Store(true)
	defer l.predicting.Store(false)
	snap := l.Snapshot()
	var prices map[string]float64
	var plan *engine.Result
	var dis *engine.DisruptResult
	planRun, disRun := Computed{}, Computed{}
	src, err := l.opts.Source(snap)
	if err == nil {
		prices, err = engine.NodePrices(ctx, snap, src)
	}
	if err != nil {
		planRun = Computed{At: time.Now(), Error: err.Error()}
		disRun = planRun
	} else {
		t0 := time.Now()
		plan, err = engine.Plan(ctx, snap, engine.Options{InstanceTypes: src})
		planRun = Computed{At: time.Now(), Took: units.Seconds(time.Since(t0)), Error: errText(err)}
		if dsrc, err := l.opts.Source(snap); err == nil {
			// Disrupt reads PodDisruptionBudgets too; its snapshot is the same caches'.
			t0 = time.Now()
			dis, err = engine.Disrupt(ctx, snap, dsrc, engine.DisruptOptions{})
			disRun = Computed{At: time.Now(), Took: units.Seconds(time.Since(t0)), Error: errText(err)}
		}
	}
	p := NewPredictions(prices, plan, planRun, dis, disRun)
	l.preds.Store(p)
	l.touch()
	return p
}

func errText(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, engine.ErrNoUsableNodePool):
		return "no usable NodePool: " + err.Error()
	}
	return err.Error()
}

// predictPoll is how often RunPredictions looks for a change (a counter in memory, no request).
const predictPoll = 100 * time.Millisecond

// RunPredictions waits until every kind has been read, then predicts when something changed since
// the last prediction, at most once per interval, until ctx ends. A change after a quiet interval is
// predicted at once, not at the next tick of a fixed clock.
func (l *Live) RunPredictions(ctx context.Context) {
	// A prediction over half-read caches would report a cluster without NodePools.
	if l.WaitSynced(ctx) != nil {
		return
	}
	var (
		last   uint64 = ^uint64(0)
		lastAt time.Time
	)
	t := time.NewTicker(min(predictPoll, l.opts.PredictInterval))
	defer t.Stop()
	for {
		if g := l.gen.Load(); g != last && time.Since(lastAt) >= l.opts.PredictInterval {
			lastAt = time.Now()
			l.Predict(ctx)
			// Predict's own signal (one change) is not a change of the cluster.
			last = g + 1
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ExplainPod explains the pod NAMESPACE/NAME over the caches as they are now, as `karpctl explain`
// does: the plan's outcome for it and every NodePool's verdict with the constraints that block it.
func (l *Live) ExplainPod(ctx context.Context, namespace, name string) (*explain.Report, error) {
	snap := l.Snapshot()
	src, err := l.opts.Source(snap)
	if err != nil {
		return nil, err
	}
	e, err := explain.Pod(ctx, snap, namespace, name, engine.Options{InstanceTypes: src})
	if err != nil {
		return nil, err
	}
	k := ""
	if l.opts.Karpenter != nil {
		k = l.opts.Karpenter.Version
	}
	return &explain.Report{Header: explain.Header{Mode: "live", EngineVersion: l.opts.EngineVersion, KarpenterVersion: k}, PodExplanation: e}, nil
}
