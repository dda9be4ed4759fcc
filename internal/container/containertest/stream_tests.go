package containertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
)

func testLogs(t *testing.T, h *harness) {
	sb := h.sandbox("logs")
	id := h.run(sb, h.ctr("talker", "log", "5"))
	h.waitLogs(id, "line 5\n")
	if got, want := h.logs(id, container.LogOptions{}), "line 1\nline 2\nline 3\nline 4\nline 5\n"; got != want {
		t.Errorf("logs = %q, want %q", got, want)
	}
	if got, want := h.logs(id, container.LogOptions{Tail: 2}), "line 4\nline 5\n"; got != want {
		t.Errorf("logs tail 2 = %q, want %q", got, want)
	}
	if got := h.logs(id, container.LogOptions{Since: time.Now().Add(time.Hour)}); got != "" {
		t.Errorf("logs since an hour ahead = %q, want nothing", got)
	}
	if got := h.logs(id, container.LogOptions{Since: time.Now().Add(-time.Hour)}); !strings.Contains(got, "line 1\n") {
		t.Errorf("logs since an hour ago = %q, want everything", got)
	}
	stamped := h.logs(id, container.LogOptions{Timestamps: true, Tail: 1})
	ts, line, _ := strings.Cut(stamped, " ")
	when, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || line != "line 5\n" || time.Since(when) > time.Hour || time.Since(when) < -time.Minute {
		t.Errorf("logs with timestamps = %q (%v), want \"<RFC 3339 time> line 5\\n\"", stamped, err)
	}

	// Both streams, and logs of an exited container.
	both := h.run(sb, h.ctr("both", "exit", "4"))
	h.waitState(both, container.ContainerExited)
	got := h.logs(both, container.LogOptions{})
	if !strings.Contains(got, "stdout 4\n") || !strings.Contains(got, "stderr 4\n") {
		t.Errorf("logs of stdout and stderr = %q", got)
	}
	_, err = h.rt.ContainerLogs(h.ctx(), "0123456789ab0123456789ab", container.LogOptions{})
	wantErr(t, "ContainerLogs of a missing container", err, container.ErrNotFound)
}

func testLogsFollow(t *testing.T, h *harness) {
	sb := h.sandbox("follow")
	id := h.run(sb, h.ctr("talker", "log", "3"))
	h.waitLogs(id, "line 3\n")
	rc, err := h.rt.ContainerLogs(h.ctx(), id, container.LogOptions{Follow: true})
	noErr(t, "ContainerLogs(follow)", err)
	defer rc.Close()
	done := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(rc)
		done <- string(b)
	}()
	select {
	case got := <-done:
		t.Fatalf("a followed log of a running container ended: %q", got)
	case <-time.After(200 * time.Millisecond):
	}
	noErr(t, "StopContainer", h.rt.StopContainer(h.ctx(), id, 10*time.Second))
	select {
	case got := <-done:
		if !strings.HasPrefix(got, "line 1\nline 2\nline 3\n") {
			t.Errorf("followed logs = %q", got)
		}
	case <-time.After(h.s.opts.Timeout):
		t.Fatal("a followed log did not end when the container stopped")
	}

	// Closing the reader ends a follow early.
	id2 := h.run(sb, h.ctr("sleeper", "sleep"))
	h.waitLogs(id2, "sleeping")
	rc2, err := h.rt.ContainerLogs(h.ctx(), id2, container.LogOptions{Follow: true})
	noErr(t, "ContainerLogs(follow)", err)
	ended := make(chan struct{})
	go func() { io.ReadAll(rc2); close(ended) }()
	rc2.Close()
	select {
	case <-ended:
	case <-time.After(h.s.opts.Timeout):
		t.Fatal("closing a followed log did not end the read")
	}
}

func testExec(t *testing.T, h *harness) {
	sb := h.sandbox("exec")
	cfg := h.ctr("app", "sleep")
	cfg.Env = []container.EnvVar{{Name: "FROM_SPEC", Value: "yes"}}
	id := h.run(sb, cfg)
	h.waitLogs(id, "sleeping")

	if code, out, _ := h.exec(id, nil, "env"); code != 0 || !hasLine(out, "FROM_SPEC=yes") {
		t.Errorf("exec env: exit %d, output %q", code, out)
	}
	if code, out, stderr := h.exec(id, nil, "exit", "7"); code != 7 || out != "stdout 7\n" || stderr != "stderr 7\n" {
		t.Errorf("exec exit 7 = %d, stdout %q, stderr %q; want 7 and one line each", code, out, stderr)
	}
	if code, out, _ := h.exec(id, strings.NewReader("to stdin and back\n"), "echo-stdin"); code != 0 || out != "to stdin and back\n" {
		t.Errorf("exec with stdin: exit %d, output %q", code, out)
	}
	code, err := h.rt.Exec(h.ctx(), id, []string{"/no/such/program"}, container.Streams{})
	if err != nil || (code != 126 && code != 127) {
		t.Errorf("exec of a missing program = %d, %v; want 126 or 127", code, err)
	}

	ctx, cancel := context.WithTimeout(h.ctx(), 300*time.Millisecond)
	defer cancel()
	if _, err := h.rt.Exec(ctx, id, []string{"/testimage", "sleep"}, container.Streams{}); err == nil {
		t.Error("exec outliving its context returned no error")
	}

	noErr(t, "StopContainer", h.rt.StopContainer(h.ctx(), id, 10*time.Second))
	_, err = h.rt.Exec(h.ctx(), id, []string{"/testimage", "env"}, container.Streams{})
	wantErr(t, "exec in a stopped container", err, container.ErrNotRunning)
	_, err = h.rt.Exec(h.ctx(), "0123456789ab0123456789ab", []string{"/testimage", "env"}, container.Streams{})
	wantErr(t, "exec in a missing container", err, container.ErrNotFound)
}

func testAttach(t *testing.T, h *harness) {
	sb := h.sandbox("attach")
	cfg := h.ctr("echo", "echo-stdin")
	cfg.Stdin, cfg.StdinOnce = true, true
	id := h.run(sb, cfg)
	h.waitState(id, container.ContainerRunning)
	var out bytes.Buffer
	err := h.rt.Attach(h.ctx(), id, container.Streams{Stdin: strings.NewReader("typed in\n"), Stdout: &out, Stderr: &out})
	noErr(t, "Attach", err)
	if out.String() != "typed in\n" {
		t.Errorf("attached output = %q, want the input echoed", out.String())
	}
	st := h.waitState(id, container.ContainerExited)
	if st.ExitCode != 0 {
		t.Errorf("after stdin closed the process exited %d, want 0", st.ExitCode)
	}
	wantErr(t, "Attach to an exited container", h.rt.Attach(h.ctx(), id, container.Streams{}), container.ErrNotRunning)

	// Without stdinOnce (kubectl debug -i) the end of the client's input
	// leaves the container's stdin open, and its output keeps coming
	// until it exits.
	cfg = h.ctr("line", "echo-line")
	cfg.Stdin = true
	id = h.run(sb, cfg)
	h.waitState(id, container.ContainerRunning)
	out.Reset()
	err = h.rt.Attach(h.ctx(), id, container.Streams{Stdin: strings.NewReader("one line\n"), Stdout: &out, Stderr: &out})
	noErr(t, "Attach without stdinOnce", err)
	if out.String() != "one line\n" {
		t.Errorf("attached output without stdinOnce = %q, want the line echoed", out.String())
	}
}

// conn is the client side of a port-forward: a request, then EOF.
type conn struct {
	in  io.Reader
	out bytes.Buffer
}

func (c *conn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *conn) Write(p []byte) (int, error) { return c.out.Write(p) }

func testPortForward(t *testing.T, h *harness) {
	sb := h.sandbox("pf")
	srv := h.run(sb, h.ctr("server", "serve", "8081"))
	h.waitLogs(srv, "serving on 8081")
	c := &conn{in: strings.NewReader("GET / HTTP/1.0\r\nHost: x\r\n\r\n")}
	noErr(t, "PortForward", h.rt.PortForward(h.ctx(), sb, 8081, c))
	if got := c.out.String(); !strings.HasPrefix(got, "HTTP/1.0 200 OK") || !strings.Contains(got, "hello from pf") {
		t.Errorf("port-forwarded response = %q", got)
	}
	c = &conn{in: strings.NewReader("")}
	if err := h.rt.PortForward(h.ctx(), sb, 8089, c); err == nil {
		t.Error("PortForward to a closed port succeeded")
	}
	wantErr(t, "PortForward to a missing sandbox", h.rt.PortForward(h.ctx(), "0123456789ab0123456789ab", 80, &conn{in: strings.NewReader("")}), container.ErrNotFound)
}

func testStats(t *testing.T, h *harness) {
	sb := h.sandbox("stats")
	id := h.run(sb, h.ctr("app", "sleep"))
	h.waitLogs(id, "sleeping")
	h.eventually("non-zero stats", func() string {
		st, err := h.rt.ContainerStats(h.ctx(), id)
		if err != nil {
			t.Fatalf("ContainerStats: %v", err)
		}
		if st.CPUUsageNanoseconds == 0 || st.MemoryWorkingSetBytes == 0 || st.Timestamp.IsZero() {
			return fmt.Sprintf("stats %+v", st)
		}
		return ""
	})
	noErr(t, "StopContainer", h.rt.StopContainer(h.ctx(), id, 10*time.Second))
	_, err := h.rt.ContainerStats(h.ctx(), id)
	wantErr(t, "ContainerStats of a stopped container", err, container.ErrNotRunning)
}
