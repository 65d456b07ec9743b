package health

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names a real Karpenter v1.15.0 serves on :8080/metrics (recorded in testdata/). There is no
// rest_client_requests_total and no leader_election_slowpath_total in v1.15.0.
const (
	MetricLeaderStatus    = "leader_election_master_status"
	MetricRequestTotal    = "client_go_request_total"
	MetricRequestDuration = "client_go_request_duration_seconds"
)

// ReplicaMetrics is what one replica's /metrics says about leadership and its API-server traffic.
type ReplicaMetrics struct {
	// LeaderStatus is leader_election_master_status for the lease name (nil when not exported:
	// client-go only registers it once the replica has run an election).
	LeaderStatus *float64 `json:"leaderStatus,omitempty"`
	// Requests is client_go_request_total summed over method, by status code.
	Requests map[string]float64 `json:"requestsByCode"`
	Total    float64            `json:"requestsTotal"`
	// Non2xx counts every code outside 2xx (including client-go's "<error>" for connection failures).
	Non2xx float64 `json:"non2xx"`
	// Errors are the codes that mean the API server could not serve the replica: 5xx, 429 and
	// connection errors. 404 and 409 are ordinary for a controller (not found, update conflict).
	Errors    float64 `json:"errors"`
	Throttled float64 `json:"throttled429"`
	// Latency from client_go_request_duration_seconds over every verb and kind.
	LatencyCount   uint64  `json:"latencyCount"`
	LatencyMeanSec float64 `json:"latencyMeanSeconds"`
	// LatencyP99Sec is the upper bound of the bucket holding the 99th percentile.
	LatencyP99Sec float64 `json:"latencyP99Seconds"`
}

// Non2xxShare is Non2xx/Total (0 without requests).
func (m ReplicaMetrics) Non2xxShare() float64 {
	if m.Total == 0 {
		return 0
	}
	return m.Non2xx / m.Total
}

// ErrorShare is Errors/Total (0 without requests).
func (m ReplicaMetrics) ErrorShare() float64 {
	if m.Total == 0 {
		return 0
	}
	return m.Errors / m.Total
}

// ParseMetrics reads Prometheus text exposition (what /metrics serves) with expfmt and extracts what
// health judges. leaseName selects the leader_election_master_status series (its "name" label).
func ParseMetrics(r io.Reader, leaseName string) (ReplicaMetrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return ReplicaMetrics{}, fmt.Errorf("parsing metrics: %w", err)
	}
	m := ReplicaMetrics{Requests: map[string]float64{}}
	if f := fams[MetricLeaderStatus]; f != nil {
		for _, s := range f.GetMetric() {
			if leaseName != "" && label(s, "name") != leaseName {
				continue
			}
			v := value(s)
			m.LeaderStatus = &v
			break
		}
	}
	if f := fams[MetricRequestTotal]; f != nil {
		for _, s := range f.GetMetric() {
			code, v := label(s, "code"), value(s)
			m.Requests[code] += v
			m.Total += v
			if !strings.HasPrefix(code, "2") {
				m.Non2xx += v
			}
			if code == "429" {
				m.Throttled += v
			}
			if code == "429" || strings.HasPrefix(code, "5") || code == "<error>" {
				m.Errors += v
			}
		}
	}
	if f := fams[MetricRequestDuration]; f != nil {
		buckets := map[float64]uint64{}
		var sum float64
		for _, s := range f.GetMetric() {
			h := s.GetHistogram()
			if h == nil {
				continue
			}
			m.LatencyCount += h.GetSampleCount()
			sum += h.GetSampleSum()
			for _, b := range h.GetBucket() {
				buckets[b.GetUpperBound()] += b.GetCumulativeCount()
			}
		}
		if m.LatencyCount > 0 {
			m.LatencyMeanSec = sum / float64(m.LatencyCount)
			m.LatencyP99Sec = quantileBound(buckets, m.LatencyCount, 0.99)
		}
	}
	return m, nil
}

// quantileBound is the upper bound of the first cumulative bucket reaching q of count (+Inf when
// only the overflow bucket does).
func quantileBound(buckets map[float64]uint64, count uint64, q float64) float64 {
	bounds := make([]float64, 0, len(buckets))
	for b := range buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	want := uint64(math.Ceil(q * float64(count)))
	for _, b := range bounds {
		if buckets[b] >= want {
			return b
		}
	}
	return math.Inf(1)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}
