package scheduler

import (
	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/interpodaffinity"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/nodeaffinity"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/nodename"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/nodeports"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/noderesources"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/nodeunschedulable"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/podtopologyspread"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/tainttoleration"
)

// registry is the one table of plugins, in the order filters run (cheap
// and decisive first, as Kubernetes orders them); scoreWeight is the
// plugin's weight in the total score (0: not a score plugin here).
var registry = []struct {
	new         func(cfg Config) framework.Plugin
	scoreWeight int64
}{
	{func(Config) framework.Plugin { return nodeunschedulable.New() }, 0},
	{func(Config) framework.Plugin { return nodename.New() }, 0},
	{func(Config) framework.Plugin { return tainttoleration.New() }, 3},
	{func(Config) framework.Plugin { return nodeaffinity.New() }, 2},
	{func(Config) framework.Plugin { return nodeports.New() }, 0},
	{func(c Config) framework.Plugin { return noderesources.NewFit(c.ScoringStrategy, nil) }, 1},
	{func(Config) framework.Plugin { return podtopologyspread.New() }, 2},
	{func(Config) framework.Plugin { return interpodaffinity.New() }, 2},
	{func(Config) framework.Plugin { return noderesources.NewBalanced(nil) }, 1},
}

// profile is the registry instantiated and split by extension point.
type profile struct {
	preFilters []framework.PreFilterPlugin
	filters    []framework.FilterPlugin
	preScores  []framework.PreScorePlugin
	scores     []weightedScore
}

type weightedScore struct {
	framework.ScorePlugin
	weight int64
}

func newProfile(cfg Config) *profile {
	p := &profile{}
	for _, e := range registry {
		pl := e.new(cfg)
		if x, ok := pl.(framework.PreFilterPlugin); ok {
			p.preFilters = append(p.preFilters, x)
		}
		if x, ok := pl.(framework.FilterPlugin); ok {
			p.filters = append(p.filters, x)
		}
		if x, ok := pl.(framework.PreScorePlugin); ok && e.scoreWeight > 0 {
			p.preScores = append(p.preScores, x)
		}
		if x, ok := pl.(framework.ScorePlugin); ok && e.scoreWeight > 0 {
			p.scores = append(p.scores, weightedScore{x, e.scoreWeight})
		}
	}
	return p
}
