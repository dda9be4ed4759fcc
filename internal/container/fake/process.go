package fake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Program is what a process of a fake container does: it runs in its own
// goroutine and returns the exit code. It should return once p.Signals()
// is closed (the process was killed), and must not block forever without
// watching it or p.Context().
type Program func(ctx context.Context, p *Process) int

// Idle runs until it gets a signal, then exits 0: the behaviour of images
// without a Program.
func Idle(ctx context.Context, p *Process) int {
	<-p.Signals()
	return 0
}

// ExitAfter returns a Program that exits with code after d, or 0 when
// signalled before.
func ExitAfter(d time.Duration, code int) Program {
	return func(ctx context.Context, p *Process) int {
		select {
		case <-time.After(d):
			return code
		case <-p.Signals():
			return 0
		}
	}
}

// Process is a running program in a fake container: the main process or an
// exec'd one. Its methods are the program's view of its container (they
// satisfy containertest/testimage.System).
type Process struct {
	// Args is the command line, the program name first.
	Args []string

	r      *Runtime
	c      *ctr
	env    []string
	ctx    context.Context
	cancel context.CancelFunc
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	// Guarded by r.mu.
	sigs      chan os.Signal
	dead      bool
	done      chan struct{} // closed when dead
	code      int
	listeners []*nsListener
}

// spawn starts argv in c. onExit runs, with r.mu held, if the program
// returns before it is killed. Callers hold r.mu.
func (r *Runtime) spawn(c *ctr, argv []string, stdin io.Reader, stdout, stderr io.Writer, onExit func(code int)) *Process {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Process{
		Args: argv, r: r, c: c, env: c.environ(), ctx: ctx, cancel: cancel,
		stdin: stdin, sigs: make(chan os.Signal, 4), done: make(chan struct{}),
	}
	p.stdout, p.stderr = &guardWriter{p, stdout}, &guardWriter{p, stderr}
	prog := c.image.Program
	if prog == nil {
		prog = Idle
	}
	go func() {
		code := 137 // if the program calls runtime.Goexit (see Allocate)
		defer func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if !p.dead {
				p.end(code)
				onExit(code)
			}
		}()
		code = prog(ctx, p)
	}()
	return p
}

// environ is the image's environment, HOSTNAME, then the container's, a
// later value replacing an earlier one.
func (c *ctr) environ() []string {
	var env []string
	seen := map[string]int{}
	add := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[k]; ok {
			env[i] = kv
			return
		}
		seen[k] = len(env)
		env = append(env, kv)
	}
	for _, kv := range c.image.Env {
		add(kv)
	}
	add("HOSTNAME=" + c.sandbox.hostname())
	for _, e := range c.cfg.Env {
		add(e.Name + "=" + e.Value)
	}
	return env
}

func (sb *sandbox) hostname() string {
	if sb.cfg.Hostname != "" {
		return sb.cfg.Hostname
	}
	return sb.id[:12]
}

// end marks p dead with code. Callers hold r.mu.
func (p *Process) end(code int) {
	p.dead, p.code = true, code
	p.cancel()
	close(p.sigs)
	close(p.done)
	for _, l := range p.listeners {
		l.closeLocked()
	}
}

// kill ends p as SIGKILL does. Callers hold r.mu.
func (p *Process) kill() {
	if !p.dead {
		p.end(137)
	}
}

// signal delivers sig unless p is dead or has signals pending. Callers hold
// r.mu.
func (p *Process) signal(sig os.Signal) {
	if p.dead {
		return
	}
	select {
	case p.sigs <- sig:
	default:
	}
}

// Context is cancelled when the process is killed.
func (p *Process) Context() context.Context { return p.ctx }

// Stdin is the process's standard input.
func (p *Process) Stdin() io.Reader { return p.stdin }

// Stdout is the process's standard output.
func (p *Process) Stdout() io.Writer { return p.stdout }

// Stderr is the process's standard error.
func (p *Process) Stderr() io.Writer { return p.stderr }

// Environ returns the environment as "NAME=value".
func (p *Process) Environ() []string { return p.env }

// Hostname returns the pod's hostname.
func (p *Process) Hostname() (string, error) {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	return p.c.sandbox.hostname(), nil
}

// Signals delivers SIGTERM when the container is stopped; it is closed
// when the process is killed.
func (p *Process) Signals() <-chan os.Signal { return p.sigs }

// ReadFile reads /etc/hostname, /etc/hosts and /etc/resolv.conf as the
// pod's, files under bind mounts from the node, and the image's Files.
func (p *Process) ReadFile(name string) ([]byte, error) {
	name = path.Clean(name)
	p.r.mu.Lock()
	sb, c := p.c.sandbox, p.c
	switch name {
	case "/etc/hostname":
		defer p.r.mu.Unlock()
		return []byte(sb.hostname() + "\n"), nil
	case "/etc/hosts":
		defer p.r.mu.Unlock()
		return sb.hostsFile(), nil
	case "/etc/resolv.conf":
		defer p.r.mu.Unlock()
		return sb.resolvConf(), nil
	}
	mounts := c.cfg.Mounts
	files := c.image.Files
	p.r.mu.Unlock()
	for i := len(mounts) - 1; i >= 0; i-- {
		m := mounts[i]
		rel, ok := strings.CutPrefix(name, path.Clean(m.Target))
		if !ok || (rel != "" && rel[0] != '/') {
			continue
		}
		if m.Type == "tmpfs" {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return os.ReadFile(m.Source + rel)
	}
	if b, ok := files[name]; ok {
		return b, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// Allocate adds n bytes to the container's memory use. Above its memory
// limit the container is OOM-killed and the calling goroutine ends
// (runtime.Goexit), as the process would.
func (p *Process) Allocate(n int) {
	p.r.mu.Lock()
	c := p.c
	c.memory += int64(n)
	over := c.cfg.Resources.MemoryLimitBytes > 0 && c.memory > c.cfg.Resources.MemoryLimitBytes
	if over {
		p.r.finish(c, 137, true)
		p.kill()
	}
	p.r.mu.Unlock()
	if over {
		runtime.Goexit()
	}
}

// StartChild is not supported: fake processes have no children.
func (p *Process) StartChild(args ...string) error {
	return errors.New("fake: processes cannot start children")
}

// netns is a network namespace: the ports listening in it, each backed by
// a real listener on 127.0.0.1. Guarded by Runtime.mu.
type netns struct {
	ports map[int]string // port in the pod → real address
}

func newNetns() *netns { return &netns{ports: map[int]string{}} }

// Listen listens on port in the pod's network namespace: other processes
// of the pod reach it on localhost, other pods on the pod's IP.
func (p *Process) Listen(port int) (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	ns := p.c.sandbox.ns
	if p.dead {
		l.Close()
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: syscall.EINVAL}
	}
	if _, taken := ns.ports[port]; taken {
		l.Close()
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: syscall.EADDRINUSE}
	}
	ns.ports[port] = l.Addr().String()
	nl := &nsListener{Listener: l, r: p.r, ns: ns, port: port}
	p.listeners = append(p.listeners, nl)
	return nl, nil
}

type nsListener struct {
	net.Listener
	r    *Runtime
	ns   *netns
	port int
}

func (l *nsListener) Close() error {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	return l.closeLocked()
}

// closeLocked frees the port and closes the listener. Callers hold
// Runtime.mu.
func (l *nsListener) closeLocked() error {
	if l.ns.ports[l.port] == l.Listener.Addr().String() {
		delete(l.ns.ports, l.port)
	}
	return l.Listener.Close()
}

// Dial connects to addr. localhost, the pod's hostname and the pod's IP
// are the pod's own namespace; another sandbox's IP is that sandbox's;
// anything else is dialled for real.
func (p *Process) Dial(ctx context.Context, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	p.r.mu.Lock()
	var ns *netns
	switch sb := p.c.sandbox; host {
	case "", "localhost", "127.0.0.1", "::1", sb.hostname():
		ns = sb.ns
	default:
		if other := p.r.sandboxByIP(host); other != nil {
			ns = other.ns
		}
	}
	var real string
	if ns != nil {
		n, _ := strconv.Atoi(port)
		real = ns.ports[n]
	}
	p.r.mu.Unlock()
	if ns != nil && real == "" {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	if real == "" {
		real = addr
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", real)
}

// dialPort connects to port in sb's namespace.
func (r *Runtime) dialPort(ctx context.Context, sb *sandbox, port int) (net.Conn, error) {
	r.mu.Lock()
	real := sb.ns.ports[port]
	r.mu.Unlock()
	if real == "" {
		return nil, fmt.Errorf("connect to localhost:%d: %w", port, syscall.ECONNREFUSED)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", real)
}

// guardWriter drops writes once its process is dead, so that a program
// still running after a kill cannot write to streams its caller reuses.
type guardWriter struct {
	p *Process
	w io.Writer
}

func (g *guardWriter) Write(b []byte) (int, error) {
	g.p.r.mu.Lock()
	defer g.p.r.mu.Unlock()
	if g.p.dead {
		return len(b), nil
	}
	return g.w.Write(b)
}
