package proxy

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// benchObjects returns n services with m ready endpoints each.
func benchObjects(n, m int) ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	var svcs []*corev1.Service
	var slices []*discoveryv1.EndpointSlice
	for i := range n {
		name := fmt.Sprintf("svc%04d", i)
		svcs = append(svcs, newService(name, fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)))
		var eps []ep
		for j := range m {
			k := i*m + j
			eps = append(eps, ep(fmt.Sprintf("10.1.%d.%d", k/250, k%250+1)))
		}
		slices = append(slices, newSlice(name, "a", 8080, eps...))
	}
	return svcs, slices
}

// BenchmarkApply1000x10 measures one full sync from an empty namespace,
// what the proxy does at start: computing and applying 1,000 services ×
// 10 endpoints in a throwaway network namespace. Removing the table
// between iterations is not timed. Run as root:
//
//	go test -run '^$' -bench 'Apply1000x10' -benchtime 5x ./internal/proxy/
//
// s/sync is wall time (it depends on how busy the machine is);
// user-s/sync and sys-s/sync are the process's CPU time, the kernel's
// nftables transaction included (it runs in the sending system call).
func BenchmarkApply1000x10(b *testing.B) {
	ns := newTestNetns(b)
	svcs, slices := benchObjects(1000, 10)
	node := Node{Name: "node1", Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}
	rules := 0
	var user, sys time.Duration
	for b.Loop() {
		be := newNFTBackend(ns.fd, "gantry", 0x4000)
		u0, s0 := cpuTime()
		n, err := be.Apply(Compute(svcs, slices, node), false)
		u1, s1 := cpuTime()
		if err != nil {
			b.Fatal(err)
		}
		user, sys, rules = user+u1-u0, sys+s1-s0, n
		b.StopTimer()
		if err := be.Cleanup(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(rules), "rules")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/sync")
	b.ReportMetric(user.Seconds()/float64(b.N), "user-s/sync")
	b.ReportMetric(sys.Seconds()/float64(b.N), "sys-s/sync")
}

// BenchmarkResync1000x10 is the steady state: the table exists and one
// endpoint of one service changes.
//
//	go test -run '^$' -bench 'Resync1000x10' -benchtime 5x ./internal/proxy/
func BenchmarkResync1000x10(b *testing.B) {
	ns := newTestNetns(b)
	svcs, slices := benchObjects(1000, 10)
	node := Node{Name: "node1"}
	be := newNFTBackend(ns.fd, "gantry", 0x4000)
	if _, err := be.Apply(Compute(svcs, slices, node), false); err != nil {
		b.Fatal(err)
	}
	i := 0
	u0, s0 := cpuTime()
	for b.Loop() {
		i++
		slices[0].Endpoints[0].Addresses = []string{fmt.Sprintf("10.2.0.%d", i%200+1)}
		if _, err := be.Apply(Compute(svcs, slices, node), false); err != nil {
			b.Fatal(err)
		}
	}
	u1, s1 := cpuTime()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/sync")
	b.ReportMetric((u1-u0).Seconds()/float64(b.N), "user-s/sync")
	b.ReportMetric((s1-s0).Seconds()/float64(b.N), "sys-s/sync")
}

// BenchmarkCompute1000x10 is the pure computation alone.
//
//	go test -run '^$' -bench 'Compute1000x10' ./internal/proxy/
func BenchmarkCompute1000x10(b *testing.B) {
	svcs, slices := benchObjects(1000, 10)
	for b.Loop() {
		buildPlan(Compute(svcs, slices, Node{Name: "node1"}), 0x4000)
	}
}

// cpuTime is the process's user and system CPU time (all threads, so the
// garbage collector's too): the kernel runs an nftables transaction in
// the sending system call, so this is a sync's cost whatever the load.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
