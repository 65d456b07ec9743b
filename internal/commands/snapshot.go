package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/karpenter"
	"github.com/karpctl/karpctl/internal/engine/load"
	"github.com/karpctl/karpctl/internal/output"
)

// snapshotSource is where plan and disrupt read the cluster from: the live cluster (paginated,
// read-only lists), -f manifests on top of it, or the manifests alone (--offline).
type snapshotSource struct {
	filenameFlags
	Offline   bool
	ChunkSize int64
	// Settings are --karpenter-setting NAME=VALUE: Karpenter settings over the Deployment's.
	Settings []string
}

func (s *snapshotSource) addFlags(f *pflag.FlagSet, what string) {
	s.addFilenameFlags(f, "Add objects from manifests")
	f.BoolVar(&s.Offline, "offline", false, what+" from the -f files alone, without a cluster")
	f.Int64Var(&s.ChunkSize, "chunk-size", 500, "Page size of every list call (live)")
	f.StringArrayVar(&s.Settings, "karpenter-setting", nil, "Run Karpenter with this setting, over its Deployment's: NAME=VALUE with the controller's environment variable name, e.g. FEATURE_GATES=NodeOverlay=true or MIN_VALUES_POLICY=BestEffort (repeatable)")
}

func (s *snapshotSource) validate() error {
	if s.Offline && len(s.Files) == 0 {
		return cli.UsageError("--offline needs -f FILE|DIR|-: it reads files alone")
	}
	if s.ChunkSize <= 0 {
		return cli.UsageError("--chunk-size must be positive")
	}
	return nil
}

// readFiles loads -f; every problem there is an input error. Offline, the files must hold a
// NodePool.
func (s *snapshotSource) readFiles(env *Env, opts load.Options) (*engine.Snapshot, error) {
	snap, err := s.loadFiles(env, opts)
	if err != nil {
		return nil, err
	}
	if s.Offline && len(snap.NodePools) == 0 {
		return nil, cli.UsageError("%s: no karpenter.sh/v1 NodePool in the files; --offline needs one", strings.Join(s.Files, ", "))
	}
	return snap, nil
}

// loadFiles loads -f, whatever it holds; every problem there is an input error.
func (s *snapshotSource) loadFiles(env *Env, opts load.Options) (*engine.Snapshot, error) {
	opts.Options = s.readOptions(env)
	snap, err := load.FromFiles(s.Files, opts)
	if err != nil {
		return nil, cli.UsageError("%v", err)
	}
	return snap, nil
}

// readSnapshot is what was read, with the typed client for follow-up reads (--scale; nil offline).
type readSnapshot struct {
	load.Live
	// mode is "live" (the cluster, plus any -f files) or "offline" (files only).
	mode string
	kube kubernetes.Interface
}

// withSkew is ws with the warning that the cluster's Karpenter is not the bundled engine, if it is not.
func (r *readSnapshot) withSkew(ws []engine.Warning) []engine.Warning {
	if r.VersionSkew == "" {
		return ws
	}
	return append(ws, engine.Warning{Message: r.VersionSkew})
}

// read reads the files alone (--offline, with fileOpts) or the cluster with -f merged on top.
func (s *snapshotSource) read(ctx context.Context, env *Env, fileOpts load.Options, clusterOpts load.ClusterOptions) (*readSnapshot, error) {
	if s.Offline {
		snap, err := s.readFiles(env, fileOpts)
		if err != nil {
			return nil, err
		}
		if err := s.karpenterSettings(ctx, snap, nil); err != nil {
			return nil, err
		}
		return &readSnapshot{Live: load.Live{Snapshot: snap}, mode: "offline"}, nil
	}
	var files *engine.Snapshot
	if len(s.Files) > 0 {
		var err error
		if files, err = s.readFiles(env, load.Options{}); err != nil {
			return nil, err
		}
	}
	kube, dyn, err := snapshotClients(env)
	if err != nil {
		return nil, err
	}
	clusterOpts.PageSize = s.ChunkSize
	live, err := load.ReadLive(ctx, kube, dyn, files, clusterOpts, env.Globals.Find, cli.EngineVersion())
	if err != nil {
		return nil, err
	}
	if err := s.karpenterSettings(ctx, live.Snapshot, kube); err != nil {
		return nil, err
	}
	return &readSnapshot{Live: *live, mode: "live", kube: kube}, nil
}

// karpenterSettings reads the settings of the snapshot's Karpenter Deployment (its ConfigMaps with
// kube; nil offline) and --karpenter-setting into snap.Karpenter. A setting Karpenter would refuse
// is bad input.
func (s *snapshotSource) karpenterSettings(ctx context.Context, snap *engine.Snapshot, kube kubernetes.Interface) error {
	settings, err := readKarpenterSettings(ctx, snap.KarpenterDeployment, configMaps(snap.ConfigMaps, kube), s.Settings)
	if err != nil {
		return err
	}
	snap.Karpenter = settings
	return nil
}

// readKarpenterSettings is how every command that runs Karpenter's code gets the settings it runs
// it with: the Karpenter Deployment's (nil: none found; its ConfigMaps with cms), then overrides
// (--karpenter-setting), parsed by Karpenter's own option parsers. A setting Karpenter would refuse
// is bad input (exit 2).
func readKarpenterSettings(ctx context.Context, d *appsv1.Deployment, cms karpenter.ConfigMapGetter, overrides []string) (*karpenter.Settings, error) {
	settings, err := karpenter.Read(ctx, d, cms, overrides)
	var se *karpenter.SettingError
	if errors.As(err, &se) || errors.Is(err, karpenter.ErrUnknownSetting) {
		return nil, cli.UsageError("%v", err)
	}
	return settings, err
}

// configMaps reads the ConfigMaps the Karpenter Deployment's env references: from the -f files
// first, then with one GET each from the cluster (kube nil: offline, only the files').
func configMaps(files []*corev1.ConfigMap, kube kubernetes.Interface) karpenter.ConfigMapGetter {
	if len(files) == 0 && kube == nil {
		return nil
	}
	return func(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
		for _, cm := range files {
			if cm.Namespace == namespace && cm.Name == name {
				return cm, nil
			}
		}
		if kube == nil {
			return nil, fmt.Errorf("not in the -f files, and ConfigMaps are not read offline")
		}
		return karpenter.ConfigMapsOf(kube)(ctx, namespace, name)
	}
}

// snapshotClients are what a snapshot is read with: the typed client, which speaks protobuf
// (smaller and faster for pods and nodes), and a dynamic client (JSON) for Karpenter's kinds.
func snapshotClients(env *Env) (kubernetes.Interface, dynamic.Interface, error) {
	kube, cfg, err := env.Clients()
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("building dynamic client: %w", err)
	}
	return kube, dyn, nil
}

// engineVerdict gives the engine's "no usable NodePool" the exit code it deserves: bad input
// offline (the files are wrong), an unhealthy cluster live.
func (s *snapshotSource) engineVerdict(err error) error {
	if !errors.Is(err, engine.ErrNoUsableNodePool) {
		return err
	}
	if s.Offline {
		return cli.UsageError("%v", err)
	}
	return cli.Unhealthy("%v", err)
}

// print writes v as -o json|yaml, or through human, the table (wide for -o wide).
func (e *Env) print(f output.Format, v any, human func(w io.Writer, s output.Styles, wide bool) error) error {
	if f.Machine() {
		return output.Write(e.Out, f, v)
	}
	return human(e.Out, e.Styles(), f == output.Wide)
}

// snapshotCommand is the cobra command of plan, disrupt and instance-types: no arguments, Validate
// (told which flags were given) before Run, the -o formats, the snapshot's and the catalog's flags.
// what says in the flags' help what the command does from the files alone ("Plan", "Decide").
func snapshotCommand(c *cobra.Command, what string, o interface {
	Validate(changed func(string) bool) error
	Run(ctx context.Context) error
}, format *output.Format, src *snapshotSource, cat *catalogFlags) *cobra.Command {
	c.Args = cobra.NoArgs
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.Validate(cmd.Flags().Changed); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
	f := c.Flags()
	output.AddFormatFlag(f, format, output.TableFormat, output.Wide, output.JSON, output.YAML)
	src.addFlags(f, what)
	cat.addCatalogFlags(f)
	return c
}

// dryRunOnly is the --dry-run flag of plan and disrupt: true, and only true, since karpctl never
// does what it predicts Karpenter would do.
type dryRunOnly struct {
	DryRun bool
	// never says what karpctl never does ("launches nodes").
	never string
}

func (d *dryRunOnly) addDryRunFlag(f *pflag.FlagSet, only, never string) {
	d.never = never
	f.BoolVar(&d.DryRun, "dry-run", true, only+" only (always: karpctl never "+never+")")
}

// validateDecision is what plan and disrupt check first, in this order: the dry run, where the
// snapshot comes from, the catalog. changed tells which flags were given.
func validateDecision(d *dryRunOnly, s *snapshotSource, c *catalogFlags, changed func(string) bool) error {
	if err := d.checkDryRun(); err != nil {
		return err
	}
	if err := s.validate(); err != nil {
		return err
	}
	return c.validateCatalog(changed)
}

func (d *dryRunOnly) checkDryRun() error {
	if !d.DryRun {
		return cli.UsageError("--dry-run=false: karpctl never %s, it only shows what Karpenter would do (drop the flag or leave it true)", d.never)
	}
	return nil
}
