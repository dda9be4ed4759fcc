package docker

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// oomGrace is how long after a container's exit its OOM event may still
// arrive.
const oomGrace = time.Second

// oomKilledLate reports whether the daemon logged an "oom" event for
// container id between start and finish (+ oomGrace).
//
// Docker sets State.OOMKilled only if containerd's OOM event reaches it
// before the exit event; both come from different goroutines of the shim,
// and under load the exit wins now and then (seen once in three parallel
// runs of the conformance suite). The daemon still logs the "oom" event, so a
// SIGKILLed container with a memory limit is checked against the event log.
// Answers are cached; waiting for the grace period happens at most once per
// container.
func (r *Runtime) oomKilledLate(ctx context.Context, id string, started, finished time.Time) (bool, error) {
	if v, ok := r.oomChecked.Load(id); ok {
		return v.(bool), nil
	}
	ctx, cancel := context.WithTimeout(ctx, oomGrace+10*time.Second)
	defer cancel()
	msgs, errs := r.api.Events(ctx, events.ListOptions{
		Since:   unixNano(started.Add(-time.Second)),
		Until:   unixNano(finished.Add(oomGrace)),
		Filters: filters.NewArgs(filters.Arg("type", "container"), filters.Arg("container", id), filters.Arg("event", "oom")),
	})
	found := false
	for {
		select {
		case <-msgs:
			found = true
		case err := <-errs:
			if err != nil && err != io.EOF {
				return false, classify(err, "events of %s", id)
			}
			r.oomChecked.Store(id, found)
			return found, nil
		}
	}
}

func unixNano(t time.Time) string {
	ns := t.UnixNano()
	return fmt.Sprintf("%d.%09d", ns/1e9, ns%1e9)
}
