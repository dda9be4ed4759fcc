package fake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
)

type logEntry struct {
	t    time.Time
	line []byte // with its newline, unless the process ended mid-line
}

// sink is an attached client's output streams.
type sink struct {
	stdout, stderr io.Writer
}

// logWriter records a container's output stream as log lines and copies it
// to attached clients. Callers hold Runtime.mu (it is only written through
// a guardWriter).
type logWriter struct {
	r       *Runtime
	c       *ctr
	stream  string
	partial []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	c := w.c
	for _, s := range c.sinks {
		out := s.stdout
		if w.stream == "stderr" {
			out = s.stderr
		}
		if out != nil {
			out.Write(b)
		}
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		c.logs = append(c.logs, logEntry{t: time.Now(), line: bytes.Clone(w.partial[:i+1])})
		w.partial = w.partial[i+1:]
	}
	c.logChange()
	return len(b), nil
}

// flush records a last line without a newline.
func (w *logWriter) flush() {
	if len(w.partial) > 0 {
		w.c.logs = append(w.c.logs, logEntry{t: time.Now(), line: w.partial})
		w.partial = nil
	}
}

// logChange wakes whoever waits for new output or a state change. Callers
// hold Runtime.mu.
func (c *ctr) logChange() {
	close(c.logChanged)
	c.logChanged = make(chan struct{})
}

func (r *Runtime) containerLogs(ctx context.Context, id string, opts container.LogOptions) (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, container.ErrNotFound)
	}
	var buf bytes.Buffer
	first := 0
	if opts.Tail > 0 && len(c.logs) > opts.Tail {
		first = len(c.logs) - opts.Tail
	}
	render := func(entries []logEntry) []byte {
		var b bytes.Buffer
		for _, e := range entries {
			if !opts.Since.IsZero() && e.t.Before(opts.Since) {
				continue
			}
			if opts.Timestamps {
				b.WriteString(e.t.UTC().Format(time.RFC3339Nano) + " ")
			}
			b.Write(e.line)
		}
		return b.Bytes()
	}
	buf.Write(render(c.logs[first:]))
	if !opts.Follow || c.state == container.ContainerExited {
		return io.NopCloser(&buf), nil
	}
	pr, pw := io.Pipe()
	closed := make(chan struct{})
	next, changed := len(c.logs), c.logChanged
	go func() {
		if _, err := pw.Write(buf.Bytes()); err != nil {
			return
		}
		for {
			select {
			case <-changed:
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			case <-closed:
				return
			}
			r.mu.Lock()
			out := render(c.logs[next:])
			next, changed = len(c.logs), c.logChanged
			exited := c.state == container.ContainerExited
			r.mu.Unlock()
			if _, err := pw.Write(out); err != nil {
				return
			}
			if exited {
				pw.Close()
				return
			}
		}
	}()
	return readCloser{pr, func() error { close(closed); return pr.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

func (r *Runtime) exec(ctx context.Context, id string, cmd []string, s container.Streams) (int, error) {
	r.mu.Lock()
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return 0, fmt.Errorf("exec in %s: %w", id, container.ErrNotFound)
	}
	if c.state != container.ContainerRunning {
		r.mu.Unlock()
		return 0, fmt.Errorf("exec in %s: %w", id, container.ErrNotRunning)
	}
	stdout, stderr := orDiscard(s.Stdout), orDiscard(s.Stderr)
	if s.TTY {
		stderr = stdout
	}
	if msg := c.missing(cmd); msg != "" {
		r.mu.Unlock()
		fmt.Fprintln(stderr, msg)
		return 127, nil
	}
	var stdin io.Reader = strings.NewReader("")
	if s.Stdin != nil {
		stdin = s.Stdin
	}
	var p *Process
	p = r.spawn(c, cmd, stdin, stdout, stderr, func(int) { delete(c.execs, p) })
	c.execs[p] = true
	r.mu.Unlock()

	select {
	case <-p.done:
	case <-ctx.Done():
		r.mu.Lock()
		p.kill()
		delete(c.execs, p)
		r.mu.Unlock()
		return 0, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return p.code, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func (r *Runtime) attach(ctx context.Context, id string, s container.Streams) error {
	r.mu.Lock()
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("attach to %s: %w", id, container.ErrNotFound)
	}
	if c.state != container.ContainerRunning {
		r.mu.Unlock()
		return fmt.Errorf("attach to %s: %w", id, container.ErrNotRunning)
	}
	sk := &sink{stdout: s.Stdout, stderr: s.Stderr}
	if c.cfg.TTY {
		sk.stderr = s.Stdout
	}
	c.sinks = append(c.sinks, sk)
	if s.Stdin != nil && c.stdin != nil && !(c.cfg.StdinOnce && c.stdinUsed) {
		c.stdinUsed = true
		w, once := c.stdin, c.cfg.StdinOnce
		go func() {
			io.Copy(w, s.Stdin)
			if once {
				w.Close()
			}
		}()
	}
	changed := c.logChanged
	r.mu.Unlock()

	defer func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		c.sinks = slices.DeleteFunc(c.sinks, func(x *sink) bool { return x == sk })
	}()
	for {
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.mu.Lock()
		running := c.state == container.ContainerRunning
		changed = c.logChanged
		r.mu.Unlock()
		if !running {
			return nil
		}
	}
}

func (r *Runtime) portForward(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error {
	r.mu.Lock()
	sb, ok := r.sandboxes[sandboxID]
	ready := ok && sb.ready
	r.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("port-forward: sandbox %s: %w", sandboxID, container.ErrNotFound)
	case !ready:
		return fmt.Errorf("port-forward: sandbox %s: %w", sandboxID, container.ErrNotRunning)
	}
	conn, err := r.dialPort(ctx, sb, port)
	if err != nil {
		return fmt.Errorf("port-forward to port %d in sandbox %s: %w", port, sandboxID, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	go func() {
		io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	_, err = io.Copy(stream, conn)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (r *Runtime) containerStats(ctx context.Context, id string) (container.Stats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return container.Stats{}, fmt.Errorf("stats of %s: %w", id, container.ErrNotFound)
	}
	if c.state != container.ContainerRunning {
		return container.Stats{}, fmt.Errorf("stats of %s: %w", id, container.ErrNotRunning)
	}
	// A steady 1% of a CPU and 1 MiB plus what its processes allocated.
	return container.Stats{
		Timestamp:             time.Now(),
		CPUUsageNanoseconds:   uint64(time.Since(c.started)/100) + 1,
		MemoryWorkingSetBytes: 1<<20 + uint64(c.memory),
	}, nil
}

// DialSandbox connects to port in the sandbox's network namespace, as a
// client on the node connecting to the pod's IP would (tests use it for
// probes). ErrNotFound, ErrNotRunning as for PortForward; a port nobody
// listens on is refused.
func (r *Runtime) DialSandbox(ctx context.Context, sandboxID string, port int) (net.Conn, error) {
	r.mu.Lock()
	sb, ok := r.sandboxes[sandboxID]
	ready := ok && sb.ready
	r.mu.Unlock()
	switch {
	case !ok:
		return nil, fmt.Errorf("dial: sandbox %s: %w", sandboxID, container.ErrNotFound)
	case !ready:
		return nil, fmt.Errorf("dial: sandbox %s: %w", sandboxID, container.ErrNotRunning)
	}
	return r.dialPort(ctx, sb, port)
}
