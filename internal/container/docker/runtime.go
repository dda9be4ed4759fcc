package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/container"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Config configures the Docker runtime.
type Config struct {
	// Host is the Docker daemon's address ("unix:///var/run/docker.sock",
	// "tcp://host:2375"); empty uses DOCKER_HOST or the local socket.
	Host string
	// Node is the name of the node this runtime serves. Everything it
	// creates is labelled with it and the List methods see nothing else, so
	// several nodes can share one Docker daemon.
	Node string
	// StateDir holds per-sandbox files bind-mounted into containers (the
	// pod's resolv.conf). It must be a path on the Docker host.
	StateDir string
}

// DefaultConfig returns a configuration for the local Docker daemon.
func DefaultConfig() Config {
	return Config{StateDir: "/var/lib/gantry/runtime"}
}

// Runtime is container.Runtime on Docker Engine.
type Runtime struct {
	cfg Config
	api *client.Client
	log *slog.Logger

	// pauseMu serialises building the pause image; pauseReady is set once
	// it is known to exist.
	pauseMu    sync.Mutex
	pauseReady bool

	// plumbs is set when this runtime configures pod networks itself
	// (podnet.go). ipClaims holds the "network/IP"s that RunSandbox calls
	// are setting up, naming the sandbox.
	plumbs   bool
	ipMu     sync.Mutex
	ipClaims map[string]string

	// oomChecked caches oomKilledLate's answers by container ID.
	oomChecked sync.Map
}

var _ container.Runtime = (*Runtime)(nil)

// New returns a runtime for the daemon in cfg. It does no I/O: the first
// call negotiates the API version (down to the daemon's, e.g. 1.41 for
// Docker 20.10), and the first RunSandbox builds the pause image if absent.
func New(cfg Config, log *slog.Logger) (*Runtime, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	api, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker: client for %q: %w", cfg.Host, err)
	}
	r := &Runtime{cfg: cfg, api: api, log: logging.Component(log, "docker")}
	r.plumbs = cfg.StateDir != "" && plumbsNetworks(api.DaemonHost())
	return r, nil
}

// Close releases the client's connections. The runtime must not be used
// afterwards.
func (r *Runtime) Close() error { return r.api.Close() }

// Ping checks that the daemon answers.
func (r *Runtime) Ping(ctx context.Context) error {
	_, err := r.api.Ping(ctx)
	return classify(err, "ping docker")
}

// Version implements container.Versioner.
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.api.ServerVersion(ctx)
	if err != nil {
		return "", classify(err, "docker version")
	}
	return "docker://" + v.Version, nil
}

var _ container.Versioner = (*Runtime)(nil)

// classify wraps a Docker error with the container error class it belongs
// to, keeping Docker's message. Callers that know better (a conflict on
// create means the name is taken) wrap the class themselves.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	var class error
	switch {
	case client.IsErrConnectionFailed(err), cerrdefs.IsUnavailable(err), errors.Is(err, context.DeadlineExceeded),
		cerrdefs.IsDeadlineExceeded(err):
		class = container.ErrUnavailable
	case cerrdefs.IsNotFound(err):
		class = container.ErrNotFound
	case cerrdefs.IsConflict(err):
		class = container.ErrConflict
	case cerrdefs.IsInvalidArgument(err):
		class = container.ErrInvalid
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, class, err)
}
