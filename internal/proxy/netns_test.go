package proxy

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// requirePrivileges fails the test under CI=true and skips it otherwise:
// CI must never skip netfilter tests silently.
func requirePrivileges(t testing.TB, why string, err error) {
	t.Helper()
	msg := fmt.Sprintf("needs root and network namespaces for real netfilter: %s: %v", why, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: not skipping)")
	}
	t.Skip(msg)
}

// testNetns is a throwaway network namespace, held by one locked OS
// thread that runs the functions given to do; it disappears when the
// test ends. Sockets created inside do belong to the namespace and may be
// used from any goroutine afterwards.
type testNetns struct {
	fd  int
	run chan func()
}

func newTestNetns(t testing.TB) *testNetns {
	t.Helper()
	if os.Geteuid() != 0 {
		requirePrivileges(t, "not root", fmt.Errorf("euid %d", os.Geteuid()))
	}
	for _, tool := range []string{"nsenter", "ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			requirePrivileges(t, "tool "+tool, err)
		}
	}
	ns := &testNetns{run: make(chan func())}
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it exits with this goroutine,
		// taking the namespace's last reference with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		ns.fd = fd
		errc <- err
		if err != nil {
			return
		}
		for f := range ns.run {
			f()
		}
	}()
	if err := <-errc; err != nil {
		requirePrivileges(t, "creating a network namespace", err)
	}
	t.Cleanup(func() {
		close(ns.run)
		unix.Close(ns.fd)
	})
	ns.sh(t, "ip link set lo up")
	return ns
}

// do runs f on the namespace's thread.
func (ns *testNetns) do(f func()) {
	done := make(chan struct{})
	ns.run <- func() { defer close(done); f() }
	<-done
}

// sh runs a command line (split on spaces) inside the namespace and
// returns its output; a failure fails the test.
func (ns *testNetns) sh(t testing.TB, cmdline string) string {
	t.Helper()
	out, err := ns.cmd(cmdline)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, out)
	}
	return out
}

func (ns *testNetns) cmd(cmdline string) (string, error) {
	args := append([]string{fmt.Sprintf("--net=/proc/%d/fd/%d", os.Getpid(), ns.fd)}, strings.Fields(cmdline)...)
	out, err := exec.Command("nsenter", args...).CombinedOutput()
	return string(out), err
}
