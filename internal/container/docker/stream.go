package docker

import (
	"bytes"
	"context"

	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/gantry-dev/gantry/internal/container"
)

// ContainerLogs implements container.Streamer.
func (r *Runtime) ContainerLogs(ctx context.Context, id string, opts container.LogOptions) (io.ReadCloser, error) {
	c, err := r.inspectContainer(ctx, id)
	if err != nil {
		return nil, err
	}
	o := dcontainer.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: opts.Follow, Timestamps: opts.Timestamps}
	if opts.Tail > 0 {
		o.Tail = strconv.Itoa(opts.Tail)
	}
	if !opts.Since.IsZero() {
		ns := opts.Since.UnixNano()
		o.Since = fmt.Sprintf("%d.%09d", ns/1e9, ns%1e9)
	}
	rc, err := r.api.ContainerLogs(ctx, id, o)
	if err != nil {
		return nil, classify(err, "logs of %s", id)
	}
	if c.Config.Tty { // a terminal's output is not multiplexed
		return rc, nil
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		pw.CloseWithError(err)
	}()
	return readCloser{pr, func() error { pr.Close(); return rc.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// Exec implements container.Streamer.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, s container.Streams) (int, error) {
	c, err := r.inspectContainer(ctx, id)
	if err != nil {
		return 0, err
	}
	return r.exec(ctx, c, cmd, s)
}

func (r *Runtime) exec(ctx context.Context, c dcontainer.InspectResponse, cmd []string, s container.Streams) (int, error) {
	if c.State == nil || !c.State.Running {
		return 0, fmt.Errorf("exec in %s: %w", c.ID, container.ErrNotRunning)
	}
	created, err := r.api.ContainerExecCreate(ctx, c.ID, dcontainer.ExecOptions{
		Cmd:          cmd,
		Tty:          s.TTY,
		AttachStdin:  s.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		if cerrdefs.IsConflict(err) { // it stopped meanwhile
			return 0, fmt.Errorf("exec in %s: %w: %w", c.ID, container.ErrNotRunning, err)
		}
		return 0, classify(err, "exec in %s", c.ID)
	}
	hr, err := r.api.ContainerExecAttach(ctx, created.ID, dcontainer.ExecAttachOptions{Tty: s.TTY})
	if err != nil {
		return 0, classify(err, "exec in %s", c.ID)
	}
	resize := func(ts container.TerminalSize) error {
		return r.api.ContainerExecResize(ctx, created.ID, dcontainer.ResizeOptions{Width: uint(ts.Width), Height: uint(ts.Height)})
	}
	if err := pipe(ctx, hr, s, true, resize); err != nil {
		return 0, fmt.Errorf("exec in %s: %w", c.ID, err)
	}
	// The output ends a moment before Docker records the exit code.
	for {
		ins, err := r.api.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return 0, classify(err, "exec in %s", c.ID)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// pipe connects s to a hijacked connection until the output ends or ctx
// ends. With closeStdin, stdin EOF half-closes the connection (the
// process's stdin ends) and output continues; without, the connection is
// left open, as Docker ends a whole attach session (output too) when its
// stdin closes, and the session lasts until the process exits or ctx
// ends.
func pipe(ctx context.Context, hr types.HijackedResponse, s container.Streams, closeStdin bool, resize func(container.TerminalSize) error) error {
	defer hr.Close()
	stop := context.AfterFunc(ctx, func() { hr.Close() })
	defer stop()
	if s.Resize != nil && s.TTY {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ts, ok := <-s.Resize:
					if !ok {
						return
					}
					resize(ts)
				}
			}
		}()
	}
	if s.Stdin != nil {
		go func() {
			io.Copy(hr.Conn, s.Stdin)
			if closeStdin {
				hr.CloseWrite()
			}
		}()
	}
	stdout, stderr := orDiscard(s.Stdout), orDiscard(s.Stderr)
	var err error
	if s.TTY {
		_, err = io.Copy(stdout, hr.Reader)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, hr.Reader)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Attach implements container.Streamer.
func (r *Runtime) Attach(ctx context.Context, id string, s container.Streams) error {
	c, err := r.inspectContainer(ctx, id)
	if err != nil {
		return err
	}
	if c.State == nil || !c.State.Running {
		return fmt.Errorf("attach to %s: %w", id, container.ErrNotRunning)
	}
	s.TTY = c.Config.Tty
	if !c.Config.OpenStdin {
		s.Stdin = nil
	}
	hr, err := r.api.ContainerAttach(ctx, id, dcontainer.AttachOptions{Stream: true, Stdin: s.Stdin != nil, Stdout: true, Stderr: true})
	if err != nil {
		return classify(err, "attach to %s", id)
	}
	resize := func(ts container.TerminalSize) error {
		return r.api.ContainerResize(ctx, id, dcontainer.ResizeOptions{Width: uint(ts.Width), Height: uint(ts.Height)})
	}
	// As the CRI runtimes do: the end of one client's stdin closes the
	// container's only with stdinOnce.
	if err := pipe(ctx, hr, s, c.Config.StdinOnce, resize); err != nil {
		return fmt.Errorf("attach to %s: %w", id, err)
	}
	return nil
}

// PortForward implements container.Streamer by running "pause forward
// PORT" in the sandbox, which reaches ports bound to loopback too. It
// returns when the connection ends; a goroutine copying from stream may
// stay blocked in stream.Read until the caller closes stream.
func (r *Runtime) PortForward(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error {
	sb, err := r.inspectSandbox(ctx, sandboxID)
	if err != nil {
		return err
	}
	if port < 1 || port > 65535 {
		return fmt.Errorf("port-forward: %w: port %d", container.ErrInvalid, port)
	}
	var stderr bytes.Buffer
	code, err := r.exec(ctx, sb, []string{"/pause", "forward", strconv.Itoa(port)},
		container.Streams{Stdin: stream, Stdout: stream, Stderr: &stderr})
	if err != nil {
		return fmt.Errorf("port-forward to %d: %w", port, err)
	}
	if code != 0 {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = "exit code " + strconv.Itoa(code)
		}
		return fmt.Errorf("port-forward to port %d in sandbox %s: %s", port, sandboxID, msg)
	}
	return nil
}

// ContainerStats implements container.StatsProvider.
func (r *Runtime) ContainerStats(ctx context.Context, id string) (container.Stats, error) {
	c, err := r.inspectContainer(ctx, id)
	if err != nil {
		return container.Stats{}, err
	}
	if c.State == nil || !c.State.Running {
		return container.Stats{}, fmt.Errorf("stats of %s: %w", id, container.ErrNotRunning)
	}
	if c.Config != nil && c.Config.Labels[labelPlumbed] == "true" {
		st, err := cgroupStats(c.State.Pid)
		if err != nil {
			return st, fmt.Errorf("stats of %s: %w", id, err)
		}
		return st, nil
	}
	resp, err := r.api.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return container.Stats{}, classify(err, "stats of %s", id)
	}
	defer resp.Body.Close()
	var st dcontainer.StatsResponse
	if err := jsonDecode(resp.Body, &st); err != nil {
		return container.Stats{}, fmt.Errorf("stats of %s: %w", id, err)
	}
	return container.Stats{
		Timestamp:             st.Read,
		CPUUsageNanoseconds:   st.CPUStats.CPUUsage.TotalUsage,
		MemoryWorkingSetBytes: workingSet(st.MemoryStats),
	}, nil
}

// workingSet is usage minus inactive file pages, as cAdvisor computes it
// (cgroup v1 reports total_inactive_file, v2 inactive_file).
func workingSet(m dcontainer.MemoryStats) uint64 {
	inactive, ok := m.Stats["total_inactive_file"]
	if !ok {
		inactive = m.Stats["inactive_file"]
	}
	return usageLessInactive(m.Usage, inactive)
}

// usageLessInactive is a working set: memory usage less inactive file
// pages, or 0 when the counters, read at different moments, cross.
func usageLessInactive(usage, inactive uint64) uint64 {
	if inactive > usage {
		return 0
	}
	return usage - inactive
}
