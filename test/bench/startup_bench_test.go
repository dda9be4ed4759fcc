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
// ready and then until its resident set is stable (within 1 MiB for 3 s,
// sampled every 250 ms, at most 30 s), and reports VmRSS of the whole
// server process (API server, embedded etcd, controllers) in MiB; also its
// peak (VmHWM) and the resident set split into anonymous memory (heaps,
// stacks) and file pages (mostly the binary's text).
func BenchmarkIdleRSS(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc/PID/status")
	}
	binaryPath(b)
	var rss, hwm, anon, file float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := launch(b, filepath.Join(b.TempDir(), "data"))
		if err := p.waitReady(60*time.Second, 20*time.Millisecond); err != nil {
			p.stop()
			b.Fatal(err)
		}
		pid := p.cmd.Process.Pid
		last, stable, err := waitStableRSS(pid)
		if err != nil {
			p.stop()
			b.Fatal(err)
		}
		if !stable {
			b.Logf("VmRSS not stable within %v; reporting the last sample", rssBound)
		}
		var kib [3]int64 // VmHWM, RssAnon, RssFile
		for j, field := range []string{"VmHWM", "RssAnon", "RssFile"} {
			if kib[j], err = vmStatus(pid, field); err != nil {
				break
			}
		}
		p.stop()
		if err != nil {
			b.Fatal(err)
		}
		rss += float64(last) / 1024
		hwm += float64(kib[0]) / 1024
		anon += float64(kib[1]) / 1024
		file += float64(kib[2]) / 1024
	}
	b.ReportMetric(rss/float64(b.N), "MiB")
	b.ReportMetric(hwm/float64(b.N), "peak-MiB")
	b.ReportMetric(anon/float64(b.N), "anon-MiB")
	b.ReportMetric(file/float64(b.N), "file-MiB")
}

// rssBound is how long waitStableRSS waits for a stable resident set.
const rssBound = 30 * time.Second

// waitStableRSS samples VmRSS of pid every 250 ms until it has stayed
// within 1 MiB for 3 s (at most rssBound) and returns the last sample in
// KiB and whether it was stable.
func waitStableRSS(pid int) (int64, bool, error) {
	const (
		window    = 3 * time.Second
		tolerance = 1024 // KiB
		every     = 250 * time.Millisecond
	)
	type sample struct {
		at  time.Time
		kib int64
	}
	var samples []sample
	deadline := time.Now().Add(rssBound)
	for {
		kib, err := vmStatus(pid, "VmRSS")
		if err != nil {
			return 0, false, err
		}
		now := time.Now()
		samples = append(samples, sample{now, kib})
		for len(samples) > 1 && now.Sub(samples[1].at) >= window {
			samples = samples[1:]
		}
		if now.Sub(samples[0].at) >= window {
			lo, hi := samples[0].kib, samples[0].kib
			for _, s := range samples {
				lo, hi = min(lo, s.kib), max(hi, s.kib)
			}
			if hi-lo <= tolerance {
				return kib, true, nil
			}
		}
		if now.After(deadline) {
			return kib, false, nil
		}
		time.Sleep(every) // sampling interval
	}
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
