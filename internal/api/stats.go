package api

import "time"

// NodeStats is what a node agent reports at its /stats/resource endpoint:
// CPU and memory usage of the node and of each running container, for the
// metrics.k8s.io API (kubectl top, the autoscaler). CPU is a rate, in
// nanocores, averaged over Window ending at Timestamp; memory is the
// working set (usage minus inactive file pages).
type NodeStats struct {
	Node      string        `json:"node"`
	Timestamp time.Time     `json:"timestamp"`
	Window    time.Duration `json:"window"`
	Usage     Usage         `json:"usage"`
	Pods      []PodStats    `json:"pods"`
}

// Usage is CPU and memory usage.
type Usage struct {
	CPUNanoCores          uint64 `json:"cpuNanoCores"`
	MemoryWorkingSetBytes uint64 `json:"memoryWorkingSetBytes"`
}

// PodStats is one pod's containers' usage.
type PodStats struct {
	Namespace  string           `json:"namespace"`
	Name       string           `json:"name"`
	Timestamp  time.Time        `json:"timestamp"`
	Window     time.Duration    `json:"window"`
	Containers []ContainerStats `json:"containers"`
}

// ContainerStats is one container's usage.
type ContainerStats struct {
	Name  string `json:"name"`
	Usage Usage  `json:"usage"`
}
