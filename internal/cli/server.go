package cli

import "github.com/spf13/cobra"

const defaultDataDir = "data"

func newServerCommand() *cobra.Command {
	return &cobra.Command{Use: "server", Short: "Run the control plane and a local node"}
}
