package fake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
)

// Config configures a fake runtime.
type Config struct {
	// PullAny makes PullImage succeed for any reference not added with
	// AddToRegistry, with an image whose containers run until stopped.
	PullAny bool
}

// Image is a fake image.
type Image struct {
	// Entrypoint and Cmd are the image's default command.
	Entrypoint, Cmd []string
	// Env is the image's environment ("NAME=value").
	Env []string
	// User is the image's user ("" is root).
	User string
	// Executables, if not empty, are the only programs that exist in the
	// image: running anything else fails as a missing executable does.
	Executables []string
	// Files are the image's files, readable with Process.ReadFile.
	Files map[string][]byte
	// Program is what every process of the image does; nil is Idle.
	Program Program
}

// Runtime is the fake container.Runtime. The zero value is not usable; call
// New.
type Runtime struct {
	cfg Config

	// Replacements for the methods of the same name; nil uses the default.
	EnsureNetworkFunc   func(ctx context.Context, cfg container.NetworkConfig) (container.Network, error)
	RemoveNetworkFunc   func(ctx context.Context, name string) error
	RunSandboxFunc      func(ctx context.Context, cfg container.SandboxConfig) (string, error)
	StopSandboxFunc     func(ctx context.Context, id string) error
	RemoveSandboxFunc   func(ctx context.Context, id string) error
	SandboxStatusFunc   func(ctx context.Context, id string) (container.Sandbox, error)
	ListSandboxesFunc   func(ctx context.Context, f container.SandboxFilter) ([]container.Sandbox, error)
	CreateContainerFunc func(ctx context.Context, sandboxID string, cfg container.ContainerConfig) (string, error)
	StartContainerFunc  func(ctx context.Context, id string) error
	StopContainerFunc   func(ctx context.Context, id string, grace time.Duration) error
	RemoveContainerFunc func(ctx context.Context, id string) error
	ContainerStatusFunc func(ctx context.Context, id string) (container.ContainerStatus, error)
	ListContainersFunc  func(ctx context.Context, f container.ContainerFilter) ([]container.ContainerSummary, error)
	ImageStatusFunc     func(ctx context.Context, ref string) (container.Image, error)
	PullImageFunc       func(ctx context.Context, ref string) (container.Image, error)
	ContainerLogsFunc   func(ctx context.Context, id string, opts container.LogOptions) (io.ReadCloser, error)
	ExecFunc            func(ctx context.Context, id string, cmd []string, s container.Streams) (int, error)
	AttachFunc          func(ctx context.Context, id string, s container.Streams) error
	PortForwardFunc     func(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error
	ContainerStatsFunc  func(ctx context.Context, id string) (container.Stats, error)

	mu         sync.Mutex
	networks   map[string]*network
	sandboxes  map[string]*sandbox
	containers map[string]*ctr
	images     map[string]*image
	registry   map[string]Image
	hostNS     *netns
	seq        int
}

var _ container.Runtime = (*Runtime)(nil)

// New returns an empty runtime: no networks, no images.
func New(cfg Config) *Runtime {
	return &Runtime{
		cfg:        cfg,
		networks:   map[string]*network{},
		sandboxes:  map[string]*sandbox{},
		containers: map[string]*ctr{},
		images:     map[string]*image{},
		registry:   map[string]Image{},
		hostNS:     newNetns(),
	}
}

// Version implements container.Versioner.
func (r *Runtime) Version(ctx context.Context) (string, error) { return "fake://0.1.0", nil }

var _ container.Versioner = (*Runtime)(nil)

// Script runs fn with the runtime's lock held, so that fn may set function
// fields while other goroutines use the runtime. fn must not call the
// runtime's methods.
func (r *Runtime) Script(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn()
}

// hook reads a function field under the lock.
func hook[F any](r *Runtime, f *F) F {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *f
}

// Default returns r without its function-field replacements.
func (r *Runtime) Default() container.Runtime { return defaults{r} }

// newID returns a Docker-like 64-hex-digit ID. Callers hold r.mu.
func (r *Runtime) newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// next returns a creation sequence number, for listing oldest first.
// Callers hold r.mu.
func (r *Runtime) next() int {
	r.seq++
	return r.seq
}
