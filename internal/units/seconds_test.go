package units

import (
	"encoding/json"
	"testing"
	"time"
)

func TestSecondsJSON(t *testing.T) {
	type doc struct {
		A Seconds `json:"a"`
		B Seconds `json:"b,omitempty"`
	}
	for _, d := range []time.Duration{0, 1500 * time.Millisecond, 15 * time.Second, 2*time.Minute + 3*time.Millisecond, 4100 * time.Microsecond} {
		got, err := json.Marshal(doc{A: Seconds(d)})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(struct {
			A float64 `json:"a"`
		}{d.Seconds()})
		if string(got) != string(want) {
			t.Errorf("%v: %s, want %s (as a float64 of seconds)", d, got, want)
		}
		var back doc
		if err := json.Unmarshal(got, &back); err != nil || back.A.Duration() != d {
			t.Errorf("%v: read back %v, %v", d, back.A.Duration(), err)
		}
	}
	if b, _ := json.Marshal(doc{B: Seconds(time.Second)}); string(b) != `{"a":0,"b":1}` {
		t.Errorf("got %s", b)
	}
	var s Seconds
	if err := json.Unmarshal([]byte(`"1s"`), &s); err == nil {
		t.Error("a string was read as seconds")
	}
}
