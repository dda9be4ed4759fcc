package bench

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// readyPoll is how often start-up benchmarks check for readiness.
const readyPoll = 5 * time.Millisecond

// BenchmarkColdStart measures from exec of `gantry server` until GET
// /readyz answers 200 and the admin kubeconfig exists: on a fresh data dir
// (etcd initialised, PKI generated) and on an existing one (the warm start,
// data and PKI reused; the old kubeconfig is removed first, so only the new
// server's write counts). The binary's pages are in the page cache after
// the first run in both cases.
//
// Metrics: ms/ready (exec to ready, as a user sees it) and server-ms (the
// server's own "startup=" log figure, from server.Run to ready).
func BenchmarkColdStart(b *testing.B) {
	b.Run("data-dir=fresh", func(b *testing.B) {
		binaryPath(b)
		root := b.TempDir()
		n := 0
		benchStart(b, func() string {
			n++
			return filepath.Join(root, strconv.Itoa(n))
		})
	})
	b.Run("data-dir=existing", func(b *testing.B) {
		binaryPath(b)
		dir := filepath.Join(b.TempDir(), "data")
		p := launch(b, dir)
		err := p.waitReady(60*time.Second, readyPoll)
		p.stop()
		if err != nil {
			b.Fatal(err)
		}
		benchStart(b, func() string {
			if err := os.Remove(p.kubeconfig); err != nil {
				b.Fatal(err)
			}
			return dir
		})
	})
}

// benchStart starts and stops the server b.N times on the data dir that
// prepare returns, timing only exec to ready.
func benchStart(b *testing.B, prepare func() string) {
	b.Helper()
	var ready, logged time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := prepare()
		b.StartTimer()
		start := time.Now()
		p := launch(b, dir)
		err := p.waitReady(60*time.Second, readyPoll)
		ready += time.Since(start)
		b.StopTimer()
		p.stop()
		if err != nil {
			b.Fatal(err)
		}
		d, ok := p.startup()
		if !ok {
			b.Fatalf("no startup= figure in the server log:\n%s", tail(p.log.String(), 20))
		}
		logged += d
		b.StartTimer()
	}
	b.ReportMetric(ms(ready)/float64(b.N), "ms/ready")
	b.ReportMetric(ms(logged)/float64(b.N), "server-ms")
}

// BenchmarkIdleRSS starts the binary on a fresh data dir, waits until it is
// ready, leaves it idle for GANTRY_BENCH_IDLE (default 2m) and reports its
// resident set over the second half of that time (sampled every second):
// VmRSS of the whole server process (API server, embedded etcd,
// controllers, node agent) in MiB, the same split into anonymous memory
// (heaps, stacks) and file pages (mostly the binary's text), the highest
// sample, and the process's peak (VmHWM). An idle server's heap grows
// for a minute or two after start, so an earlier sample flatters it.
func BenchmarkIdleRSS(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc/PID/status")
	}
	binaryPath(b)
	idle := idleTime(b)
	var sum idleMemory
	var hwm float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := launch(b, filepath.Join(b.TempDir(), "data"))
		if err := p.waitReady(60*time.Second, 20*time.Millisecond); err != nil {
			p.stop()
			b.Fatal(err)
		}
		pid := p.cmd.Process.Pid
		m, err := sampleIdle(pid, idle)
		var peak int64
		if err == nil {
			peak, err = vmStatus(pid, "VmHWM")
		}
		p.stop()
		if err != nil {
			b.Fatal(err)
		}
		sum.add(m)
		hwm += float64(peak) / 1024
	}
	sum.report(b)
	b.ReportMetric(hwm/float64(b.N), "peak-MiB")
}

// idleTime is how long the RSS benchmarks leave a process idle:
// GANTRY_BENCH_IDLE, default 2 minutes.
func idleTime(b *testing.B) time.Duration {
	d := 2 * time.Minute
	if v := os.Getenv("GANTRY_BENCH_IDLE"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < 2*time.Second {
			b.Fatalf("GANTRY_BENCH_IDLE=%q: want a duration of at least 2s", v)
		}
	}
	return d
}

// idleMemory is a process's resident set in MiB: the means of VmRSS,
// RssAnon and RssFile and the highest VmRSS over a stretch of samples
// (summed over runs by add).
type idleMemory struct {
	rss, anon, file, max float64
	runs                 int
}

func (m *idleMemory) add(o idleMemory) {
	m.rss += o.rss
	m.anon += o.anon
	m.file += o.file
	m.max += o.max
	m.runs++
}

// report reports the means over the runs added.
func (m idleMemory) report(b *testing.B) {
	n := float64(max(m.runs, 1))
	b.ReportMetric(m.rss/n, "MiB")
	b.ReportMetric(m.anon/n, "anon-MiB")
	b.ReportMetric(m.file/n, "file-MiB")
	b.ReportMetric(m.max/n, "max-MiB")
}

// sampleIdle samples pid's resident set every second for idle and
// returns the figures of the second half of that time.
func sampleIdle(pid int, idle time.Duration) (idleMemory, error) {
	const every = time.Second
	start := time.Now()
	var m idleMemory
	n := 0
	for {
		elapsed := time.Since(start)
		if elapsed >= idle/2 {
			var kib [3]int64
			for j, field := range []string{"VmRSS", "RssAnon", "RssFile"} {
				var err error
				if kib[j], err = vmStatus(pid, field); err != nil {
					return m, err
				}
			}
			rss := float64(kib[0]) / 1024
			m.rss += rss
			m.anon += float64(kib[1]) / 1024
			m.file += float64(kib[2]) / 1024
			m.max = max(m.max, rss)
			n++
		} else if _, err := vmStatus(pid, "VmRSS"); err != nil {
			return m, err // the process is gone
		}
		if elapsed >= idle {
			break
		}
		time.Sleep(every) // sampling interval
	}
	m.rss, m.anon, m.file = m.rss/float64(n), m.anon/float64(n), m.file/float64(n)
	return m, nil
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
