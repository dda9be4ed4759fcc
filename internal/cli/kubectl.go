package cli

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/plugin"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	// Loads kubectl's message catalog only when kubectl runs; imported
	// here, its init runs before kubectl's packages translate anything.
	_ "github.com/gantry-dev/gantry/internal/cli/kubectltext"
)

// newKubectlCommand embeds the real kubectl. Unless KUBECONFIG or
// --kubeconfig say otherwise, it uses the admin kubeconfig in the server's
// data dir (GANTRY_DATA_DIR, default ./data).
func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl",
		Short:              "Run kubectl against this cluster (admin kubeconfig by default)",
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			if os.Getenv("KUBECONFIG") == "" {
				dataDir := os.Getenv("GANTRY_DATA_DIR")
				if dataDir == "" {
					dataDir = defaultDataDir
				}
				os.Setenv("KUBECONFIG", filepath.Join(dataDir, "kubeconfig.yaml"))
			}
			setKubectlVersion()
			streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
			kc := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
				PluginHandler: kubectlcmd.NewDefaultPluginHandler(plugin.ValidPluginFilenamePrefixes),
				Arguments:     append([]string{"kubectl"}, args...),
				ConfigFlags:   kubectlConfigFlags(streams),
				IOStreams:     streams,
			})
			kc.SetArgs(args)
			if err := cli.RunNoErrOutput(kc); err != nil {
				cmdutil.CheckErr(err) // prints as kubectl does and exits non-zero
			}
			return nil
		},
	}
}
