package karpenter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// FuzzResolve feeds one setting, as --karpenter-setting NAME=VALUE and as the controller
// container's environment variable and argument, through Karpenter's and the provider's parsers: it
// never panics, an error is one line, and settings that parse give the same settings when parsed
// again from what they report.
func FuzzResolve(f *testing.F) {
	for _, s := range [][2]string{
		{"FEATURE_GATES", "NodeOverlay=true,StaticCapacity=true"}, {"FEATURE_GATES", "Nope=true"},
		{"MIN_VALUES_POLICY", "BestEffort"}, {"PREFERENCE_POLICY", "Ignore"}, {"BATCH_MAX_DURATION", "10s"},
		{"BATCH_IDLE_DURATION", "-1s"}, {"VM_MEMORY_OVERHEAD_PERCENT", "0.075"}, {"RESERVED_ENIS", "x"},
		{"AWS_FEATURE_GATES", ""}, {"IGNORE_DRA_REQUESTS", "maybe"}, {"", "="}, {"CPU_REQUESTS", "1e400"},
	} {
		f.Add(s[0], s[1])
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, name, value string) {
		check := func(how string, s *Settings, err error) {
			if s != nil {
				for _, w := range s.Warnings {
					if strings.Contains(w, "\n") {
						t.Errorf("%s: warning of more than one line: %q", how, w)
					}
				}
			}
			if err != nil {
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("%s: error of more than one line: %q", how, err)
				}
				return
			}
			var again []string
			for _, st := range s.NonDefault() {
				again = append(again, st.Name+"="+st.Value)
			}
			s2, err := Resolve(ctx, Input{Overrides: again})
			if err != nil {
				t.Fatalf("%s: the reported settings %q do not parse again: %v", how, again, err)
			}
			if a, b := changed(s), changed(s2); a != b {
				t.Errorf("%s: parsed again from %q, changes\n%s\nwant\n%s", how, again, b, a)
			}
			if a, b := fmt.Sprintf("%+v", *s.Options()), fmt.Sprintf("%+v", *s2.Options()); a != b {
				t.Errorf("%s: parsed again from %q, Karpenter's options\n%s\nwant\n%s", how, again, b, a)
			}
		}
		s, err := Resolve(ctx, Input{Overrides: []string{name + "=" + value}})
		check("--karpenter-setting", s, err)
		c := &corev1.Container{Name: "controller", Env: []corev1.EnvVar{{Name: name, Value: value}}, Args: []string{"--" + name + "=" + value}}
		s, err = Resolve(ctx, Input{Deployment: &Deployment{Namespace: "karpenter", Name: "karpenter", Container: c}})
		check("Deployment", s, err)
	})
}

func changed(s *Settings) string {
	var b strings.Builder
	for _, st := range s.NonDefault() {
		b.WriteString(st.Name + "=" + st.Value + "\n")
	}
	return b.String()
}
