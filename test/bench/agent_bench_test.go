package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
)

// BenchmarkAgentIdleRSS measures issue #3's agent idle memory: a
// `gantry agent` process joined to a `gantry server --disable-agent`,
// Ready, with no pods, left idle for GANTRY_BENCH_IDLE (default 2m).
// Reported in MiB over the second half of that time, as BenchmarkIdleRSS
// reports the server: VmRSS, its anonymous (heap, stacks) and file-backed
// (the binary's pages) parts, and the highest sample.
//
//	go test -run '^$' -bench AgentIdleRSS -benchtime 3x ./test/bench/
func BenchmarkAgentIdleRSS(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc/PID/status")
	}
	bin := binaryPath(b)
	idle := idleTime(b)
	var sum idleMemory
	for range b.N {
		nodeName, cidr := benchNodeIdentity()
		dk := newDockerAPI()
		network := "gantry-" + cidrName(cidr)
		p := launch(b, filepath.Join(b.TempDir(), "data"), "--disable-agent", "--cluster-cidr", cidr)
		if err := p.waitReady(60*time.Second, 20*time.Millisecond); err != nil {
			p.stop()
			b.Fatal(err)
		}
		token, err := os.ReadFile(filepath.Join(p.dataDir, "join-token"))
		if err != nil {
			p.stop()
			b.Fatal(err)
		}
		port, err := freePort()
		if err != nil {
			b.Fatal(err)
		}
		agent := exec.Command(bin, "agent", "--server", p.url, "--token", strings.TrimSpace(string(token)),
			"--data-dir", b.TempDir(), "--node-name", nodeName, "--agent-port", strconv.Itoa(port))
		var log lockedBuffer
		agent.Stdout, agent.Stderr = &log, &log
		killWithParent(agent)
		if err := agent.Start(); err != nil {
			p.stop()
			b.Fatal(err)
		}
		stopAgent := func() {
			_ = agent.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = agent.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = agent.Process.Kill()
				<-done
			}
			p.stop()
			_ = dk.do(context.Background(), "DELETE", "/networks/"+network, nil, nil)
		}
		cs, err := kubernetes.NewForConfig(p.restConfig(b))
		if err != nil {
			stopAgent()
			b.Fatal(err)
		}
		waitNodeReady(b, cs, nodeName)
		m, err := sampleIdle(agent.Process.Pid, idle)
		stopAgent()
		if err != nil {
			b.Fatalf("%v\n%s", err, tail(log.String(), 20))
		}
		sum.add(m)
	}
	sum.report(b)
}
