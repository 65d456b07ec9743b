// Package cli holds what every karpctl command shares: kubectl's global flags, the flags that point
// karpctl at Karpenter, client construction, and the documented exit codes.
package cli

import (
	"cmp"
	"errors"
	goflag "flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"

	"github.com/karpctl/karpctl/internal/discovery"
)

// Exit codes, documented in README.md ("Exit codes").
const (
	ExitOK = 0
	// ExitAPI: the cluster could not be read (connection, permission, server error) or an action failed.
	ExitAPI = 1
	// ExitUsage: bad flags, arguments or input files; nothing was sent to the cluster.
	ExitUsage = 2
	// ExitUnhealthy: the command ran and its verdict is bad (unhealthy lease, failed check, findings at
	// or above --fail-on, failed drill).
	ExitUnhealthy = 3
)

// ExitError carries the exit code of a failed command; its message is printed as one line.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// UsageError is bad input: exit 2.
func UsageError(format string, a ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

// Unhealthy is a bad verdict already printed: exit 3 with a one-line reason.
func Unhealthy(format string, a ...any) error {
	return &ExitError{Code: ExitUnhealthy, Err: fmt.Errorf(format, a...)}
}

// ExitCode maps any error to the documented exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if errors.Is(err, discovery.ErrNotFound) {
		return ExitUsage
	}
	return ExitAPI
}

// Message renders err as the one line a user sees, with a hint for the common API failures.
func Message(err error) string {
	msg := strings.TrimSpace(err.Error())
	switch {
	case apierrors.IsForbidden(err):
		msg += " (ask for this RBAC permission; karpctl's docs/rbac.md lists what each command needs)"
	case apierrors.IsUnauthorized(err):
		msg += " (check --kubeconfig, --context, --token or your credentials)"
	}
	// One line, whatever the server sent.
	return strings.Join(strings.Fields(msg), " ")
}

// Globals are the flags every command has: kubectl's own, plus where Karpenter is.
type Globals struct {
	Kube *genericclioptions.ConfigFlags
	Find discovery.Options
}

// NewGlobals returns kubectl's global flags (without the deprecated --username/--password, whose
// interactive prompt would make a plugin block on stdin) and the Karpenter locating flags.
func NewGlobals() *Globals {
	g := &Globals{Kube: genericclioptions.NewConfigFlags(true)}
	// cli-runtime's --cache-dir default already reads KUBECACHEDIR, and nothing here uses the cache:
	// this only makes --help show that default as a clean path.
	if dir := os.Getenv("KUBECACHEDIR"); dir != "" {
		d := filepath.Clean(dir)
		g.Kube.CacheDir = &d
	}
	return g
}

// AddFlags registers kubectl's global flags and the discovery flags on fs.
func (g *Globals) AddFlags(fs *pflag.FlagSet) {
	g.Kube.AddFlags(fs)
	// -v as in kubectl: client-go's klog verbosity on stderr (-v=6 logs every request and its status).
	klogFlags := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(klogFlags)
	v := pflag.PFlagFromGoFlag(klogFlags.Lookup("v"))
	v.Shorthand = "v"
	fs.AddFlag(v)
	fs.StringVar(&g.Find.Namespace, "karpenter-namespace", "", "Namespace of the Karpenter Deployment (default: search all namespaces)")
	fs.StringVar(&g.Find.Selector, "karpenter-selector", discovery.DefaultSelector, "Label selector that finds the Karpenter Deployment")
	fs.StringVar(&g.Find.Lease, "lease", "", "Leader-election Lease as NAMESPACE/NAME (overrides what the Deployment says)")
}

// KarpenterSearch is where to look for Karpenter: --karpenter-namespace, else an explicit -n (the
// kubeconfig context's namespace is not used: Karpenter rarely lives where one's workloads do).
// plan does not use it: there -n selects the pending pods to plan for.
func (g *Globals) KarpenterSearch() discovery.Options {
	o := g.Find
	o.Namespace = cmp.Or(o.Namespace, g.Namespace())
	return o
}

// Namespace is the -n/--namespace value, "" when not given.
func (g *Globals) Namespace() string {
	if g.Kube.Namespace == nil {
		return ""
	}
	return *g.Kube.Namespace
}

// RESTConfig is the client configuration kubectl would use with the same flags.
func (g *Globals) RESTConfig() (*rest.Config, error) {
	cfg, err := g.Kube.ToRESTConfig()
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("loading kubeconfig: %w", err)}
	}
	cfg.UserAgent = "kubectl-karpctl/" + Version
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	return cfg, nil
}

// Kubeconfig is the merged kubeconfig (--kubeconfig, else $KUBECONFIG, else ~/.kube/config) as
// loaded, without the command line's overrides: the contexts a fleet command can choose from.
func (g *Globals) Kubeconfig() (clientcmdapi.Config, error) {
	raw, err := g.Kube.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return clientcmdapi.Config{}, &ExitError{Code: ExitUsage, Err: fmt.Errorf("loading kubeconfig: %w", err)}
	}
	return raw, nil
}

// ForContext is g with --context set to name: every other kubectl flag (--kubeconfig, --as,
// --token, --request-timeout, ...) and the Karpenter locating flags as given. Each exported field of
// the ConfigFlags is copied, so a flag cli-runtime adds is carried over too; the copy has its own
// client-config cache.
func (g *Globals) ForContext(name string) *Globals {
	kube := genericclioptions.NewConfigFlags(true)
	src, dst := reflect.ValueOf(g.Kube).Elem(), reflect.ValueOf(kube).Elem()
	for i := range src.NumField() {
		if src.Type().Field(i).IsExported() {
			dst.Field(i).Set(src.Field(i))
		}
	}
	kube.Context = &name
	return &Globals{Kube: kube, Find: g.Find}
}

// ClientsetFor builds the protobuf-speaking typed client for cfg.
func ClientsetFor(cfg *rest.Config) (kubernetes.Interface, error) {
	pcfg := rest.CopyConfig(cfg)
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	cs, err := kubernetes.NewForConfig(pcfg)
	if err != nil {
		return nil, fmt.Errorf("building client: %w", err)
	}
	return cs, nil
}

// ParseLease validates --lease NAMESPACE/NAME (discovery.ParseLease) as a usage error.
func ParseLease(s string) (ns, name string, err error) {
	if ns, name, err = discovery.ParseLease(s); err != nil {
		return "", "", UsageError("%v", err)
	}
	return ns, name, nil
}
