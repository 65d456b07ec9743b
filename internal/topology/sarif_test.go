package topology

import (
	"encoding/json"
	"testing"
)

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
		if err := ValidateSARIF(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := ValidateSARIF([]byte(`{"version":"2.1.0","$schema":"x","runs":[{"tool":{"driver":{"name":"x","rules":[]}},"results":[{"ruleId":"nope"}]}]}`)); err == nil {
		t.Fatal("validator accepted an unknown ruleId")
	}
}
