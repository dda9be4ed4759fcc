package schedtest

import (
	"fmt"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
)

// Filter runs pl's PreFilter (if it has one) over a snapshot of nodes,
// then Filter on each node. It returns each node's verdict: "" when the
// pod fits, else the reasons joined with ", ".
func Filter(pl framework.FilterPlugin, pod *framework.PodInfo, nodes ...*framework.NodeInfo) (map[string]string, error) {
	snap := framework.NewSnapshot(nodes...)
	state := framework.NewCycleState()
	if pre, ok := pl.(framework.PreFilterPlugin); ok {
		if st := pre.PreFilter(state, pod, snap); !st.IsSuccess() {
			return nil, fmt.Errorf("PreFilter: %s", st.Message())
		}
	}
	out := map[string]string{}
	for _, n := range nodes {
		st := pl.Filter(state, pod, n)
		if st.Code() == framework.Error {
			return nil, fmt.Errorf("Filter %s: %s", n.Name(), st.Message())
		}
		out[n.Name()] = st.Message()
	}
	return out, nil
}

// Score runs pl's PreScore (if any) with every node feasible, Score on
// each and NormalizeScore (if any), and returns the scores by node.
func Score(pl framework.ScorePlugin, pod *framework.PodInfo, nodes ...*framework.NodeInfo) (map[string]int64, error) {
	snap := framework.NewSnapshot(nodes...)
	state := framework.NewCycleState()
	if pre, ok := pl.(framework.PreScorePlugin); ok {
		if st := pre.PreScore(state, pod, snap, nodes); !st.IsSuccess() {
			return nil, fmt.Errorf("PreScore: %s", st.Message())
		}
	}
	scores := make([]framework.NodeScore, len(nodes))
	for i, n := range nodes {
		s, st := pl.Score(state, pod, n)
		if !st.IsSuccess() {
			return nil, fmt.Errorf("Score %s: %s", n.Name(), st.Message())
		}
		scores[i] = framework.NodeScore{Name: n.Name(), Score: s}
	}
	if norm, ok := pl.(framework.NormalizeScorePlugin); ok {
		if st := norm.NormalizeScore(state, pod, scores); !st.IsSuccess() {
			return nil, fmt.Errorf("NormalizeScore: %s", st.Message())
		}
	}
	out := map[string]int64{}
	for _, s := range scores {
		out[s.Name] = s.Score
	}
	return out, nil
}
