// Package commands wires karpctl's cobra commands to the internal packages: flags in, plain result
// structs out through package view/output. No business logic lives here.
package commands

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/output"
)

// Env is what every command gets: streams, the global flags and the client hook tests use.
type Env struct {
	genericiooptions.IOStreams
	Globals *cli.Globals
	// WrapTransport, when set, wraps every client's transport (tests count requests with it).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Clients builds the typed client and its config for the global flags.
func (e *Env) Clients() (kubernetes.Interface, *rest.Config, error) {
	cfg, err := e.Globals.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	if e.WrapTransport != nil {
		cfg.Wrap(e.WrapTransport)
	}
	c, err := cli.ClientsetFor(cfg)
	return c, cfg, err
}

// FindKarpenter builds the clients and finds Karpenter (--karpenter-namespace or an explicit -n,
// --karpenter-selector, --lease): the start every command that reads Karpenter shares.
func (e *Env) FindKarpenter(ctx context.Context) (kubernetes.Interface, *rest.Config, *discovery.Karpenter, error) {
	c, cfg, err := e.Clients()
	if err != nil {
		return nil, nil, nil, err
	}
	k, err := e.Karpenter(ctx, c)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, cfg, k, nil
}

// Karpenter finds Karpenter with a client already built, where FindKarpenter would look.
func (e *Env) Karpenter(ctx context.Context, c kubernetes.Interface) (*discovery.Karpenter, error) {
	return discovery.Find(ctx, c, e.Globals.KarpenterSearch())
}

// Styles for the command's standard output.
func (e *Env) Styles() output.Styles { return output.StylesFor(e.Out) }

// Main runs karpctl with args (args[0] is the program name) and returns the exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	// Either signal cancels ctx, so watches stop with their summary and drills restore what they
	// changed. os.Interrupt is Ctrl-C (on Windows also Ctrl-Break); SIGTERM is kill on Linux and macOS
	// and, on Windows, where there is no kill, closing the console window, logoff or shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &Env{IOStreams: genericiooptions.IOStreams{In: in, Out: out, ErrOut: errOut}, Globals: cli.NewGlobals()}
	return Run(ctx, env, filepath.Base(args[0]), args[1:])
}

// Run executes one command line in env; tests call it in-process.
func Run(ctx context.Context, env *Env, program string, args []string) int {
	root := NewRoot(env, program)
	root.SetArgs(args)
	root.SetIn(env.In)
	root.SetOut(env.Out)
	root.SetErr(env.ErrOut)
	err := root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command") {
		err = cli.UsageError("%v (see --help)", err)
	}
	if err != nil {
		fmt.Fprintf(env.ErrOut, "error: %s\n", cli.Message(err))
	}
	return cli.ExitCode(err)
}

const rootLong = `karpctl is the operations toolkit for a Karpenter deployment: who leads and whether the lease
is fresh, whether the replicas are spread and protected, what Karpenter's own scheduler would launch
for pending pods, health checks, and guided failover drills.

Karpenter is found by the label app.kubernetes.io/name=karpenter in any namespace (never assumed to
be kube-system); --karpenter-namespace, --karpenter-selector and --lease point karpctl elsewhere.

Exit codes: 0 ok, 1 API error (unreachable, forbidden, server error), 2 usage or input error,
3 unhealthy verdict / findings at or above --fail-on / failed drill.`

// NewRoot builds the command tree. program is argv[0]'s base name: as kubectl-karpctl the help shows
// "kubectl karpctl", as kubectl does for plugins.
func NewRoot(env *Env, program string) *cobra.Command {
	display := "karpctl"
	if strings.HasPrefix(program, "kubectl-") {
		display = "kubectl " + strings.TrimPrefix(program, "kubectl-")
	}
	root := &cobra.Command{
		Use:           "karpctl",
		Short:         "Operations toolkit for Karpenter: leader lease, topology audit, scheduling dry-run, health and drills",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: display},
		// --lease is checked once for every command, before any of them loads a kubeconfig or sends
		// a request.
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if l := env.Globals.Find.Lease; l != "" {
				if _, _, err := cli.ParseLease(l); err != nil {
					return err
				}
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if refused := refuseFleetFlags(c, err); refused != nil {
			return refused
		}
		return cli.UsageError("%v (see --help)", err)
	})
	env.Globals.AddFlags(root.PersistentFlags())
	root.AddCommand(newVersionCmd(env), newLeaseCmd(env))
	for _, add := range extraCommands {
		root.AddCommand(add(env))
	}
	// Unknown sub-commands and bad positional args are usage errors (exit 2).
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// extraCommands lets each command file register itself, so adding a command touches one file.
var extraCommands []func(*Env) *cobra.Command

func register(f func(*Env) *cobra.Command) { extraCommands = append(extraCommands, f) }

func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		inner := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := inner(cmd, args); err != nil {
				return cli.UsageError("%v (see --help)", err)
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// validatedRun is the RunE of a command whose Options check every flag in Validate, before any
// request, and then Run.
func validatedRun(o interface {
	Validate() error
	Run(ctx context.Context) error
}) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}
