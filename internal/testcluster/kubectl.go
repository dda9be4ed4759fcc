package testcluster

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// kubectlMu serializes in-process kubectl runs: kubectl's fatal-error hook
// is process-wide.
var kubectlMu sync.Mutex

type kubectlExit struct {
	msg  string
	code int
}

// Kubectl runs the real kubectl in-process against c with args and
// returns its standard output; a non-zero exit is an error carrying its
// message and standard error.
func (c *Cluster) Kubectl(t testing.TB, args ...string) (out string, err error) {
	t.Helper()
	kubectlMu.Lock()
	defer kubectlMu.Unlock()
	var stdout, stderr bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &stderr}
	args = append([]string{"--kubeconfig", c.Kubeconfig}, args...)
	cmd := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
		Arguments:   append([]string{"kubectl"}, args...),
		ConfigFlags: genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithDiscoveryQPS(50),
		IOStreams:   streams,
	})
	cmd.SetArgs(args)
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmdutil.BehaviorOnFatal(func(msg string, code int) { panic(kubectlExit{msg, code}) })
	defer cmdutil.DefaultBehaviorOnFatal()
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(kubectlExit)
			if !ok {
				panic(p)
			}
			out, err = stdout.String(), fmt.Errorf("kubectl %s: exit %d: %s%s", strings.Join(args[2:], " "), e.code, e.msg, stderr.String())
		}
	}()
	if err := cmd.Execute(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args[2:], " "), err, stderr.String())
	}
	return stdout.String(), nil
}
