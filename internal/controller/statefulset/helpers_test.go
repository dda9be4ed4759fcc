package statefulset_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/gantry-dev/gantry/internal/testcluster"
)

const scenarioTimeout = 60 * time.Second

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, scenarioTimeout, true, func(ctx context.Context) (bool, error) {
		msg, err := cond(ctx)
		last = msg
		return err == nil && msg == "", err
	})
	if err != nil {
		t.Fatalf("%s: %s: %v", what, last, err)
	}
}

var kubectlMu sync.Mutex

type kubectlExit struct {
	msg  string
	code int
}

// kubectl runs the real kubectl in-process against c.
func kubectl(t *testing.T, c *testcluster.Cluster, args ...string) (out string, err error) {
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
