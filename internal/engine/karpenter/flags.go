package karpenter

import (
	"context"
	"flag"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"

	awsoptions "github.com/aws/karpenter-provider-aws/pkg/operator/options"
	coreoptions "sigs.k8s.io/karpenter/pkg/operator/options"
)

// Components: whose option a setting is.
const (
	ComponentKarpenter = "karpenter"
	ComponentAWS       = "aws"
)

// options are Karpenter's and the AWS provider's options, registered on one FlagSet and parsed with
// one argument list, as Karpenter's operator does (injection.WithOptionsOrDie: every Injectable adds
// its flags to one FlagSet, then each parses os.Args).
type options struct {
	core *coreoptions.Options
	aws  *awsoptions.Options
	fs   *coreoptions.FlagSet
}

// envMu serializes the construction of FlagSets: Karpenter's AddFlags reads each flag's default
// from the process environment, which withoutEnv clears of the settings' names for that moment.
var envMu sync.Mutex

// newOptions registers both option sets on a fresh FlagSet. Karpenter's AddFlags takes each flag's
// default from an environment variable of the same name; karpctl's own environment must not change
// a prediction, so those variables are hidden from it while the flags are added.
func newOptions() *options {
	o := &options{core: &coreoptions.Options{}, aws: &awsoptions.Options{}}
	o.fs = &coreoptions.FlagSet{FlagSet: flag.NewFlagSet("karpenter", flag.ContinueOnError)}
	o.fs.SetOutput(io.Discard)
	withoutEnv(func() {
		o.core.AddFlags(o.fs)
		o.aws.AddFlags(o.fs)
	})
	return o
}

// withoutEnv runs f with the settings' environment variables unset, restoring those that were set.
func withoutEnv(f func()) {
	envMu.Lock()
	defer envMu.Unlock()
	restore := map[string]string{}
	for _, d := range catalogOnce() {
		if v, ok := os.LookupEnv(d.Name); ok {
			restore[d.Name] = v
			_ = os.Unsetenv(d.Name)
		}
	}
	defer func() {
		for k, v := range restore {
			_ = os.Setenv(k, v)
		}
	}()
	f()
}

// parse parses args with both option sets (Karpenter's first, as its operator does).
func (o *options) parse(args []string) error {
	if err := o.core.Parse(o.fs, args...); err != nil {
		return err
	}
	return o.aws.Parse(o.fs, args...)
}

func (o *options) context(ctx context.Context) context.Context {
	return awsoptions.ToContext(coreoptions.ToContext(ctx, o.core), o.aws)
}

// definition is one setting as Karpenter declares it: its flag, the environment variable the Helm
// chart sets for it (the flag's name upper-cased, dashes as underscores: Karpenter's convention,
// checked by a test against AddFlags), whose it is and its default.
type definition struct {
	Name, Flag, Component, Default string
	bool                           bool
}

var (
	definitionsOnce sync.Once
	definitions     []definition
)

// catalogOnce lists every flag of both option sets, with the defaults parsing no argument gives.
// Its flags are registered without the environment: names are read from a FlagSet whose defaults
// are not used.
func catalogOnce() []definition {
	definitionsOnce.Do(func() {
		fs := &coreoptions.FlagSet{FlagSet: flag.NewFlagSet("names", flag.ContinueOnError)}
		(&coreoptions.Options{}).AddFlags(fs)
		core := map[string]bool{}
		fs.VisitAll(func(f *flag.Flag) { core[f.Name] = true })
		(&awsoptions.Options{}).AddFlags(fs)
		fs.VisitAll(func(f *flag.Flag) {
			d := definition{Flag: f.Name, Name: envName(f.Name), Component: ComponentAWS}
			if core[f.Name] {
				d.Component = ComponentKarpenter
			}
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				d.bool = true
			}
			definitions = append(definitions, d)
		})
	})
	return definitions
}

// defaultsOnce computes every setting's default (once): flags' default values, and for Karpenter's
// boolean flags (which keep theirs in the options struct) whether setting them true changes
// nothing.
var (
	defaultsOnce sync.Once
	defaults     map[string]string
	base         *options
)

// baseOptions are the options parsed from no argument: Karpenter's defaults.
func baseOptions() *options {
	defaultValues()
	return base
}

func defaultValues() map[string]string {
	defaultsOnce.Do(func() {
		defaults = map[string]string{}
		base = newOptions()
		_ = base.parse(placeholderArgs(nil))
		base.fs.VisitAll(func(f *flag.Flag) { defaults[f.Name] = f.DefValue })
		for _, d := range catalogOnce() {
			if !d.bool {
				continue
			}
			o := newOptions()
			_ = o.parse(placeholderArgs([]string{"--" + d.Flag + "=true"}))
			defaults[d.Flag] = "false"
			if reflect.DeepEqual(o.core, base.core) && reflect.DeepEqual(o.aws, base.aws) {
				defaults[d.Flag] = "true"
			}
		}
	})
	return defaults
}

// placeholderArgs supplies --cluster-name, which the AWS provider requires, when args lack it: the
// name decides nothing karpctl predicts, and a Karpenter without the AWS provider has no such flag.
func placeholderArgs(args []string) []string {
	for _, a := range args {
		if strings.HasPrefix(a, "--cluster-name=") || strings.HasPrefix(a, "-cluster-name=") {
			return args
		}
	}
	return append([]string{"--cluster-name=" + placeholderClusterName}, args...)
}

const placeholderClusterName = "karpctl"

func envName(flagName string) string {
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// lookup finds a setting by its environment variable name.
func lookup(name string) (definition, bool) {
	for _, d := range catalogOnce() {
		if d.Name == name {
			return d, true
		}
	}
	return definition{}, false
}

// lookupFlag finds a setting by its flag name.
func lookupFlag(flagName string) (definition, bool) {
	for _, d := range catalogOnce() {
		if d.Flag == flagName {
			return d, true
		}
	}
	return definition{}, false
}
