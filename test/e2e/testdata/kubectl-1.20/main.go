// Command kubectl is kubectl 1.20, built from k8s.io/kubectl v0.20.15 for
// the end-to-end test of version skew (test/e2e/skew_test.go): Gantry
// promises that every kubectl from 1.20 to 1.37 works against it.
//
// It is the main of Kubernetes 1.20's cmd/kubectl without the client auth
// plugins (Azure, GCP, OIDC, OpenStack), which Gantry's kubeconfigs do not
// use: klog's flags (-v) and the word-separator normalisation of flags are
// set up as there.
package main

import (
	goflag "flag"
	"os"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/util/logs"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	pflag.CommandLine.SetNormalizeFunc(cliflag.WordSepNormalizeFunc)
	pflag.CommandLine.AddGoFlagSet(goflag.CommandLine)
	logs.InitLogs()
	err := command.Execute()
	logs.FlushLogs()
	if err != nil {
		os.Exit(1)
	}
}
