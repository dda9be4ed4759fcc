// Package e2e runs Gantry end to end: the built gantry binary, real
// kubectl (embedded as `gantry kubectl`) and, for node tests, real Docker.
//
// TestMain builds the binary once (or uses $GANTRY_BIN) and starts one
// `gantry server` in a temporary data dir for the whole package; tests
// share it and use their own namespaces.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	gantryBin  string // path of the gantry binary under test
	kubeconfig string // admin kubeconfig of the shared server
	serverURL  string
	dataDir    string
	serverLog  *lockedBuffer
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "gantry-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	gantryBin = os.Getenv("GANTRY_BIN")
	if gantryBin == "" {
		gantryBin = filepath.Join(tmp, "gantry")
		// Static and pure Go, as the Makefile builds it.
		build := exec.Command("go", "build", "-o", gantryBin, "github.com/gantry-dev/gantry/cmd/gantry")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building gantry:", err)
			return 1
		}
	}
	dataDir = filepath.Join(tmp, "data")
	// The shared server serves the API tests: no node agent, so nothing
	// there ever tries to pull an image. Node tests start their own.
	stop, err := startServer(dataDir, "--disable-agent")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if serverLog != nil {
			fmt.Fprintln(os.Stderr, serverLog.String())
		}
		return 1
	}
	code := m.Run()
	stop()
	if code != 0 && serverLog != nil {
		fmt.Fprintln(os.Stderr, "--- server log ---\n"+tail(serverLog.String(), 60))
	}
	return code
}

// startServer runs the shared `gantry server` on a free port and waits
// until it is ready and has written its kubeconfig.
func startServer(dir string, extra ...string) (stop func(), err error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	srv, err := launch(dir, port, extra...)
	if srv != nil {
		serverLog = srv.log
	}
	if err != nil {
		return nil, err
	}
	serverURL, kubeconfig = srv.url, srv.kubeconfig
	return srv.stop, nil
}

// gantryProcess is a running `gantry server`.
type gantryProcess struct {
	url, kubeconfig string
	log             *lockedBuffer
	stop            func()
	// ingressHTTP and ingressHTTPS are the Ingress controller's free
	// ports, so that servers never bind 80/443 (extra flags override).
	ingressHTTP, ingressHTTPS int
}

// launch runs `gantry server` with dir and port (and extra flags) and
// waits until it is ready and has written its kubeconfig. On error the
// process is stopped; its log is kept in the returned value.
func launch(dir string, port int, extra ...string) (*gantryProcess, error) {
	p := &gantryProcess{log: &lockedBuffer{}}
	var err error
	if p.ingressHTTP, err = freePort(); err != nil {
		return p, err
	}
	if p.ingressHTTPS, err = freePort(); err != nil {
		return p, err
	}
	cmd := exec.Command(gantryBin, append([]string{"server", "--data-dir", dir, "--port", strconv.Itoa(port), "--bind-address", "127.0.0.1",
		"--ingress-http-port", strconv.Itoa(p.ingressHTTP), "--ingress-https-port", strconv.Itoa(p.ingressHTTPS)}, extra...)...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		return p, err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	p.stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	p.url = "https://127.0.0.1:" + strconv.Itoa(port)
	p.kubeconfig = filepath.Join(dir, "kubeconfig.yaml")
	client := &http.Client{Timeout: time.Second, Transport: insecureTransport()}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return p, fmt.Errorf("gantry server exited: %v", waitErr)
		default:
		}
		if resp, err := client.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if _, statErr := os.Stat(p.kubeconfig); resp.StatusCode == 200 && statErr == nil {
				return p, nil
			}
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	p.stop()
	return p, fmt.Errorf("gantry server not ready within 60s")
}

// portsGiven are the ports freePort has returned.
var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// freePort returns a port that is free now and that it never returned
// before in this process: the kernel may hand a port out again once its
// listener closes, and two servers of one test then collided.
func freePort() (int, error) {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		portsMu.Lock()
		given := portsGiven[port]
		portsGiven[port] = true
		portsMu.Unlock()
		if !given {
			return port, nil
		}
	}
}

// result is one finished command.
type result struct {
	stdout, stderr string
	err            error
}

func (r result) String() string {
	return fmt.Sprintf("err=%v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
}

// kubectl runs `gantry kubectl args...` against the shared server.
func kubectl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return kubectlWith(t, kubeconfig, stdin, args...)
}

// kubectlWith runs `gantry kubectl args...` with the kubeconfig kc.
func kubectlWith(t *testing.T, kc, stdin string, args ...string) result {
	t.Helper()
	return runKubectl(t, kc, stdin, append([]string{gantryBin, "kubectl"}, args...)...)
}

// runKubectl runs the kubectl command line argv (`gantry kubectl …`, or
// another kubectl's) with the kubeconfig kc, for at most a minute.
func runKubectl(t *testing.T, kc, stdin string, argv ...string) result {
	t.Helper()
	// Not t.Context(): cleanups run kubectl too, after it is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kc)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return result{stdout: out.String(), stderr: errb.String(), err: err}
}

// mustKubectl runs kubectl and fails the test if it exits non-zero.
func mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := kubectl(t, stdin, args...)
	if r.err != nil {
		t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// failKubectl runs kubectl, expects a non-zero exit and returns stderr.
func failKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := kubectl(t, stdin, args...)
	if r.err == nil {
		t.Fatalf("kubectl %s succeeded, want failure: %s", strings.Join(args, " "), r)
	}
	return r.stderr
}

// eventually polls cond until it returns true or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// unmountUnder unmounts every mount point below dir: the tmpfs volumes
// (secrets, service account tokens, memory emptyDirs) that a node agent
// leaves mounted for pods still on the node when it stops, so that the
// test's directory can be removed.
func unmountUnder(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Error(err)
		return
	}
	prefix := filepath.Clean(dir) + "/"
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		// "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw"
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], prefix) {
			points = append(points, f[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL {
			t.Errorf("cleanup: unmount %s: %v", p, err)
		}
	}
}
