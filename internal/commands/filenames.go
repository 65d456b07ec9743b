package commands

import (
	"github.com/spf13/pflag"

	"github.com/karpctl/karpctl/internal/manifest"
)

// filenameFlags are kubectl's -f and -R: the manifests a command reads instead of, or on top of,
// the cluster.
type filenameFlags struct {
	Files     []string
	Recursive bool
}

func (f *filenameFlags) addFilenameFlags(fs *pflag.FlagSet, usage string) {
	fs.StringArrayVarP(&f.Files, "filename", "f", nil, usage+": FILE, DIR or - for stdin (repeatable)")
	fs.BoolVarP(&f.Recursive, "recursive", "R", false, "Process the directories given with -f recursively")
}

// readOptions say how package manifest reads them: standard input is env's.
func (f *filenameFlags) readOptions(env *Env) manifest.Options {
	return manifest.Options{Recursive: f.Recursive, Stdin: env.In}
}
