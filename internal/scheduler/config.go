package scheduler

import (
	"time"

	"github.com/gantry-dev/gantry/internal/scheduler/plugins/noderesources"
)

// DefaultSchedulerName is the spec.schedulerName this scheduler serves
// (pods with an empty schedulerName are defaulted to it by the API).
const DefaultSchedulerName = "default-scheduler"

// Config tunes the scheduler. The zero value of a field means its default.
type Config struct {
	// SchedulerName is the spec.schedulerName of the pods scheduled, and
	// the component reported in events.
	SchedulerName string
	// ScoringStrategy of NodeResourcesFit: LeastAllocated (spread, the
	// default) or MostAllocated (bin packing).
	ScoringStrategy noderesources.Strategy
	// PercentageOfNodesToScore stops looking for feasible nodes once this
	// share of the nodes has been found feasible (at least 100 nodes). 0
	// adapts it to the cluster size as Kubernetes does (50% minus 1% per
	// 125 nodes, at least 5%); 100 evaluates every node.
	PercentageOfNodesToScore int
	// Parallelism is the number of goroutines evaluating nodes (default
	// GOMAXPROCS).
	Parallelism int
	// PodInitialBackoff and PodMaxBackoff bound the wait before a pod that
	// failed is tried again (doubling per attempt).
	PodInitialBackoff time.Duration
	PodMaxBackoff     time.Duration
	// UnschedulableFlushInterval is how long an unschedulable pod waits
	// for a cluster change before it is tried again anyway.
	UnschedulableFlushInterval time.Duration
	// BindConcurrency bounds the binding requests in flight.
	BindConcurrency int
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{
		SchedulerName:              DefaultSchedulerName,
		ScoringStrategy:            noderesources.LeastAllocated,
		PodInitialBackoff:          time.Second,
		PodMaxBackoff:              10 * time.Second,
		UnschedulableFlushInterval: 30 * time.Second,
		BindConcurrency:            64,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.SchedulerName == "" {
		c.SchedulerName = d.SchedulerName
	}
	if c.ScoringStrategy == "" {
		c.ScoringStrategy = d.ScoringStrategy
	}
	if c.PodInitialBackoff <= 0 {
		c.PodInitialBackoff = d.PodInitialBackoff
	}
	if c.PodMaxBackoff <= 0 {
		c.PodMaxBackoff = d.PodMaxBackoff
	}
	if c.UnschedulableFlushInterval <= 0 {
		c.UnschedulableFlushInterval = d.UnschedulableFlushInterval
	}
	if c.BindConcurrency <= 0 {
		c.BindConcurrency = d.BindConcurrency
	}
	return c
}
