package statefulset_test

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

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

// kubectl runs the real kubectl in-process against c.
func kubectl(t *testing.T, c *testcluster.Cluster, args ...string) (string, error) {
	t.Helper()
	return c.Kubectl(t, args...)
}
