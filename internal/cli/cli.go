// Package cli builds gantry's command tree. It is the only package that
// parses flags: each subcommand turns flags, GANTRY_<FLAG> environment
// variables and defaults into a composition root's Config.
package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/internal/version"
)

// Main runs the gantry command with args and returns the process exit code.
func Main(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gantry:", err)
		return 1
	}
	return 0
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "gantry",
		Short:         "A container orchestrator that speaks the Kubernetes API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCommand(), newAgentCommand(), newKubectlCommand(), newVersionCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the gantry version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "gantry %s (Kubernetes API %s)\n", version.Version, version.KubernetesVersion)
		},
	}
}
