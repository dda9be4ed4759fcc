package docker

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
)

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupStats reads the CPU and memory use of the cgroup of process pid.
// Docker's stats API fails for a container that joins a sandbox without a
// libnetwork sandbox (it looks for network counters there), so the
// containers of plumbed sandboxes (podnet.go) are measured here, on the
// same machine, with the figures Docker would report: cgroup v1
// cpuacct.usage and memory.usage_in_bytes less total_inactive_file, or
// cgroup v2 cpu.stat usage_usec and memory.current less inactive_file.
func cgroupStats(pid int) (container.Stats, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return container.Stats{}, err
	}
	now := time.Now()
	var cpuDir, memDir, unified string
	for line := range strings.Lines(string(data)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = parts[2]
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			switch c {
			case "cpuacct":
				cpuDir = filepath.Join(cgroupRoot, parts[1], parts[2])
			case "memory":
				memDir = filepath.Join(cgroupRoot, parts[1], parts[2])
			}
		}
	}
	var st container.Stats
	var usage, inactive uint64
	switch {
	case cpuDir != "" && memDir != "":
		if st.CPUUsageNanoseconds, err = readUint(filepath.Join(cpuDir, "cpuacct.usage")); err != nil {
			return st, err
		}
		if usage, err = readUint(filepath.Join(memDir, "memory.usage_in_bytes")); err != nil {
			return st, err
		}
		inactive, err = statField(filepath.Join(memDir, "memory.stat"), "total_inactive_file")
	case unified != "":
		dir := filepath.Join(cgroupRoot, unified)
		var usec uint64
		if usec, err = statField(filepath.Join(dir, "cpu.stat"), "usage_usec"); err != nil {
			return st, err
		}
		st.CPUUsageNanoseconds = usec * 1000
		if usage, err = readUint(filepath.Join(dir, "memory.current")); err != nil {
			return st, err
		}
		inactive, err = statField(filepath.Join(dir, "memory.stat"), "inactive_file")
	default:
		return st, fmt.Errorf("no cpu and memory cgroups for pid %d", pid)
	}
	if err != nil {
		return st, err
	}
	st.MemoryWorkingSetBytes = usageLessInactive(usage, inactive)
	st.Timestamp = now
	return st, nil
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// statField returns a field of a "key value" per line file.
func statField(path, key string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == key {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}
