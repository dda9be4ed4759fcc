package docker

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPauseBinaryUpToDate rebuilds the pause program from its sources and
// checks that the embedded binary was built from the same sources (the
// hash "pause version" prints) and behaves the same. Byte equality would
// depend on the Go toolchain.
func TestPauseBinaryUpToDate(t *testing.T) {
	if runtime.GOOS != "linux" || len(pauseBinary) == 0 {
		t.Skipf("no embedded pause program for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	dir := t.TempDir()
	embedded := filepath.Join(dir, "embedded")
	if err := os.WriteFile(embedded, pauseBinary, 0o755); err != nil {
		t.Fatal(err)
	}
	gen := exec.Command("go", "run", "./pause/gen", "-src", "pause", "-out", dir, "-arch", runtime.GOARCH)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("go run ./pause/gen: %v\n%s", err, out)
	}
	fresh := filepath.Join(dir, "pause_"+runtime.GOARCH+".bin")

	want := pauseVersion(t, fresh)
	if got := pauseVersion(t, embedded); got != want {
		t.Fatalf("the embedded pause program was built from other sources (%s) than ./pause has (%s): run go generate ./internal/container/docker", got, want)
	}
	for name, bin := range map[string]string{"embedded": embedded, "rebuilt": fresh} {
		t.Run(name, func(t *testing.T) { checkPause(t, bin) })
	}
}

func pauseVersion(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	v := strings.TrimSpace(string(out))
	if len(v) != 16 {
		t.Fatalf("%s version = %q, want a source hash", bin, v)
	}
	return v
}

// checkPause runs the pause program on the host and checks its behaviour.
func checkPause(t *testing.T, bin string) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(bin)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			t.Fatalf("pause exited before any signal: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		cmd.Process.Signal(sig)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("pause on %v: %v, want exit 0", sig, err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("pause ignored %v", sig)
		}
	}

	// forward: stdin to localhost:PORT, the answer to stdout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c) // until the forwarder half-closes
		c.Write(bytes.ToUpper(b))
	}()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	cmd := exec.Command(bin, "forward", port)
	cmd.Stdin = strings.NewReader("through the sandbox")
	out, err := cmd.Output()
	if err != nil || string(out) != "THROUGH THE SANDBOX" {
		t.Errorf("pause forward = %q, %v; want the echo server's answer", out, err)
	}

	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := strconv.Itoa(l2.Addr().(*net.TCPAddr).Port)
	l2.Close()
	var stderr bytes.Buffer
	cmd = exec.Command(bin, "forward", closed)
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "connection refused") {
		t.Errorf("pause forward to a closed port: %v, stderr %q; want exit 1 and connection refused", err, stderr.String())
	}
	if err := exec.Command(bin, "bogus").Run(); !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("pause bogus: %v, want exit 2", err)
	}
}
