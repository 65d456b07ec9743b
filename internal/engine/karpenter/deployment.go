package karpenter

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	awsoptions "github.com/aws/karpenter-provider-aws/pkg/operator/options"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	cliflag "k8s.io/component-base/cli/flag"
	coreoptions "sigs.k8s.io/karpenter/pkg/operator/options"

	"github.com/karpctl/karpctl/internal/discovery"
)

// ConfigMapGetter reads one ConfigMap (one GET).
type ConfigMapGetter func(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)

// Deployment is the Karpenter controller whose settings are read.
type Deployment struct {
	Namespace, Name string
	// Container is the controller container (discovery.ControllerContainer).
	Container *corev1.Container
	// ConfigMaps reads the ConfigMaps its env references, once each; nil: they cannot be read
	// (offline), and the settings they carry keep their defaults, with a warning.
	ConfigMaps ConfigMapGetter
}

// assignments are the container's settings in the order Karpenter applies them: envFrom, env (a
// later entry of a name wins, as in the kubelet), then the command's and args' flags (a flag beats
// the variable).
func (d *Deployment) assignments(ctx context.Context) ([]assignment, []string, error) {
	if d.Container == nil {
		return nil, []string{fmt.Sprintf("Deployment %s/%s has no controller container: Karpenter's defaults are used", d.Namespace, d.Name)}, nil
	}
	r := &envReader{d: d, ctx: ctx, cms: map[string]*cmResult{}}
	for _, from := range d.Container.EnvFrom {
		r.envFrom(from)
	}
	for _, e := range d.Container.Env {
		r.env(e)
	}
	args := append([]string{}, d.Container.Args...)
	if len(d.Container.Command) > 1 {
		args = append(append([]string{}, d.Container.Command[1:]...), args...)
	}
	flags, err := flagAssignments(args, "Deployment "+d.Namespace+"/"+d.Name+" args")
	if err != nil {
		return nil, nil, err
	}
	return append(r.out, flags...), r.warnings, nil
}

type cmResult struct {
	cm  *corev1.ConfigMap
	err error
}

type envReader struct {
	d        *Deployment
	ctx      context.Context
	cms      map[string]*cmResult
	out      []assignment
	warnings []string
}

func (r *envReader) envSource() string {
	return "Deployment " + r.d.Namespace + "/" + r.d.Name + " env"
}

// configMap reads a ConfigMap once; a missing one is (nil, nil).
func (r *envReader) configMap(name string) (*corev1.ConfigMap, error) {
	if res, ok := r.cms[name]; ok {
		return res.cm, res.err
	}
	res := &cmResult{}
	if r.d.ConfigMaps == nil {
		res.err = fmt.Errorf("ConfigMaps are not read offline")
	} else {
		res.cm, res.err = r.d.ConfigMaps(r.ctx, r.d.Namespace, name)
		if apierrors.IsNotFound(res.err) {
			res.cm, res.err = nil, nil
		}
	}
	r.cms[name] = res
	return res.cm, res.err
}

func (r *envReader) cmWarning(what, cm string, err error) {
	why := err.Error()
	if apierrors.IsForbidden(err) {
		why = fmt.Sprintf("karpctl may not read it (grant get on configmaps in namespace %s)", r.d.Namespace)
	}
	r.warnings = append(r.warnings, fmt.Sprintf("%s from ConfigMap %s/%s not read: %s; Karpenter's default is used", what, r.d.Namespace, cm, why))
}

func (r *envReader) envFrom(from corev1.EnvFromSource) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := r.configMap(from.ConfigMapRef.Name)
		if err != nil {
			r.cmWarning("envFrom", from.ConfigMapRef.Name, err)
			return
		}
		if cm == nil {
			return
		}
		keys := make([]string, 0, len(cm.Data))
		for k := range cm.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if def, ok := lookup(from.Prefix + k); ok {
				r.out = append(r.out, assignment{def: def, value: cm.Data[k], source: fmt.Sprintf("ConfigMap %s/%s key %s", r.d.Namespace, cm.Name, k)})
			}
		}
	case from.SecretRef != nil:
		r.warnings = append(r.warnings, fmt.Sprintf("envFrom Secret %s/%s is never read: settings it sets keep Karpenter's defaults", r.d.Namespace, from.SecretRef.Name))
	}
}

func (r *envReader) env(e corev1.EnvVar) {
	def, ok := lookup(e.Name)
	if !ok {
		return
	}
	if e.ValueFrom == nil {
		r.out = append(r.out, r.literal(def, e.Name, e.Value, r.envSource()))
		return
	}
	if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
		cm, err := r.configMap(ref.Name)
		if err != nil {
			r.cmWarning(e.Name, ref.Name, err)
			return
		}
		v, found := "", false
		if cm != nil {
			v, found = cm.Data[ref.Key]
		}
		if !found {
			if ref.Optional == nil || !*ref.Optional {
				r.warnings = append(r.warnings, fmt.Sprintf("%s: ConfigMap %s/%s has no key %s; Karpenter's default is used", e.Name, r.d.Namespace, ref.Name, ref.Key))
			}
			return
		}
		r.out = append(r.out, r.literal(def, e.Name, v, fmt.Sprintf("ConfigMap %s/%s key %s", r.d.Namespace, ref.Name, ref.Key)))
		return
	}
	if !slices.Contains(predictive, e.Name) {
		return
	}
	kind := "a field reference"
	switch {
	case e.ValueFrom.SecretKeyRef != nil:
		kind = "Secret " + r.d.Namespace + "/" + e.ValueFrom.SecretKeyRef.Name
	case e.ValueFrom.ResourceFieldRef != nil:
		kind = "a resource field reference"
	}
	r.warnings = append(r.warnings, fmt.Sprintf("%s comes from %s, which karpctl never reads: Karpenter's default is used (give it with --karpenter-setting %s=VALUE)", e.Name, kind, e.Name))
}

// literal turns an environment value into the flag value Karpenter's env helpers read it as: a
// boolean as env.WithDefaultBool reads it — strconv.ParseBool's answer, or the flag's default when
// ParseBool refuses it (Karpenter starts with the default, so karpctl warns and does the same) —
// and the rest as is.
func (r *envReader) literal(def definition, name, value, source string) assignment {
	if def.bool {
		if b, err := strconv.ParseBool(value); err == nil {
			value = strconv.FormatBool(b)
		} else {
			r.warnings = append(r.warnings, fmt.Sprintf("%s=%q (%s) is not a boolean Karpenter reads: it runs with the default, %s", name, value, source, defaultValues()[def.Flag]))
			value = defaultValues()[def.Flag]
		}
	}
	return assignment{def: def, value: value, source: source}
}

// flagAssignments reads Karpenter's flags from a command line as Go's flag package does: -name or
// --name, =value or the next argument (booleans only with =), up to the first non-flag or "--".
func flagAssignments(args []string, source string) ([]assignment, error) {
	var out []assignment
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			break
		}
		name := strings.TrimLeft(a, "-")
		name, value, hasValue := strings.Cut(name, "=")
		def, ok := lookupFlag(name)
		if !ok {
			return nil, &SettingError{Name: a, Source: source, Err: fmt.Errorf("flag provided but not defined: -%s", name)}
		}
		switch {
		case hasValue:
		case def.bool:
			value = "true"
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			return nil, &SettingError{Name: def.Name, Source: source, Err: fmt.Errorf("flag needs an argument: -%s", name)}
		}
		out = append(out, assignment{def: def, value: value, source: source})
	}
	return out, nil
}

// checkGates reports feature gates neither Karpenter nor the provider knows. Karpenter ignores
// them; karpctl warns when the Deployment sets one and refuses one given with --karpenter-setting
// (a typo in a what-if would otherwise change nothing, silently).
func checkGates(a assignment) ([]string, error) {
	var known []string
	switch a.def.Name {
	case "FEATURE_GATES":
		for _, g := range coreoptions.KarpenterFeatureGates {
			known = append(known, g.Name)
		}
	case "AWS_FEATURE_GATES":
		t := reflect.TypeFor[awsoptions.FeatureGates]()
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				known = append(known, t.Field(i).Name)
			}
		}
	default:
		return nil, nil
	}
	gates := map[string]bool{}
	if err := cliflag.NewMapStringBool(&gates).Set(a.value); err != nil {
		return nil, &SettingError{Name: a.def.Name, Value: a.value, Source: a.source, Err: err}
	}
	var unknown []string
	for g := range gates {
		if !slices.Contains(known, g) {
			unknown = append(unknown, g)
		}
	}
	if len(unknown) == 0 {
		return nil, nil
	}
	slices.Sort(unknown)
	err := fmt.Errorf("unknown feature gate %s: Karpenter ignores it (known: %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	if a.source == SourceFlag {
		return nil, &SettingError{Name: a.def.Name, Value: a.value, Source: a.source, Err: err}
	}
	return []string{oneLine.Replace(fmt.Sprintf("%s (%s): %v", a.def.Name, a.source, err))}, nil
}

// Read resolves the settings of the Karpenter Deployment d (nil: none found), reading the
// ConfigMaps its controller container references with cms (nil: not read, offline), then the
// overrides (--karpenter-setting NAME=VALUE).
func Read(ctx context.Context, d *appsv1.Deployment, cms ConfigMapGetter, overrides []string) (*Settings, error) {
	in := Input{Overrides: overrides}
	if d != nil {
		in.Deployment = &Deployment{Namespace: d.Namespace, Name: d.Name, ConfigMaps: cms,
			Container: discovery.ControllerContainer(&d.Spec.Template.Spec)}
	}
	return Resolve(ctx, in)
}

// ConfigMapsOf reads ConfigMaps with one GET each.
func ConfigMapsOf(kube kubernetes.Interface) ConfigMapGetter {
	return func(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
		return kube.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	}
}

// IsKarpenter says whether a Deployment read from files is Karpenter's controller (the Helm
// chart's label, discovery's default selector): its settings are read, it is not a workload.
func IsKarpenter(d *appsv1.Deployment) bool {
	sel, err := labels.Parse(discovery.DefaultSelector)
	return err == nil && sel.Matches(labels.Set(d.Labels))
}
