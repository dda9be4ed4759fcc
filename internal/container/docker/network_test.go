package docker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/container"
)

// TestEnsureNetworkConcurrently checks what agents sharing one Docker host
// do when they start together: each ensures the same pod network at once,
// and every one of them gets it (Docker refuses all but one create as an
// overlapping pool, before the winner's network can be inspected).
func TestEnsureNetworkConcurrently(t *testing.T) {
	r := newTestRuntime(t)
	for round := range 5 {
		cfg := container.NetworkConfig{
			Name:   "gantry-ct-race-" + randomHex(4),
			Subnet: fmt.Sprintf("10.%d.%d.0/24", 200+int(randomByte()%50), randomByte()),
		}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { _, errs[i] = r.EnsureNetwork(t.Context(), cfg) })
		}
		wg.Wait()
		if err := r.RemoveNetwork(context.Background(), cfg.Name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := errors.Join(errs...); err != nil {
			if allConflict(errs) && round == 0 {
				// Some other test's network holds the subnet: another try.
				continue
			}
			t.Fatalf("round %d, %s %s: %v", round, cfg.Name, cfg.Subnet, err)
		}
	}
}

// allConflict reports whether every error is a conflict (the subnet is
// another network's).
func allConflict(errs []error) bool {
	for _, err := range errs {
		if !errors.Is(err, container.ErrConflict) {
			return false
		}
	}
	return true
}
