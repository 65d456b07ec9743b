package lease

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"

	"github.com/karpctl/karpctl/internal/discovery"
)

// Exporter is a prometheus.Collector for one Karpenter lease, for clusters where Karpenter's own
// metrics are not scraped. Each scrape evaluates the lease, Karpenter's pods and their nodes (the same
// answer as `kubectl karpctl lease`) at the scrape's time: from the informer caches StartCache keeps
// (no API request per scrape, as kube-state-metrics answers), or, without them, with one Read.
// Holder changes, releases, expiries and failover gaps need every change seen, not just the state at
// scrape time: Run follows the lease with Watch in the background and counts its Events.
type Exporter struct {
	c   kubernetes.Interface
	k   *discovery.Karpenter
	now func() time.Time
	// ScrapeTimeout bounds the reads of one scrape.
	ScrapeTimeout time.Duration
	// OnWatchError, when set, hears why the background watch stopped before it is restarted.
	OnWatchError func(error)

	mu       sync.Mutex
	cache    *Cache // nil until StartCache
	tally    Tally  // across watch restarts
	watching bool
	// silentSince is when the watch last heard from the API server, while it reports it silent.
	silentSince time.Time

	up, holder, renewAge, duration, staleAfter, transitions, verdict, candidates *prometheus.Desc
	changesD, releasesD, expiriesD, lastGapD, longestGapD, watchUp, silentD      *prometheus.Desc
}

// Verdicts lists every verdict, for the karpctl_lease_verdict state set.
var Verdicts = []Verdict{Healthy, Stale, Expired, NoHolder, Orphaned, Disabled, Missing}

// NewExporter describes the metrics of Karpenter k's lease; every series carries its namespace and name
// as lease_namespace and lease (not "namespace", which Prometheus sets from the scrape target).
func NewExporter(c kubernetes.Interface, k *discovery.Karpenter, now func() time.Time) *Exporter {
	if now == nil {
		now = time.Now
	}
	cl := prometheus.Labels{"lease_namespace": k.LeaseNamespace, "lease": k.LeaseName}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("karpctl_lease_"+name, help, labels, cl)
	}
	return &Exporter{
		c: c, k: k, now: now, ScrapeTimeout: 5 * time.Second,
		up:          d("up", "1 when the last scrape read the lease, Karpenter's pods and nodes; 0 when a read failed or the lease watch reports the API server silent."),
		holder:      d("holder_info", "The lease's holder identity and the Karpenter pod it resolves to (pod is empty when it matches none); absent without a holder.", "holder", "pod", "node", "zone"),
		renewAge:    d("renew_age_seconds", "Seconds since the holder last renewed the lease (now − spec.renewTime); grows when the leader is gone."),
		duration:    d("duration_seconds", "The lease's spec.leaseDurationSeconds (15 when unset): past this renew age the lease has expired."),
		staleAfter:  d("stale_after_seconds", "Renew age past which karpctl judges the lease Stale (2/3 of the duration, the renew deadline)."),
		transitions: d("transitions", "The lease's spec.leaseTransitions, as written by client-go."),
		verdict:     d("verdict", "1 for the lease's current verdict (the one `kubectl karpctl lease` prints), 0 for the others.", "verdict"),
		candidates:  d("candidates", "Karpenter pods by role (leader or follower) and readiness.", "role", "ready"),
		changesD:    d("holder_changes_total", "Times the lease passed from one holder to another while this exporter watched."),
		releasesD:   d("releases_total", "Times the holder released the lease (emptied holderIdentity) while this exporter watched."),
		expiriesD:   d("expiries_total", "Times the lease expired (renew age passed the duration with no new holder) while this exporter watched."),
		lastGapD:    d("last_gap_seconds", "Time without a leader before the last acquisition: its acquireTime − the previous holder's last renewTime."),
		longestGapD: d("longest_gap_seconds", "The longest such gap while this exporter watched."),
		watchUp:     d("watch_up", "1 while the background watch of the lease is running."),
		silentD:     d("api_silent_seconds", "While the lease watch reports the API server silent (quiet past the stale threshold, a fresh read timed out or failed): seconds since it last answered; 0 otherwise. Renew age and verdict are then unknown and not exported."),
	}
}

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{e.up, e.holder, e.renewAge, e.duration, e.staleAfter, e.transitions, e.verdict,
		e.candidates, e.changesD, e.releasesD, e.expiriesD, e.lastGapD, e.longestGapD, e.watchUp, e.silentD} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one Read per scrape plus the watch's counters. While the
// watch reports the API server silent, the scrape does not wait on a Read that cannot answer: up is 0
// and the lease's state is left out (it is unknown, not stale).
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), e.ScrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	e.mu.Lock()
	since := e.silentSince
	e.mu.Unlock()
	var st Status
	err := fmt.Errorf("the API server is silent")
	if since.IsZero() {
		st, err = e.read(ctx)
	}
	silent := 0.0
	if !since.IsZero() {
		silent = e.now().Sub(since).Seconds()
	}
	gauge(e.silentD, silent)
	if err != nil {
		gauge(e.up, 0)
	} else {
		gauge(e.up, 1)
		if st.HolderIdentity != "" {
			var pod, node, zone string
			if st.Holder != nil {
				pod, node, zone = st.Holder.Pod, st.Holder.Node, st.Holder.Zone
			}
			gauge(e.holder, 1, st.HolderIdentity, pod, node, zone)
		}
		if st.RenewTime != nil {
			gauge(e.renewAge, st.RenewAge.Duration().Seconds())
		}
		gauge(e.duration, st.LeaseDuration.Duration().Seconds())
		gauge(e.staleAfter, st.StaleAfter.Duration().Seconds())
		gauge(e.transitions, float64(st.Transitions))
		for _, v := range Verdicts {
			b := 0.0
			if st.Verdict == v {
				b = 1
			}
			gauge(e.verdict, b, string(v))
		}
		counts := map[[2]string]float64{{"leader", "true"}: 0, {"leader", "false"}: 0, {"follower", "true"}: 0, {"follower", "false"}: 0}
		for _, c := range st.Candidates {
			ready := "false"
			if c.Ready {
				ready = "true"
			}
			counts[[2]string{c.Role, ready}]++
		}
		for k, n := range counts {
			gauge(e.candidates, n, k[0], k[1])
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(e.changesD, prometheus.CounterValue, float64(e.tally.HolderChanges))
	ch <- prometheus.MustNewConstMetric(e.releasesD, prometheus.CounterValue, float64(e.tally.Releases))
	ch <- prometheus.MustNewConstMetric(e.expiriesD, prometheus.CounterValue, float64(e.tally.Expiries))
	if e.tally.Gaps > 0 {
		gauge(e.lastGapD, e.tally.LastGap.Seconds())
		gauge(e.longestGapD, e.tally.LongestGap.Seconds())
	}
	w := 0.0
	if e.watching {
		w = 1
	}
	gauge(e.watchUp, w)
}

// StartCache makes every later scrape answer from informer caches of the lease, Karpenter's pods
// and their nodes, kept until ctx ends, instead of reading them.
func (e *Exporter) StartCache(ctx context.Context) {
	ch := NewCache(ctx, e.c, e.k)
	e.mu.Lock()
	e.cache = ch
	e.mu.Unlock()
}

// read is the lease's state now: from the caches once they have synced (the first scrapes wait for
// that, up to the scrape's timeout), else with Read.
func (e *Exporter) read(ctx context.Context) (Status, error) {
	e.mu.Lock()
	ch := e.cache
	e.mu.Unlock()
	if ch == nil {
		return Read(ctx, e.c, e.k, e.now)
	}
	if err := ch.WaitForSync(ctx); err != nil {
		return Status{}, err
	}
	return ch.Status(e.now())
}

// Observe counts one watch Event and follows the API server's silences; Run feeds it, tests may too.
func (e *Exporter) Observe(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tally.Add(ev)
	switch ev.Kind {
	case EventSilent:
		e.silentSince = ev.Time.Add(-ev.Silence.Duration())
	case EventResumed:
		e.silentSince = time.Time{}
	}
}

// Run watches the lease until ctx ends, restarting the watch after an error (one second later).
func (e *Exporter) Run(ctx context.Context) {
	if e.k.LeaderElectionDisabled {
		return
	}
	for ctx.Err() == nil {
		e.setWatching(true)
		_, err := Watch(ctx, e.c, e.k.LeaseNamespace, e.k.LeaseName, e.Observe)
		e.setWatching(false)
		if ctx.Err() != nil {
			return
		}
		if err != nil && e.OnWatchError != nil {
			e.OnWatchError(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (e *Exporter) setWatching(b bool) {
	e.mu.Lock()
	e.watching = b
	if !b {
		e.silentSince = time.Time{} // the next watch judges the API server afresh
	}
	e.mu.Unlock()
}
