package scheduler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
)

// Scheduling cycle: PreFilter, Filter over (a sample of) the nodes, then
// PreScore/Score/NormalizeScore over the feasible ones, and the node with
// the highest weighted total wins (ties broken at random).

// ErrNoNodes is returned when the cluster has no candidate node.
var ErrNoNodes = errors.New("no nodes available to schedule pods")

// minFeasibleNodesToFind is the fewest feasible nodes looked for before
// scoring, whatever the percentage.
const minFeasibleNodesToFind = 100

// fitError explains why no node fits a pod, in Kubernetes' format.
type fitError struct {
	numAllNodes int
	// statuses holds each rejecting node's status.
	statuses map[string]*framework.Status
	// preFilter is set when a PreFilter plugin rejected the pod outright.
	preFilter *framework.Status
	// postFilterMsg explains the preemption attempt.
	postFilterMsg string
}

// Error returns e.g. "0/3 nodes are available: 1 node(s) had untolerated
// taint {dedicated: db}, 2 Insufficient cpu. preemption: 0/3 nodes are
// available: 3 No preemption victims found for incoming pod."
func (e *fitError) Error() string {
	msg := fmt.Sprintf("0/%d nodes are available:", e.numAllNodes)
	if e.preFilter != nil {
		msg += " " + e.preFilter.Message() + "."
	} else if h := reasonHistogram(e.statuses); h != "" {
		msg += " " + h + "."
	}
	if e.postFilterMsg != "" {
		msg += " " + e.postFilterMsg
	}
	return msg
}

// reasonHistogram counts nodes per reason: "2 Insufficient cpu, 1 …",
// sorted as strings as Kubernetes does.
func reasonHistogram(statuses map[string]*framework.Status) string {
	counts := map[string]int{}
	for _, st := range statuses {
		for _, r := range st.Reasons() {
			counts[r]++
		}
	}
	parts := make([]string, 0, len(counts))
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// cycle runs scheduling cycles; it is used by one goroutine at a time.
type cycle struct {
	profile     *profile
	percentage  int
	parallelism int
	nextStart   int
	rng         *rand.Rand
	// buffers reused between cycles
	slots    []*framework.NodeInfo
	statuses []*framework.Status
}

func newCycle(p *profile, cfg Config) *cycle {
	par := cfg.Parallelism
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	return &cycle{profile: p, percentage: cfg.PercentageOfNodesToScore, parallelism: par, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// numFeasibleNodesToFind is how many feasible nodes are enough to score.
func (c *cycle) numFeasibleNodesToFind(numAll int) int {
	if numAll < minFeasibleNodesToFind {
		return numAll
	}
	pct := c.percentage
	if pct <= 0 {
		pct = max(50-numAll/125, 5)
	}
	if pct >= 100 {
		return numAll
	}
	return max(numAll*pct/100, minFeasibleNodesToFind)
}

// schedule picks a node for pod. It returns a *fitError when none fits,
// another error when a plugin failed.
func (c *cycle) schedule(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot) (string, error) {
	if len(snap.Nodes) == 0 {
		return "", ErrNoNodes
	}
	if pod.ParseErr != nil {
		return "", pod.ParseErr
	}
	for _, pl := range c.profile.preFilters {
		st := pl.PreFilter(state, pod, snap).WithPlugin(pl.Name())
		switch st.Code() {
		case framework.Success:
		case framework.Error:
			return "", fmt.Errorf("%s: %s", pl.Name(), st.Message())
		default:
			statuses := make(map[string]*framework.Status, len(snap.Nodes))
			for _, n := range snap.Nodes {
				statuses[n.Name()] = st
			}
			return "", &fitError{numAllNodes: len(snap.Nodes), statuses: statuses, preFilter: st}
		}
	}
	feasible, statuses, err := c.findFeasible(state, pod, snap)
	if err != nil {
		return "", err
	}
	if len(feasible) == 0 {
		return "", &fitError{numAllNodes: len(snap.Nodes), statuses: statuses}
	}
	if len(feasible) == 1 {
		return feasible[0].Name(), nil
	}
	return c.prioritize(state, pod, snap, feasible)
}

// runFilters runs every filter on one node; the first rejection decides.
func (c *cycle) runFilters(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	for _, f := range c.profile.filters {
		if st := f.Filter(state, pod, node); !st.IsSuccess() {
			return st.WithPlugin(f.Name())
		}
	}
	return nil
}

// findFeasible filters nodes, in parallel, starting where the previous
// cycle stopped, until enough feasible nodes are found.
func (c *cycle) findFeasible(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot) ([]*framework.NodeInfo, map[string]*framework.Status, error) {
	numAll := len(snap.Nodes)
	want := c.numFeasibleNodesToFind(numAll)
	if cap(c.slots) < numAll {
		c.slots = make([]*framework.NodeInfo, numAll)
		c.statuses = make([]*framework.Status, numAll)
	}
	slots, statuses := c.slots[:numAll], c.statuses[:numAll]
	clear(slots)
	clear(statuses)
	start := c.nextStart % numAll
	var next, found, processed atomic.Int64
	var firstErr atomic.Pointer[framework.Status]
	work := func() {
		for {
			if found.Load() >= int64(want) || firstErr.Load() != nil {
				return
			}
			i := int(next.Add(1) - 1)
			if i >= numAll {
				return
			}
			node := snap.Nodes[(start+i)%numAll]
			st := c.runFilters(state, pod, node)
			processed.Add(1)
			switch st.Code() {
			case framework.Success:
				found.Add(1)
				slots[i] = node
			case framework.Error:
				firstErr.CompareAndSwap(nil, st)
			default:
				statuses[i] = st
			}
		}
	}
	workers := min(c.parallelism, (numAll+63)/64)
	if workers <= 1 {
		work()
	} else {
		var wg sync.WaitGroup
		for range workers {
			wg.Go(work)
		}
		wg.Wait()
	}
	if st := firstErr.Load(); st != nil {
		return nil, nil, fmt.Errorf("%s: %s", st.Plugin(), st.Message())
	}
	c.nextStart = (start + int(processed.Load())) % numAll
	var feasible []*framework.NodeInfo
	var failed map[string]*framework.Status
	for i := range numAll {
		if slots[i] != nil {
			if len(feasible) < want {
				feasible = append(feasible, slots[i])
			}
		} else if statuses[i] != nil {
			if failed == nil {
				failed = map[string]*framework.Status{}
			}
			failed[snap.Nodes[(start+i)%numAll].Name()] = statuses[i]
		}
	}
	return feasible, failed, nil
}

// prioritize scores the feasible nodes and returns the best.
func (c *cycle) prioritize(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot, nodes []*framework.NodeInfo) (string, error) {
	for _, pl := range c.profile.preScores {
		if st := pl.PreScore(state, pod, snap, nodes); !st.IsSuccess() {
			return "", fmt.Errorf("%s: %s", pl.Name(), st.Message())
		}
	}
	plugins := c.profile.scores
	scores := make([][]framework.NodeScore, len(plugins))
	for p := range plugins {
		scores[p] = make([]framework.NodeScore, len(nodes))
	}
	var firstErr atomic.Pointer[framework.Status]
	scoreRange := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for p, pl := range plugins {
				s, st := pl.Score(state, pod, nodes[i])
				if !st.IsSuccess() {
					firstErr.CompareAndSwap(nil, st.WithPlugin(pl.Name()))
					return
				}
				scores[p][i] = framework.NodeScore{Name: nodes[i].Name(), Score: s}
			}
		}
	}
	workers := min(c.parallelism, (len(nodes)+63)/64)
	if workers <= 1 {
		scoreRange(0, len(nodes))
	} else {
		var wg sync.WaitGroup
		chunk := (len(nodes) + workers - 1) / workers
		for lo := 0; lo < len(nodes); lo += chunk {
			wg.Go(func() { scoreRange(lo, min(lo+chunk, len(nodes))) })
		}
		wg.Wait()
	}
	if st := firstErr.Load(); st != nil {
		return "", fmt.Errorf("%s: %s", st.Plugin(), st.Message())
	}
	total := make([]int64, len(nodes))
	for p, pl := range plugins {
		if n, ok := pl.ScorePlugin.(framework.NormalizeScorePlugin); ok {
			if st := n.NormalizeScore(state, pod, scores[p]); !st.IsSuccess() {
				return "", fmt.Errorf("%s: %s", pl.Name(), st.Message())
			}
		}
		for i := range nodes {
			total[i] += scores[p][i].Score * pl.weight
		}
	}
	best, ties := 0, 1
	for i := 1; i < len(nodes); i++ {
		switch {
		case total[i] > total[best]:
			best, ties = i, 1
		case total[i] == total[best]:
			ties++
			if c.rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return nodes[best].Name(), nil
}
