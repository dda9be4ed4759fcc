// Package bench holds the benchmarks that measure the figures Gantry
// promises (issue #2): cold and warm start, idle memory, create
// throughput, LIST latency and watch fan-out. The results, with the
// commands that produced them, are in docs/benchmarks.md.
//
// The package has no tests; everything is a Go benchmark and runs only
// with -bench:
//
//	go test -run '^$' -bench . -benchtime=3x ./test/bench/
//
// By default every benchmark drives the real `gantry server` binary, with
// embedded etcd fsyncing to disk as it does in production. The binary is
// built once per test process (CGO_ENABLED=0 go build into a temporary
// directory, as the Makefile builds it), or taken from $GANTRY_BIN.
//
// The control-plane API benchmarks (Create, List, WatchFanout) start the
// server with --disable-agent: without the in-process node agent, service
// proxy, DNS and ingress, the pods they create are bound to no node and no
// agent writes their status, so the figures are the control plane's own.
// ColdStart and IdleRSS measure the whole server as `gantry server` runs by
// default; the node benchmarks (PodStart, Service, AgentIdleRSS,
// DeploymentScheduling) start the server they need themselves.
//
// With GANTRY_BENCH_INPROCESS=1 the API benchmarks (Create, List,
// WatchFanout) run against internal/testcluster instead: the control plane
// in the benchmark process itself, so -cpuprofile shows where the server
// spends its time. That cluster skips fsync, so its sub-benchmarks are
// named inprocess-nofsync and their figures are not the ones to quote.
//
// Clients and server share the machine: on a small box the client's own
// encoding and decoding is part of every figure.
package bench
