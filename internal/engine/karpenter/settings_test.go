package karpenter

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"strings"
	"testing"

	awsoptions "github.com/aws/karpenter-provider-aws/pkg/operator/options"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	coreoptions "sigs.k8s.io/karpenter/pkg/operator/options"
)

// Each setting's environment variable is the one Karpenter's AddFlags reads for its flag: setting
// the variable changes what AddFlags registers.
func TestEnvNamesAreKarpenters(t *testing.T) {
	raw := func() (*coreoptions.Options, *awsoptions.Options, map[string]string) {
		c, a := &coreoptions.Options{}, &awsoptions.Options{}
		fs := &coreoptions.FlagSet{FlagSet: flag.NewFlagSet("t", flag.ContinueOnError)}
		c.AddFlags(fs)
		a.AddFlags(fs)
		defs := map[string]string{}
		fs.VisitAll(func(f *flag.Flag) { defs[f.Name] = f.DefValue })
		return c, a, defs
	}
	defs := catalogOnce()
	if len(defs) < 30 {
		t.Fatalf("only %d settings found", len(defs))
	}
	for _, d := range defs {
		t.Run(d.Name, func(t *testing.T) {
			c0, a0, v0 := raw()
			for _, candidate := range []string{"true", "false", "7", "7m", "x"} {
				t.Setenv(d.Name, candidate)
				c, a, v := raw()
				if v[d.Flag] != v0[d.Flag] || !reflect.DeepEqual(c, c0) || !reflect.DeepEqual(a, a0) {
					return
				}
			}
			t.Errorf("setting %s does not change flag --%s", d.Name, d.Flag)
		})
	}
}

func TestDefaultsAreKarpentersAndIgnoreTheShell(t *testing.T) {
	t.Setenv("MIN_VALUES_POLICY", "BestEffort")
	t.Setenv("FEATURE_GATES", "NodeOverlay=true")
	t.Setenv("VM_MEMORY_OVERHEAD_PERCENT", "0.5")
	s, err := Resolve(context.Background(), Input{})
	if err != nil {
		t.Fatal(err)
	}
	o := s.Options()
	if o.MinValuesPolicy != coreoptions.MinValuesPolicyStrict || o.PreferencePolicy != coreoptions.PreferencePolicyRespect {
		t.Errorf("policies = %s, %s; want Karpenter's defaults", o.MinValuesPolicy, o.PreferencePolicy)
	}
	if !reflect.DeepEqual(o.FeatureGates, coreoptions.DefaultFeatureGates()) {
		t.Errorf("feature gates = %+v, want Karpenter's defaults", o.FeatureGates)
	}
	if !o.IgnoreDRARequests {
		t.Error("IGNORE_DRA_REQUESTS default is true in Karpenter")
	}
	if got := awsoptions.FromContext(s.Context(context.Background())).VMMemoryOverheadPercent; got != 0.075 {
		t.Errorf("VM_MEMORY_OVERHEAD_PERCENT = %v, want the provider's 0.075", got)
	}
	if nd := s.NonDefault(); len(nd) != 0 {
		t.Errorf("NonDefault = %+v, want none", nd)
	}
	want := map[string]string{"IGNORE_DRA_REQUESTS": "true", "DISABLE_CONTROLLER_WARMUP": "true", "ENABLE_PROFILING": "false",
		"MIN_VALUES_POLICY": "Strict", "RESERVED_ENIS": "0", "BATCH_MAX_DURATION": "10s"}
	for _, st := range s.Settings {
		if w, ok := want[st.Name]; ok && st.Default != w {
			t.Errorf("%s default = %q, want %q", st.Name, st.Default, w)
		}
	}
}

func controller(env []corev1.EnvVar, args ...string) *corev1.Container {
	return &corev1.Container{Name: "controller", Env: env, Args: args}
}

func cmGetter(cms map[string]*corev1.ConfigMap, calls *int, err error) ConfigMapGetter {
	return func(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
		*calls++
		if err != nil {
			return nil, err
		}
		if cm, ok := cms[ns+"/"+name]; ok {
			return cm, nil
		}
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
	}
}

func cmRef(name, key string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}}
}

func TestResolveFromDeployment(t *testing.T) {
	cms := map[string]*corev1.ConfigMap{"karpenter/settings": {ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data: map[string]string{"minValues": "BestEffort", "overhead": "0.1"}}}
	calls := 0
	d := &Deployment{Namespace: "karpenter", Name: "karpenter", ConfigMaps: cmGetter(cms, &calls, nil), Container: controller([]corev1.EnvVar{
		{Name: "FEATURE_GATES", Value: "NodeOverlay=true,StaticCapacity=true"},
		{Name: "MIN_VALUES_POLICY", ValueFrom: cmRef("settings", "minValues")},
		{Name: "VM_MEMORY_OVERHEAD_PERCENT", ValueFrom: cmRef("settings", "overhead")},
		{Name: "PREFERENCE_POLICY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}},
		{Name: "MEMORY_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}},
		{Name: "IGNORE_DRA_REQUESTS", Value: "0"},
		{Name: "SYSTEM_NAMESPACE", Value: "karpenter"},
		{Name: "RESERVED_ENIS", Value: "1"},
	}, "--reserved-enis=2", "--log-level", "debug")}
	s, err := Resolve(context.Background(), Input{Deployment: d, Overrides: []string{"PREFERENCE_POLICY=Ignore"}})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("ConfigMap GETs = %d, want 1 (one per referenced ConfigMap)", calls)
	}
	o := s.Options()
	if !o.FeatureGates.NodeOverlay || !o.FeatureGates.StaticCapacity || !o.FeatureGates.ReservedCapacity {
		t.Errorf("feature gates = %+v", o.FeatureGates)
	}
	if o.MinValuesPolicy != coreoptions.MinValuesPolicyBestEffort || o.PreferencePolicy != coreoptions.PreferencePolicyIgnore || o.IgnoreDRARequests {
		t.Errorf("options = %+v", o)
	}
	aws := awsoptions.FromContext(s.Context(context.Background()))
	if aws.VMMemoryOverheadPercent != 0.1 || aws.ReservedENIs != 2 {
		t.Errorf("aws options = %+v", aws)
	}
	sources := map[string]string{}
	for _, st := range s.NonDefault() {
		sources[st.Name] = st.Value + " from " + st.Source
	}
	want := map[string]string{
		"FEATURE_GATES":              "NodeOverlay=true,StaticCapacity=true from Deployment karpenter/karpenter env",
		"MIN_VALUES_POLICY":          "BestEffort from ConfigMap karpenter/settings key minValues",
		"VM_MEMORY_OVERHEAD_PERCENT": "0.1 from ConfigMap karpenter/settings key overhead",
		"PREFERENCE_POLICY":          "Ignore from --karpenter-setting",
		"IGNORE_DRA_REQUESTS":        "false from Deployment karpenter/karpenter env",
		"RESERVED_ENIS":              "2 from Deployment karpenter/karpenter args",
		"LOG_LEVEL":                  "debug from Deployment karpenter/karpenter args",
	}
	if !reflect.DeepEqual(sources, want) {
		t.Errorf("non-default settings:\n got %v\nwant %v", sources, want)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "PREFERENCE_POLICY comes from Secret karpenter/s") {
		t.Errorf("warnings = %q, want one for the Secret reference (not for MEMORY_LIMIT)", s.Warnings)
	}
}

func TestResolveRefusesWhatKarpenterRefuses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       []corev1.EnvVar
		args      []string
		overrides []string
		wantName  string
		wantErr   string
	}{
		{name: "policy in env", env: []corev1.EnvVar{{Name: "MIN_VALUES_POLICY", Value: "Sloppy"}}, wantName: "MIN_VALUES_POLICY", wantErr: `invalid MIN_VALUES_POLICY "Sloppy"`},
		{name: "duration in env", env: []corev1.EnvVar{{Name: "BATCH_MAX_DURATION", Value: "soon"}}, wantName: "BATCH_MAX_DURATION", wantErr: "batch-max-duration"},
		{name: "gate value", overrides: []string{"FEATURE_GATES=NodeOverlay=maybe"}, wantName: "FEATURE_GATES", wantErr: "maybe"},
		{name: "unknown gate in override", overrides: []string{"FEATURE_GATES=NodeOverley=true"}, wantName: "FEATURE_GATES", wantErr: "unknown feature gate NodeOverley"},
		{name: "negative ENIs", overrides: []string{"RESERVED_ENIS=-1"}, wantName: "RESERVED_ENIS", wantErr: "reserved-enis cannot be negative"},
		{name: "scheduler config", overrides: []string{"SCHEDULER_CONFIG=podTopologySpread: {defaultConstraints: [{maxSkew: 0}]}"}, wantName: "SCHEDULER_CONFIG", wantErr: "maxSkew must be greater than 0"},
		{name: "unknown flag", args: []string{"--no-such-flag=1"}, wantName: "--no-such-flag=1", wantErr: "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Deployment{Namespace: "k", Name: "karpenter", Container: controller(tc.env, tc.args...)}
			_, err := Resolve(context.Background(), Input{Deployment: d, Overrides: tc.overrides})
			var se *SettingError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *SettingError", err)
			}
			if se.Name != tc.wantName || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want it about %s saying %q", err, tc.wantName, tc.wantErr)
			}
		})
	}
	if _, err := Resolve(context.Background(), Input{Overrides: []string{"MIN_VALUE_POLICY=BestEffort"}}); !errors.Is(err, ErrUnknownSetting) {
		t.Errorf("unknown name: err = %v", err)
	}
}

func TestResolveWarnsWhatItCannotRead(t *testing.T) {
	calls := 0
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "settings", errors.New("no"))
	d := &Deployment{Namespace: "karpenter", Name: "karpenter", ConfigMaps: cmGetter(nil, &calls, forbidden), Container: controller([]corev1.EnvVar{
		{Name: "MIN_VALUES_POLICY", ValueFrom: cmRef("settings", "minValues")},
		{Name: "PREFERENCE_POLICY", ValueFrom: cmRef("settings", "preference")},
		{Name: "FEATURE_GATES", Value: "NodeOverlay=true,Teleport=true"},
	})}
	s, err := Resolve(context.Background(), Input{Deployment: d})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("ConfigMap GETs = %d, want 1", calls)
	}
	all := strings.Join(s.Warnings, "\n")
	for _, w := range []string{"grant get on configmaps in namespace karpenter", "MIN_VALUES_POLICY from ConfigMap karpenter/settings not read",
		"unknown feature gate Teleport: Karpenter ignores it"} {
		if !strings.Contains(all, w) {
			t.Errorf("warnings %q lack %q", s.Warnings, w)
		}
	}
	if s.Options().MinValuesPolicy != coreoptions.MinValuesPolicyStrict || !s.Options().FeatureGates.NodeOverlay {
		t.Errorf("options = %+v", s.Options())
	}
}

// A boolean env var is read as Karpenter's env.WithDefaultBool reads it: what strconv.ParseBool
// accepts ("0", "TRUE", "False"), and Karpenter's default, with a warning, for anything else.
func TestResolveReadsBooleansAsKarpenter(t *testing.T) {
	for _, tc := range []struct {
		value  string
		want   bool
		warned bool
	}{{"0", false, false}, {"FALSE", false, false}, {"False", false, false}, {"TrUe", true, true}, {"no", true, true}, {"", true, true}} {
		d := &Deployment{Namespace: "karpenter", Name: "karpenter", Container: controller([]corev1.EnvVar{{Name: "IGNORE_DRA_REQUESTS", Value: tc.value}})}
		s, err := Resolve(context.Background(), Input{Deployment: d})
		if err != nil {
			t.Fatalf("%q: %v", tc.value, err)
		}
		warned := strings.Contains(strings.Join(s.Warnings, "\n"), fmt.Sprintf("IGNORE_DRA_REQUESTS=%q (Deployment karpenter/karpenter env) is not a boolean Karpenter reads: it runs with the default, true", tc.value))
		if s.Options().IgnoreDRARequests != tc.want || warned != tc.warned {
			t.Errorf("IGNORE_DRA_REQUESTS=%q: %v (warnings %q); want %v, warned %v", tc.value, s.Options().IgnoreDRARequests, s.Warnings, tc.want, tc.warned)
		}
	}
}
