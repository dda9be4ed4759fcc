package bench

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// process is one running `gantry server`.
type process struct {
	cmd        *exec.Cmd
	url        string
	dataDir    string
	kubeconfig string
	log        *lockedBuffer
	exited     chan struct{} // closed when the process has exited
	waitErr    error         // valid once exited is closed
	poll       *http.Client
}

// launch execs `gantry server` on a free port, with extra flags, and
// returns at once; the caller waits with waitReady.
func launch(b *testing.B, dataDir string, extra ...string) *process {
	b.Helper()
	// A stopped agent leaves its pods' memory-backed volumes mounted.
	b.Cleanup(func() {
		if err := agent.UnmountUnder(dataDir); err != nil {
			b.Error(err)
		}
	})
	bin := binaryPath(b)
	port, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	p := &process{
		url:        "https://127.0.0.1:" + strconv.Itoa(port),
		dataDir:    dataDir,
		kubeconfig: filepath.Join(dataDir, "kubeconfig.yaml"),
		log:        &lockedBuffer{},
		exited:     make(chan struct{}),
		// Only for /readyz, which needs no credentials; the CA may not
		// exist yet when polling starts.
		poll: &http.Client{Timeout: time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		}},
	}
	ingressHTTP, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	ingressHTTPS, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	args := append([]string{"server", "--data-dir", dataDir, "--port", strconv.Itoa(port), "--bind-address", "127.0.0.1",
		"--ingress-http-port", strconv.Itoa(ingressHTTP), "--ingress-https-port", strconv.Itoa(ingressHTTPS)}, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	killWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return p
}

// errExited reports a server that exited before it was ready.
var errExited = errors.New("bench: gantry server exited")

// waitReady polls every interval until the admin kubeconfig exists and
// GET /readyz answers 200. The file is checked first: it is written last
// (after the listener and the bootstrap), and a stat costs the starting
// server nothing.
func (p *process) waitReady(timeout, interval time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("%w: %v\n%s", errExited, p.waitErr, tail(p.log.String(), 20))
		default:
		}
		if _, err := os.Stat(p.kubeconfig); err == nil && p.readyz() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: gantry server not ready within %v\n%s", timeout, tail(p.log.String(), 20))
		}
		time.Sleep(interval) // polling interval, not synchronisation
	}
}

func (p *process) readyz() bool {
	resp, err := p.poll.Get(p.url + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop interrupts the server and waits for it to exit (killing it after
// 20 s). It is idempotent.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.poll.CloseIdleConnections()
}

var startupRE = regexp.MustCompile(`msg="Gantry is ready".* startup=(\S+)`)

// startup returns the start-up time the server logged itself (from the
// start of server.Run, so without exec and Go runtime start).
func (p *process) startup() (time.Duration, bool) {
	m := startupRE.FindStringSubmatch(p.log.String())
	if m == nil {
		return 0, false
	}
	d, err := time.ParseDuration(m[1])
	return d, err == nil
}

// restConfig loads the admin kubeconfig, without client-side throttling.
func (p *process) restConfig(b *testing.B) *rest.Config {
	b.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", p.kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS = -1
	return cfg
}

// startServer starts a gantry binary on a fresh data dir, with extra
// flags, waits until it is ready and stops it when the benchmark ends.
func startServer(b *testing.B, extra ...string) *process {
	b.Helper()
	p := launch(b, b.TempDir(), extra...)
	b.Cleanup(p.stop)
	if err := p.waitReady(60*time.Second, 20*time.Millisecond); err != nil {
		b.Fatal(err)
	}
	return p
}

// apiTarget is the control plane an API benchmark drives.
type apiTarget struct {
	// name is "" for the binary, "inprocess-nofsync" for testcluster.
	name string
	cfg  *rest.Config
}

// startAPITarget starts the gantry binary with --disable-agent (the control
// plane only: no node agent, proxy, DNS or ingress work, so pods the
// benchmark creates are scheduled to no node and never get a status from an
// agent), or with GANTRY_BENCH_INPROCESS=1 an in-process testcluster (no
// fsync, no agents; for profiling the server).
func startAPITarget(b *testing.B, args ...string) apiTarget {
	b.Helper()
	if os.Getenv("GANTRY_BENCH_INPROCESS") == "1" {
		c := testcluster.Start(b) // with controllers, as the binary runs
		cfg := rest.CopyConfig(c.Config)
		cfg.QPS = -1
		return apiTarget{name: "inprocess-nofsync", cfg: cfg}
	}
	p := startServer(b, append([]string{"--disable-agent"}, args...)...)
	return apiTarget{cfg: p.restConfig(b)}
}

// run runs f as a sub-benchmark named after the target, or directly for
// the binary, so the figures to quote keep the names issue #2 gives them.
func (t apiTarget) run(b *testing.B, f func(b *testing.B)) {
	b.Helper()
	if t.name == "" {
		f(b)
		return
	}
	b.Run(t.name, f)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// vmStatus returns a field of /proc/PID/status in KiB (VmRSS, VmHWM,
// RssAnon, RssFile).
func vmStatus(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		v = strings.TrimSuffix(strings.TrimSpace(v), " kB")
		return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	}
	return 0, fmt.Errorf("bench: %s not in /proc/%d/status", field, pid)
}

// cpuTime returns the CPU time (user and system) that process pid has
// used so far, from /proc/PID/stat (in clock ticks of 1/100 s, the value
// of USER_HZ on every Linux architecture Go supports).
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: malformed /proc/%d/stat", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// lockedBuffer collects the server's log; the process writes to it from
// two goroutines (stdout and stderr).
type lockedBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
