package topology

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/karpctl/karpctl/internal/topology/sariftest"
)

// The log is valid SARIF 2.1.0 by the published schema, live (logical locations only) and offline
// (the manifest as physical location).
func TestSARIFIsValid(t *testing.T) {
	r := Evaluate(newScenario(chart("kube-system")).pod("k-1", "a1").pod("k-2", "a1").in, Options{})
	if len(r.Findings) == 0 {
		t.Fatal("no findings")
	}
	for _, files := range [][]string{nil, {"chart.yaml"}} {
		b, err := json.Marshal(ToSARIF(r, "test", files))
		if err != nil {
			t.Fatal(err)
		}
		if err := sariftest.Validate(b); err != nil {
			t.Fatal(err)
		}
	}
}

// The validator rejects what the schema forbids and what code scanning needs beyond it.
func TestSARIFValidatorRejects(t *testing.T) {
	for doc, want := range map[string]string{
		`{"version":"2.1.0","$schema":"https://x.example/s","runs":[{"tool":{"driver":{"name":"x","rules":[]}},"results":[{"ruleId":"nope","message":{"text":"m"},"locations":[{}]}]}]}`: "not among the rules",
		`{"version":"2.1.0","$schema":"https://x.example/s","runs":[{"tool":{"driver":{"name":"x","rules":[{"id":"a"}]}},"results":[{"ruleId":"a","message":{"text":"m"}}]}]}`:           "locations empty",
		`{"version":"2.1.0","$schema":"https://x.example/s","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"a","level":"fatal","message":{"text":"m"}}]}]}`:                "level",
		`{"version":"2.0.0","$schema":"https://x.example/s","runs":[]}`: "version",
		`{"version":"2.1.0","runs":[{"tool":{"driver":{}}}]}`:           "name",
	} {
		err := sariftest.Validate([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one about %s", doc, err, want)
		}
	}
}
