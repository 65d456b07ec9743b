// Package units holds the value types karpctl's reports share.
package units

import (
	"encoding/json"
	"time"
)

// Seconds is a duration that a report's JSON (and YAML) spells as a number of seconds, the way
// Kubernetes spells leaseDurationSeconds or terminationGracePeriodSeconds. In Go it is a
// time.Duration; omitempty drops it when zero.
type Seconds time.Duration

// Duration is s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) }

// String is s as a time.Duration prints it ("1.5s").
func (s Seconds) String() string { return time.Duration(s).String() }

// MarshalJSON writes s in seconds, as a JSON number.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(s).Seconds())
}

// UnmarshalJSON reads a number of seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*s = Seconds(f * float64(time.Second))
	return nil
}
