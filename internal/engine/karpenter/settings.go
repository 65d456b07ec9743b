// Package karpenter builds what Karpenter's code reads from its context — Karpenter's options and
// the AWS provider's — from the settings the cluster's Karpenter runs with: its Deployment's
// controller container (env, ConfigMap references, args) and karpctl's --karpenter-setting
// overrides. Every value is parsed by Karpenter's and the provider's own FlagSets
// (sigs.k8s.io/karpenter pkg/operator/options, karpenter-provider-aws pkg/operator/options); nothing
// here interprets a setting itself. It is the one place plan, disrupt, instance-types and the
// commands built on the engine get Karpenter's context from.
package karpenter

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/karpenter/pkg/operator/injection"
	coreoptions "sigs.k8s.io/karpenter/pkg/operator/options"
)

// SourceDefault and SourceFlag are the sources of a setting karpctl did not read from a
// Deployment: Karpenter's default and the --karpenter-setting flag.
const (
	SourceDefault = "default"
	SourceFlag    = "--karpenter-setting"
)

// Setting is one of Karpenter's (or the provider's) settings as karpctl runs Karpenter's code with it.
type Setting struct {
	// Name is the environment variable the Helm chart sets (FEATURE_GATES, MIN_VALUES_POLICY, …).
	Name string `json:"name"`
	// Flag is the controller's flag for it (without dashes); a flag beats the variable.
	Flag string `json:"flag"`
	// Component is "karpenter" (Karpenter's options) or "aws" (the AWS provider's).
	Component string `json:"component"`
	Value     string `json:"value"`
	Default   string `json:"default"`
	// Source says where Value comes from: "default", "Deployment NS/NAME env", "Deployment NS/NAME
	// args", "ConfigMap NS/NAME key KEY" or "--karpenter-setting".
	Source string `json:"source"`
	// Predictive says the setting changes what karpctl predicts (scheduling, instance types,
	// disruption); the others (ports, logging, client rates) only change how Karpenter runs.
	Predictive bool `json:"predictive"`

	// changed: Karpenter's parsed options differ from its defaults with this setting alone.
	changed bool
}

// Settings are the settings in effect, with what karpctl could not read.
type Settings struct {
	// Deployment is NAMESPACE/NAME of the Karpenter Deployment read; "" when none was.
	Deployment string `json:"deployment,omitempty"`
	// Settings lists every setting, Karpenter's first, each sorted by name.
	Settings []Setting `json:"settings"`
	// Warnings are what was not read (Secret and field references, unreadable ConfigMaps) and
	// what Karpenter ignores (unknown feature gates); each says what was used instead.
	Warnings []string `json:"warnings,omitempty"`

	opts *options
}

// predictive are the settings that change a prediction: the scheduler's policies and gates, the DRA
// switch, the scheduler configuration, and the AWS provider's overhead, ENI and gate settings.
var predictive = []string{
	"FEATURE_GATES", "PREFERENCE_POLICY", "MIN_VALUES_POLICY", "IGNORE_DRA_REQUESTS", "SCHEDULER_CONFIG",
	"VM_MEMORY_OVERHEAD_PERCENT", "RESERVED_ENIS", "AWS_FEATURE_GATES",
}

// SettingError is a setting Karpenter would refuse: Err is Karpenter's (or the provider's) own error.
type SettingError struct {
	Name, Value, Source string
	Err                 error
}

func (e *SettingError) Error() string {
	// A name or Karpenter's message can carry what a manifest held, line breaks included: the error
	// stays one line.
	return oneLine.Replace(fmt.Sprintf("Karpenter setting %s=%q (%s): %v", e.Name, e.Value, e.Source, e.Err))
}

var oneLine = strings.NewReplacer("\n", `\n`, "\r", `\r`)

func (e *SettingError) Unwrap() error { return e.Err }

// ErrUnknownSetting means a --karpenter-setting NAME is none of Karpenter's or the provider's.
var ErrUnknownSetting = errors.New("unknown Karpenter setting")

// Defaults are Karpenter's and the provider's defaults: what Karpenter runs with when nothing is set.
func Defaults() *Settings {
	s, err := Resolve(context.Background(), Input{})
	if err != nil {
		panic(fmt.Sprintf("karpenter defaults: %v", err)) // Karpenter's own defaults always parse
	}
	return s
}

// Context returns ctx carrying what Karpenter's code reads from it: Karpenter's options, the AWS
// provider's options, the controller name and a logger that discards Karpenter's logs.
func (s *Settings) Context(ctx context.Context) context.Context {
	if s == nil || s.opts == nil {
		s = Defaults()
	}
	ctx = s.opts.context(ctx)
	ctx = injection.WithControllerName(ctx, "provisioner")
	return log.IntoContext(ctx, logr.Discard())
}

// Options are Karpenter's parsed options (feature gates, policies, scheduler configuration).
func (s *Settings) Options() *coreoptions.Options {
	if s == nil || s.opts == nil {
		s = Defaults()
	}
	return s.opts.core
}

// NonDefault lists the predictive settings whose value differs from Karpenter's default, then the
// others that differ.
func (s *Settings) NonDefault() []Setting {
	if s == nil {
		return nil
	}
	var pred, other []Setting
	for _, st := range s.Settings {
		if !st.changed {
			continue
		}
		if st.Predictive {
			pred = append(pred, st)
		} else {
			other = append(other, st)
		}
	}
	return append(pred, other...)
}

// Input is where the settings come from.
type Input struct {
	// Deployment is the Karpenter controller's environment and arguments; nil: none was found.
	Deployment *Deployment
	// Overrides are --karpenter-setting NAME=VALUE, in order; the last of a name wins.
	Overrides []string
}

// assignment is one setting's value from one source, in the order Karpenter applies them.
type assignment struct {
	def           definition
	value, source string
}

// Resolve parses the settings with Karpenter's and the provider's FlagSets: the Deployment's
// environment (as flag values, so a malformed value is an error rather than Karpenter's silent
// default), then its arguments, then the overrides. A value either FlagSet refuses is a
// *SettingError; an unknown override name wraps ErrUnknownSetting.
func Resolve(ctx context.Context, in Input) (*Settings, error) {
	s := &Settings{}
	var assigned []assignment
	if d := in.Deployment; d != nil {
		s.Deployment = d.Namespace + "/" + d.Name
		as, warnings, err := d.assignments(ctx)
		if err != nil {
			return nil, err
		}
		assigned = append(assigned, as...)
		s.Warnings = append(s.Warnings, warnings...)
	}
	for _, o := range in.Overrides {
		name, value, ok := strings.Cut(o, "=")
		def, known := lookup(strings.TrimSpace(name))
		if !ok || !known {
			return nil, fmt.Errorf("%w %q in --karpenter-setting %q: give NAME=VALUE with one of %s", ErrUnknownSetting, name, o, strings.Join(predictive, ", "))
		}
		assigned = append(assigned, assignment{def: def, value: value, source: SourceFlag})
	}
	changed := map[string]bool{}
	for _, a := range assigned {
		c, err := checkOne(a)
		if err != nil {
			return nil, err
		}
		changed[a.def.Flag] = c
		warnings, err := checkGates(a)
		if err != nil {
			return nil, err
		}
		s.Warnings = append(s.Warnings, warnings...)
	}
	args := make([]string, 0, len(assigned))
	last := map[string]assignment{}
	for _, a := range assigned {
		args = append(args, "--"+a.def.Flag+"="+a.value)
		last[a.def.Flag] = a
	}
	s.opts = newOptions()
	if err := s.opts.parse(placeholderArgs(args)); err != nil {
		return nil, fmt.Errorf("Karpenter settings: %w", err)
	}
	s.Settings = describe(last, changed)
	return s, nil
}

// checkOne parses one assignment alone, so that Karpenter's error names the setting it is about,
// and says whether it changes Karpenter's parsed options from their defaults.
func checkOne(a assignment) (bool, error) {
	o := newOptions()
	if err := o.parse(placeholderArgs([]string{"--" + a.def.Flag + "=" + a.value})); err != nil {
		return false, &SettingError{Name: a.def.Name, Value: a.value, Source: a.source, Err: err}
	}
	base := baseOptions()
	return !reflect.DeepEqual(o.core, base.core) || !reflect.DeepEqual(o.aws, base.aws), nil
}

// describe lists every setting with its value in effect and where it came from.
func describe(last map[string]assignment, changed map[string]bool) []Setting {
	defs := defaultValues()
	out := make([]Setting, 0, len(catalogOnce()))
	for _, d := range catalogOnce() {
		st := Setting{Name: d.Name, Flag: d.Flag, Component: d.Component, Default: defs[d.Flag],
			Value: defs[d.Flag], Source: SourceDefault, Predictive: slices.Contains(predictive, d.Name)}
		if a, ok := last[d.Flag]; ok {
			st.Value, st.Source, st.changed = a.value, a.source, changed[d.Flag]
		}
		out = append(out, st)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Component != out[j].Component {
			return out[i].Component == ComponentKarpenter
		}
		return out[i].Name < out[j].Name
	})
	return out
}
