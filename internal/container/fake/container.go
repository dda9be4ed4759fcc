package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
)

type image struct {
	id  string
	ref string
	Image
}

// ctr is a container. Its fields are guarded by Runtime.mu.
type ctr struct {
	id      string
	seq     int
	sandbox *sandbox
	cfg     container.ContainerConfig
	image   *image
	created time.Time

	state             container.ContainerState
	started, finished time.Time
	exitCode          int
	reason, message   string
	proc              *Process // the main process, once started
	stdout, stderr    *logWriter
	memory            int64 // bytes allocated by its processes
	logs              []logEntry
	logChanged        chan struct{} // closed and replaced on every change
	sinks             []*sink       // attached output streams
	stdin             *io.PipeWriter
	stdinUsed         bool
	execs             map[*Process]bool
}

// AddImage makes ref present.
func (r *Runtime) AddImage(ref string, img Image) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sum := sha256.Sum256([]byte(ref))
	r.images[ref] = &image{id: "sha256:" + hex.EncodeToString(sum[:]), ref: ref, Image: img}
}

// AddToRegistry makes ref pullable.
func (r *Runtime) AddToRegistry(ref string, img Image) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.registry[ref] = img
}

func (r *Runtime) imageStatus(ctx context.Context, ref string) (container.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	img, ok := r.images[ref]
	if !ok {
		return container.Image{}, fmt.Errorf("image %q: %w", ref, container.ErrImageNotFound)
	}
	return container.Image{ID: img.id, RepoTags: []string{ref}, Size: 1 << 20, User: img.User}, nil
}

func (r *Runtime) pullImage(ctx context.Context, ref string) (container.Image, error) {
	r.mu.Lock()
	img, ok := r.registry[ref]
	r.mu.Unlock()
	if !ok && !r.cfg.PullAny {
		return container.Image{}, fmt.Errorf("pull %q: %w: repository does not exist", ref, container.ErrImageNotFound)
	}
	r.AddImage(ref, img)
	return r.imageStatus(ctx, ref)
}

func (r *Runtime) createContainer(ctx context.Context, sandboxID string, cfg container.ContainerConfig) (string, error) {
	if cfg.Name == "" || cfg.Image == "" {
		return "", fmt.Errorf("container: %w: name and image are required", container.ErrInvalid)
	}
	for _, m := range cfg.Mounts {
		switch m.Type {
		case container.MountBind, "":
			if _, err := os.Stat(m.Source); err != nil {
				return "", fmt.Errorf("mount %s: %w: %w", m.Target, container.ErrInvalid, err)
			}
		case container.MountTmpfs:
		default:
			return "", fmt.Errorf("mount %s: %w: type %q", m.Target, container.ErrInvalid, m.Type)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sb, ok := r.sandboxes[sandboxID]
	if !ok {
		return "", fmt.Errorf("sandbox %s: %w", sandboxID, container.ErrNotFound)
	}
	if !sb.ready {
		return "", fmt.Errorf("container %s: sandbox %s is not ready: %w", cfg.Name, sandboxID, container.ErrNotRunning)
	}
	img, ok := r.images[cfg.Image]
	if !ok {
		return "", fmt.Errorf("container %s: image %q is not present: %w", cfg.Name, cfg.Image, container.ErrImageNotFound)
	}
	for _, c := range r.containers {
		if c.sandbox == sb && c.cfg.Name == cfg.Name && c.cfg.Attempt == cfg.Attempt {
			return "", fmt.Errorf("container %s attempt %d: %w", cfg.Name, cfg.Attempt, container.ErrAlreadyExists)
		}
	}
	cfg.Labels = userLabels(cfg.Labels)
	cfg.Env = slices.Clone(cfg.Env)
	cfg.Mounts = slices.Clone(cfg.Mounts)
	c := &ctr{
		id: r.newID(), seq: r.next(), sandbox: sb, cfg: cfg, image: img, created: time.Now(),
		state: container.ContainerCreated, logChanged: make(chan struct{}), execs: map[*Process]bool{},
	}
	r.containers[c.id] = c
	return c.id, nil
}

// argv is the container's command: Command or the entrypoint, then Args or
// (without Command) the image's Cmd.
func (c *ctr) argv() []string {
	argv := c.image.Entrypoint
	if len(c.cfg.Command) > 0 {
		argv = c.cfg.Command
	}
	args := c.cfg.Args
	if len(args) == 0 && len(c.cfg.Command) == 0 {
		args = c.image.Cmd
	}
	return append(slices.Clone(argv), args...)
}

// missing returns why argv cannot run in the image, or "". Images without
// Executables run anything, even no command.
func (c *ctr) missing(argv []string) string {
	if len(c.image.Executables) == 0 {
		return ""
	}
	if len(argv) == 0 {
		return "no command specified"
	}
	if !slices.Contains(c.image.Executables, argv[0]) {
		return fmt.Sprintf("exec: %q: stat %s: no such file or directory", argv[0], argv[0])
	}
	return ""
}

func (r *Runtime) startContainer(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, container.ErrNotFound)
	}
	switch c.state {
	case container.ContainerRunning:
		return nil
	case container.ContainerExited:
		return fmt.Errorf("container %s has exited; create a new one: %w", id, container.ErrConflict)
	}
	if !c.sandbox.ready {
		return fmt.Errorf("container %s: sandbox is not ready: %w", id, container.ErrNotRunning)
	}
	argv := c.argv()
	if msg := c.missing(argv); msg != "" {
		c.state, c.exitCode, c.reason, c.message = container.ContainerExited, 127, container.ReasonContainerCannotRun, msg
		c.logChange()
		return fmt.Errorf("start container %s: %s", id, msg)
	}
	var stdin io.Reader = strings.NewReader("")
	if c.cfg.Stdin {
		pr, pw := io.Pipe()
		stdin, c.stdin = pr, pw
	}
	c.state, c.started = container.ContainerRunning, time.Now()
	c.stdout, c.stderr = &logWriter{r: r, c: c, stream: "stdout"}, &logWriter{r: r, c: c, stream: "stderr"}
	var stderr io.Writer = c.stderr
	if c.cfg.TTY {
		stderr = c.stdout
	}
	c.proc = r.spawn(c, argv, stdin, c.stdout, stderr, func(code int) { r.finish(c, code, false) })
	return nil
}

// finish records that c's main process ended and kills whatever else runs
// in it. Callers hold r.mu.
func (r *Runtime) finish(c *ctr, code int, oom bool) {
	if c.state != container.ContainerRunning {
		return
	}
	c.state, c.finished, c.exitCode = container.ContainerExited, time.Now(), code
	switch {
	case oom:
		c.reason = container.ReasonOOMKilled
	case code == 0:
		c.reason = container.ReasonCompleted
	default:
		c.reason = container.ReasonError
	}
	if c.proc != nil {
		c.proc.kill()
		c.stdout.flush()
		c.stderr.flush()
	}
	for p := range c.execs {
		p.kill()
	}
	if c.stdin != nil {
		c.stdin.Close()
	}
	c.logChange()
}

// Exit makes container id's main process exit with code now, as a crash
// would. ErrNotRunning if it does not run.
func (r *Runtime) Exit(id string, code int) error {
	return r.end(id, code, false)
}

// OOMKill kills container id as the kernel's OOM killer would.
func (r *Runtime) OOMKill(id string) error {
	return r.end(id, 137, true)
}

func (r *Runtime) end(id string, code int, oom bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, container.ErrNotFound)
	}
	if c.state != container.ContainerRunning {
		return fmt.Errorf("container %s: %w", id, container.ErrNotRunning)
	}
	r.finish(c, code, oom)
	return nil
}

func (r *Runtime) stopContainer(ctx context.Context, id string, grace time.Duration) error {
	r.mu.Lock()
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("container %s: %w", id, container.ErrNotFound)
	}
	if c.state != container.ContainerRunning {
		r.mu.Unlock()
		return nil
	}
	c.proc.signal(syscall.SIGTERM)
	changed := c.logChanged
	r.mu.Unlock()

	timer := time.NewTimer(grace)
	defer timer.Stop()
	for {
		select {
		case <-changed:
		case <-timer.C:
			r.mu.Lock()
			r.finish(c, 137, false)
			r.mu.Unlock()
			return nil
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

func (r *Runtime) removeContainer(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil
	}
	r.finish(c, 137, false)
	delete(r.containers, id)
	return nil
}

func (r *Runtime) containerStatus(ctx context.Context, id string) (container.ContainerStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return container.ContainerStatus{}, fmt.Errorf("container %s: %w", id, container.ErrNotFound)
	}
	st := container.ContainerStatus{
		ContainerSummary: c.summary(),
		ImageID:          c.image.id,
		StartedAt:        c.started,
		FinishedAt:       c.finished,
	}
	if c.state == container.ContainerExited {
		st.ExitCode, st.Reason, st.Message = c.exitCode, c.reason, c.message
	}
	return st, nil
}

func (c *ctr) summary() container.ContainerSummary {
	return container.ContainerSummary{
		ID: c.id, SandboxID: c.sandbox.id, Pod: c.sandbox.cfg.Pod, Name: c.cfg.Name, Attempt: c.cfg.Attempt,
		Image: c.cfg.Image, State: c.state, CreatedAt: c.created, Labels: maps.Clone(c.cfg.Labels),
	}
}

func (r *Runtime) listContainers(ctx context.Context, f container.ContainerFilter) ([]container.ContainerSummary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var list []*ctr
	for _, c := range r.containers {
		if (f.ID == "" || strings.HasPrefix(c.id, f.ID)) && (f.SandboxID == "" || c.sandbox.id == f.SandboxID) &&
			(f.PodUID == "" || c.sandbox.cfg.Pod.UID == f.PodUID) && (f.Name == "" || c.cfg.Name == f.Name) &&
			(f.State == "" || c.state == f.State) {
			list = append(list, c)
		}
	}
	slices.SortFunc(list, func(a, b *ctr) int { return a.seq - b.seq })
	out := make([]container.ContainerSummary, len(list))
	for i, c := range list {
		out[i] = c.summary()
	}
	return out, nil
}
