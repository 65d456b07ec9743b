// Command kubectl-karpctl is the operations toolkit for a Karpenter deployment, run as a kubectl
// plugin (`kubectl karpctl ...`) or on its own. All wiring lives in internal/commands.
package main

import (
	"os"

	"github.com/karpctl/karpctl/internal/commands"
)

func main() { os.Exit(commands.Main(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
