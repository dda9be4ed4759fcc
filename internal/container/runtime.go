package container

import (
	"context"
	"io"
	"time"
)

// Runtime is a container runtime on one node. Every method is safe for
// concurrent use and keeps no state outside the runtime itself (see the
// package documentation on adoption).
type Runtime interface {
	NetworkManager
	SandboxManager
	ContainerManager
	ImageManager
	Streamer
	StatsProvider
}

// NetworkManager manages the bridge networks pods are attached to.
type NetworkManager interface {
	// EnsureNetwork creates the bridge network cfg.Name with cfg.Subnet if
	// it does not exist and returns it. Idempotent: an existing network with
	// the same name and subnet is returned as is. ErrConflict: a network of
	// that name has another subnet, or the subnet overlaps another network.
	EnsureNetwork(ctx context.Context, cfg NetworkConfig) (Network, error)
	// RemoveNetwork removes a network. Idempotent: nil if it does not
	// exist. ErrConflict: sandboxes are still attached.
	RemoveNetwork(ctx context.Context, name string) error
}

// SandboxManager runs pod sandboxes: the process that holds a pod's
// namespaces.
type SandboxManager interface {
	// RunSandbox creates and starts a sandbox and returns its ID.
	// ErrAlreadyExists: a sandbox with the same pod UID and attempt exists
	// (find it with ListSandboxes). ErrConflict: the IP is taken.
	// ErrNotFound: the network does not exist. On error nothing is left
	// behind.
	RunSandbox(ctx context.Context, cfg SandboxConfig) (string, error)
	// StopSandbox kills every container still running in the sandbox and
	// stops it; the pod's IP is released. Idempotent: nil if already
	// stopped. ErrNotFound: no such sandbox.
	StopSandbox(ctx context.Context, id string) error
	// RemoveSandbox removes the sandbox and every container in it, running
	// or not. Idempotent: nil if it does not exist.
	RemoveSandbox(ctx context.Context, id string) error
	// SandboxStatus returns the sandbox's current state. ErrNotFound: no
	// such sandbox.
	SandboxStatus(ctx context.Context, id string) (Sandbox, error)
	// ListSandboxes returns the sandboxes matching f (all of them for the
	// zero filter), oldest first.
	ListSandboxes(ctx context.Context, f SandboxFilter) ([]Sandbox, error)
}

// ContainerManager runs the containers of a sandbox.
type ContainerManager interface {
	// CreateContainer creates (does not start) a container in the sandbox,
	// joined to its network, IPC and UTS namespaces (and PID namespace when
	// the sandbox shares it), and returns its ID. ErrNotFound: no such
	// sandbox. ErrNotRunning: the sandbox is not ready. ErrImageNotFound:
	// the image is not present locally (call PullImage first).
	// ErrAlreadyExists: a container with the same name and attempt exists in
	// the sandbox. ErrInvalid: the runtime rejected cfg (a bind mount whose
	// source does not exist, an unknown capability).
	CreateContainer(ctx context.Context, sandboxID string, cfg ContainerConfig) (string, error)
	// StartContainer starts a created container. Idempotent: nil if it is
	// running. ErrNotFound: no such container. An exited container is not
	// started again (runtimes differ there): create the next attempt. A container whose process
	// cannot be started (no such executable) returns an error and is left
	// Exited with reason ReasonContainerCannotRun.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the stop signal (SIGTERM unless the image says
	// otherwise), waits up to grace (rounded up to whole seconds) for the
	// process to exit, then SIGKILLs it. Idempotent: nil if it is not
	// running. ErrNotFound: no such container.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer removes a container, killing it if it runs.
	// Idempotent: nil if it does not exist.
	RemoveContainer(ctx context.Context, id string) error
	// ContainerStatus returns the container's state, exit code and reason.
	// ErrNotFound: no such container.
	ContainerStatus(ctx context.Context, id string) (ContainerStatus, error)
	// ListContainers returns the containers matching f, oldest first.
	ListContainers(ctx context.Context, f ContainerFilter) ([]ContainerSummary, error)
}

// ImageManager looks up and fetches images.
type ImageManager interface {
	// ImageStatus returns the local image ref. ErrImageNotFound: not
	// present locally.
	ImageStatus(ctx context.Context, ref string) (Image, error)
	// PullImage fetches ref from its registry and returns the local image.
	// ErrImageNotFound: the registry does not have it. A registry that
	// cannot be reached gives a temporary error. The error message is the
	// registry's, fit for a pod's status.
	PullImage(ctx context.Context, ref string) (Image, error)
}

// Streamer streams a container's output and runs processes in it.
type Streamer interface {
	// ContainerLogs returns the container's output, stdout and stderr
	// demultiplexed and interleaved in the order they were written. With
	// Follow it ends when the container stops or ctx ends. Works on stopped
	// containers. ErrNotFound: no such container.
	ContainerLogs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error)
	// Exec runs cmd in a running container, wiring the given streams, and
	// returns its exit code once it ends. ErrNotRunning: the container is not
	// running. ErrNotFound: no such container. A command that cannot be
	// started returns exit code 126 or 127 as a shell would, not an error.
	Exec(ctx context.Context, id string, cmd []string, s Streams) (int, error)
	// Attach connects s to the main process of a running container and
	// returns when its output ends (the process exited) or ctx ends. Stdin
	// is used only if the container was created with Stdin; its EOF closes
	// the process's stdin with StdinOnce. With TTY set at creation, output
	// comes as one stream on s.Stdout. ErrNotRunning, ErrNotFound as for
	// Exec.
	Attach(ctx context.Context, id string, s Streams) error
	// PortForward connects stream to TCP port on localhost inside the
	// sandbox's network namespace until either side closes or ctx ends.
	// ErrNotRunning: the sandbox is not ready. ErrNotFound: no such sandbox.
	PortForward(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error
}

// StatsProvider reports resource usage.
type StatsProvider interface {
	// ContainerStats returns a running container's usage. ErrNotRunning:
	// it is not running. ErrNotFound: no such container.
	ContainerStats(ctx context.Context, id string) (Stats, error)
}

// Versioner is an optional capability of a Runtime (find it with a type
// assertion): the runtime's name and version for a node's status, which
// doubles as a health check.
type Versioner interface {
	// Version returns e.g. "docker://20.10.24". ErrUnavailable: the
	// runtime cannot be reached.
	Version(ctx context.Context) (string, error)
}

// Streams are the standard streams of an exec'd or attached process. Nil
// streams are not connected. With TTY, stderr is merged into Stdout.
type Streams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	TTY    bool
	// Resize, if not nil, delivers terminal size changes while the stream
	// runs (TTY only).
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Width, Height uint16
}

// LogOptions select what ContainerLogs returns.
type LogOptions struct {
	// Follow keeps the stream open for new output until the container stops.
	Follow bool
	// Tail, if positive, returns only the last Tail lines; 0 or negative
	// returns everything.
	Tail int
	// Since, if not zero, drops lines written before it.
	Since time.Time
	// Timestamps prefixes each line with its RFC 3339 nanosecond timestamp
	// and a space, as kubectl logs --timestamps prints them.
	Timestamps bool
}

// Stats is a container's resource usage at a moment.
type Stats struct {
	Timestamp time.Time
	// CPUUsageNanoseconds is the cumulative CPU time used by the container.
	CPUUsageNanoseconds uint64
	// MemoryWorkingSetBytes is memory usage minus inactive file pages: what
	// the OOM killer and kubectl top look at.
	MemoryWorkingSetBytes uint64
}
