package health

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseMetrics feeds Karpenter /metrics text to ParseMetrics: an error or figures that add up
// (shares within [0, 1] whenever the counters are sane), never a panic.
func FuzzParseMetrics(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.metrics.txt")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, "karpenter-leader-election")
		}
	}
	f.Add([]byte("# TYPE client_go_request_total counter\nclient_go_request_total{code=\"429\"} 3\nclient_go_request_total{code=\"200\"} 7\n"), "")
	f.Add([]byte("# TYPE client_go_request_duration_seconds histogram\nclient_go_request_duration_seconds_bucket{le=\"+Inf\"} 2\nclient_go_request_duration_seconds_count 2\nclient_go_request_duration_seconds_sum 0.5\n"), "")
	f.Add([]byte("leader_election_master_status{name=\"x\"} NaN\n"), "x")
	f.Fuzz(func(t *testing.T, text []byte, lease string) {
		m, err := ParseMetrics(bytes.NewReader(text), lease)
		if err != nil {
			return
		}
		if m.Requests == nil {
			t.Fatal("nil Requests without an error")
		}
		sane := m.Total > 0 && m.Non2xx >= 0 && m.Errors >= 0 && m.Non2xx <= m.Total && m.Errors <= m.Total
		for _, v := range m.Requests {
			sane = sane && v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v)
		}
		if sane {
			if s := m.Non2xxShare(); s < 0 || s > 1 {
				t.Fatalf("non-2xx share %v of %+v", s, m)
			}
			if s := m.ErrorShare(); s < 0 || s > 1 {
				t.Fatalf("error share %v of %+v", s, m)
			}
		}
	})
}
