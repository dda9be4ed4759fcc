package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/container"
)

// statsCollector samples the runtime's counters every StatsInterval and
// keeps the latest rates, served at /stats/resource.
type statsCollector struct {
	a *Agent

	mu      sync.Mutex
	latest  api.NodeStats
	prev    map[string]cpuSample // by container ID
	prevCPU cpuSample            // the node's
}

type cpuSample struct {
	at    time.Time
	usage uint64 // cumulative nanoseconds
}

func newStatsCollector(a *Agent) *statsCollector {
	return &statsCollector{a: a, prev: map[string]cpuSample{}}
}

func (s *statsCollector) run(ctx context.Context) {
	t := time.NewTicker(s.a.cfg.StatsInterval)
	defer t.Stop()
	for {
		s.collect(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// rate returns the CPU rate in nanocores between two samples, or false
// when there is no earlier sample.
func rate(prev, cur cpuSample) (uint64, time.Duration, bool) {
	d := cur.at.Sub(prev.at)
	if prev.at.IsZero() || d <= 0 || cur.usage < prev.usage {
		return 0, 0, false
	}
	return uint64(float64(cur.usage-prev.usage) / d.Seconds()), d, true
}

func (s *statsCollector) collect(ctx context.Context) {
	pods, err := s.a.pods.List(everything)
	if err != nil {
		return
	}
	now := time.Now()
	out := api.NodeStats{Node: s.a.cfg.NodeName, Timestamp: now, Window: s.a.cfg.StatsInterval}
	seen := map[string]bool{}
	s.mu.Lock()
	prev := s.prev
	s.mu.Unlock()
	next := map[string]cpuSample{}
	for _, pod := range pods {
		ctrs, err := s.a.rt.ListContainers(ctx, container.ContainerFilter{PodUID: string(pod.UID), State: container.ContainerRunning})
		if err != nil || len(ctrs) == 0 {
			continue
		}
		ps := api.PodStats{Namespace: pod.Namespace, Name: pod.Name, Timestamp: now}
		for _, c := range ctrs {
			st, err := s.a.rt.ContainerStats(ctx, c.ID)
			if err != nil {
				continue
			}
			cur := cpuSample{at: st.Timestamp, usage: st.CPUUsageNanoseconds}
			if cur.at.IsZero() {
				cur.at = now
			}
			next[c.ID] = cur
			seen[c.ID] = true
			r, window, ok := rate(prev[c.ID], cur)
			if !ok {
				continue // a rate needs two samples
			}
			ps.Window = window
			ps.Containers = append(ps.Containers, api.ContainerStats{Name: c.Name, Usage: api.Usage{CPUNanoCores: r, MemoryWorkingSetBytes: st.MemoryWorkingSetBytes}})
		}
		if len(ps.Containers) > 0 {
			out.Pods = append(out.Pods, ps)
		}
	}
	nodeCPU := cpuSample{at: now, usage: hostCPUNanoseconds()}
	s.mu.Lock()
	if r, window, ok := rate(s.prevCPU, nodeCPU); ok {
		out.Usage.CPUNanoCores, out.Window = r, window
	}
	out.Usage.MemoryWorkingSetBytes = hostMemoryWorkingSet()
	s.prevCPU = nodeCPU
	s.prev = next
	s.latest = out
	s.mu.Unlock()
}

func (s *statsCollector) serve(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	st := s.latest
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// hostCPUNanoseconds is the machine's busy CPU time from /proc/stat.
func hostCPUNanoseconds() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy uint64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		busy += n
	}
	const userHZ = 100 // USER_HZ is 100 on every Linux architecture Go supports
	return busy * (1e9 / userHZ)
}

// hostMemoryWorkingSet is MemTotal - MemAvailable.
func hostMemoryWorkingSet() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var total, avail uint64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "MemTotal:":
			total = n * 1024
		case "MemAvailable:":
			avail = n * 1024
		}
	}
	if avail > total {
		return 0
	}
	return total - avail
}
