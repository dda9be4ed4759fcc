package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// outsideMachine is another machine on a point-to-point link to this
// host: a network namespace joined by a veth pair (host 10.250.250.1,
// outside 10.250.250.2), routing everything through the host. Its
// traffic to the host's addresses is forwarded like traffic from the
// LAN, so Docker's FORWARD policy applies to it.
type outsideMachine struct {
	name string
}

func newOutsideMachine(t *testing.T) *outsideMachine {
	t.Helper()
	o := &outsideMachine{name: fmt.Sprintf("gantry-e2e-out-%d", os.Getpid())}
	host := fmt.Sprintf("ge2e%d", os.Getpid()%100000)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", o.name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", host).Run()
		_ = exec.Command("ip", "netns", "del", o.name).Run()
	})
	run("link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", o.name)
	run("addr", "add", "10.250.250.1/30", "dev", host)
	run("link", "set", host, "up")
	run("-n", o.name, "addr", "add", "10.250.250.2/30", "dev", "eth0")
	run("-n", o.name, "link", "set", "eth0", "up")
	run("-n", o.name, "link", "set", "lo", "up")
	run("-n", o.name, "route", "add", "default", "via", "10.250.250.1")
	return o
}

// dial connects to addr from inside the outside machine: the socket is
// made on a thread that joined the namespace (and is never used again).
func (o *outsideMachine) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		fd, err := unix.Open("/run/netns/"+o.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			res <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		res <- result{c, err}
	}()
	r := <-res
	return r.c, r.err
}

// client is an HTTP client whose connections come from the outside machine.
func (o *outsideMachine) client() *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DialContext: o.dial, DisableKeepAlives: true},
	}
}
