package framework

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Plugin is the common part of every plugin.
type Plugin interface {
	// Name is the plugin's name as in Kubernetes ("NodeResourcesFit").
	Name() string
}

// PreFilterPlugin runs once per pod before Filter.
type PreFilterPlugin interface {
	Plugin
	// PreFilter computes state for Filter (written to state) from the
	// whole snapshot. A non-success Status rejects the pod on every node
	// with that status.
	PreFilter(state *CycleState, pod *PodInfo, snap *Snapshot) *Status
}

// FilterPlugin decides whether a pod fits on a node.
type FilterPlugin interface {
	Plugin
	// Filter returns nil when pod fits on node, else Unschedulable or
	// UnschedulableAndUnresolvable with Kubernetes' reason wording. It must
	// be safe to call concurrently for different nodes.
	Filter(state *CycleState, pod *PodInfo, node *NodeInfo) *Status
}

// PreScorePlugin runs once per pod before Score, with the feasible nodes.
type PreScorePlugin interface {
	Plugin
	// PreScore computes state for Score.
	PreScore(state *CycleState, pod *PodInfo, snap *Snapshot, nodes []*NodeInfo) *Status
}

// ScorePlugin ranks feasible nodes.
type ScorePlugin interface {
	Plugin
	// Score returns the node's raw score; safe to call concurrently.
	// Without NormalizeScore it must be within [MinNodeScore, MaxNodeScore].
	Score(state *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status)
}

// NormalizeScorePlugin is a ScorePlugin whose raw scores need mapping into
// [MinNodeScore, MaxNodeScore] once all nodes are scored.
type NormalizeScorePlugin interface {
	ScorePlugin
	// NormalizeScore rewrites scores in place.
	NormalizeScore(state *CycleState, pod *PodInfo, scores []NodeScore) *Status
}

// NodeScore is one node's score.
type NodeScore struct {
	Name  string
	Score int64
}

// CycleState carries plugin data from PreFilter/PreScore to
// Filter/Score within one pod's cycle. Writes happen before the
// concurrent phases; reads are safe at any time.
//
// Reads far outnumber writes (one per node and plugin against a handful
// of writes per cycle), so the data is an immutable map replaced on each
// write: a read is one atomic load, and the parallel Filter and Score
// workers do not contend on a shared lock word.
type CycleState struct {
	mu   sync.Mutex // serialises writers
	data atomic.Pointer[map[string]any]
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState { return &CycleState{} }

// Write stores v under key.
func (c *CycleState) Write(key string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next map[string]any
	if cur := c.data.Load(); cur != nil {
		next = make(map[string]any, len(*cur)+1)
		maps.Copy(next, *cur)
	} else {
		next = make(map[string]any, 4)
	}
	next[key] = v
	c.data.Store(&next)
}

// Read returns the value under key (nil if none).
func (c *CycleState) Read(key string) any {
	if m := c.data.Load(); m != nil {
		return (*m)[key]
	}
	return nil
}

// DefaultNormalizeScore maps scores linearly so that the highest becomes
// MaxNodeScore (and, with reverse, the highest becomes 0 and 0 becomes
// MaxNodeScore).
func DefaultNormalizeScore(reverse bool, scores []NodeScore) {
	var hi int64
	for _, s := range scores {
		hi = max(hi, s.Score)
	}
	if hi == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = MaxNodeScore
			}
		}
		return
	}
	for i := range scores {
		s := MaxNodeScore * scores[i].Score / hi
		if reverse {
			s = MaxNodeScore - s
		}
		scores[i].Score = s
	}
}
