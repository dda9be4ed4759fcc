package agent

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/gantry-dev/gantry/internal/container"
)

// relister lists the runtime's containers and sandboxes every
// RelistInterval and wakes the pods whose containers changed state (a
// container exited, was removed, or appeared): the runtime has no event
// stream the agent relies on, as the kubelet's PLEG does not.
type relister struct {
	a    *Agent
	last map[string]relistEntry // container ID or "sandbox:"+ID
}

type relistEntry struct {
	state container.ContainerState
	uid   types.UID
}

func newRelister(a *Agent) *relister {
	return &relister{a: a, last: map[string]relistEntry{}}
}

func (r *relister) run(ctx context.Context) {
	t := time.NewTicker(r.a.cfg.RelistInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.relist(ctx)
	}
}

func (r *relister) relist(ctx context.Context) {
	ctrs, err := r.a.rt.ListContainers(ctx, container.ContainerFilter{})
	if err != nil {
		return
	}
	sbs, err := r.a.rt.ListSandboxes(ctx, container.SandboxFilter{})
	if err != nil {
		return
	}
	now := make(map[string]relistEntry, len(ctrs)+len(sbs))
	for _, c := range ctrs {
		now[c.ID] = relistEntry{c.State, types.UID(c.Pod.UID)}
	}
	for _, sb := range sbs {
		st := container.ContainerRunning
		if sb.State != container.SandboxReady {
			st = container.ContainerExited
		}
		now["sandbox:"+sb.ID] = relistEntry{st, types.UID(sb.Pod.UID)}
	}
	changed := map[types.UID]bool{}
	for id, e := range now {
		if r.last[id] != e {
			changed[e.uid] = true
		}
	}
	for id, e := range r.last {
		if _, ok := now[id]; !ok {
			changed[e.uid] = true
		}
	}
	r.last = now
	for uid := range changed {
		r.a.enqueueUID(uid)
	}
}
