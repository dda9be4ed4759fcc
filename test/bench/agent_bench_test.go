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
// Ready, with no pods, once its resident set is stable (within 1 MiB for
// 3 s). Reported in MiB: VmRSS, and its anonymous (heap, stacks) and
// file-backed (the binary's pages) parts.
//
//	go test -run '^$' -bench AgentIdleRSS -benchtime 3x ./test/bench/
func BenchmarkAgentIdleRSS(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc/PID/status")
	}
	bin := binaryPath(b)
	var rss, anon, file float64
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
		last, stable, err := waitStableRSS(agent.Process.Pid)
		var a, f int64
		if err == nil {
			a, err = vmStatus(agent.Process.Pid, "RssAnon")
		}
		if err == nil {
			f, err = vmStatus(agent.Process.Pid, "RssFile")
		}
		stopAgent()
		if err != nil {
			b.Fatalf("%v\n%s", err, tail(log.String(), 20))
		}
		if !stable {
			b.Logf("agent VmRSS not stable within %v; reporting the last sample", rssBound)
		}
		rss += float64(last) / 1024
		anon += float64(a) / 1024
		file += float64(f) / 1024
	}
	n := float64(b.N)
	b.ReportMetric(rss/n, "MiB")
	b.ReportMetric(anon/n, "anon-MiB")
	b.ReportMetric(file/n, "file-MiB")
}
