// The methods of container.Runtime: each calls its function-field
// replacement, if set, or the default implementation.

package fake

import (
	"context"
	"io"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
)

// defaults is a Runtime without replacements.
type defaults struct{ r *Runtime }

var _ container.Runtime = defaults{}

// EnsureNetwork implements container.Runtime.
func (r *Runtime) EnsureNetwork(ctx context.Context, cfg container.NetworkConfig) (container.Network, error) {
	if fn := hook(r, &r.EnsureNetworkFunc); fn != nil {
		return fn(ctx, cfg)
	}
	return r.ensureNetwork(ctx, cfg)
}

func (d defaults) EnsureNetwork(ctx context.Context, cfg container.NetworkConfig) (container.Network, error) {
	return d.r.ensureNetwork(ctx, cfg)
}

// RemoveNetwork implements container.Runtime.
func (r *Runtime) RemoveNetwork(ctx context.Context, name string) error {
	if fn := hook(r, &r.RemoveNetworkFunc); fn != nil {
		return fn(ctx, name)
	}
	return r.removeNetwork(ctx, name)
}

func (d defaults) RemoveNetwork(ctx context.Context, name string) error {
	return d.r.removeNetwork(ctx, name)
}

// RunSandbox implements container.Runtime.
func (r *Runtime) RunSandbox(ctx context.Context, cfg container.SandboxConfig) (string, error) {
	if fn := hook(r, &r.RunSandboxFunc); fn != nil {
		return fn(ctx, cfg)
	}
	return r.runSandbox(ctx, cfg)
}

func (d defaults) RunSandbox(ctx context.Context, cfg container.SandboxConfig) (string, error) {
	return d.r.runSandbox(ctx, cfg)
}

// StopSandbox implements container.Runtime.
func (r *Runtime) StopSandbox(ctx context.Context, id string) error {
	if fn := hook(r, &r.StopSandboxFunc); fn != nil {
		return fn(ctx, id)
	}
	return r.stopSandbox(ctx, id)
}

func (d defaults) StopSandbox(ctx context.Context, id string) error {
	return d.r.stopSandbox(ctx, id)
}

// RemoveSandbox implements container.Runtime.
func (r *Runtime) RemoveSandbox(ctx context.Context, id string) error {
	if fn := hook(r, &r.RemoveSandboxFunc); fn != nil {
		return fn(ctx, id)
	}
	return r.removeSandbox(ctx, id)
}

func (d defaults) RemoveSandbox(ctx context.Context, id string) error {
	return d.r.removeSandbox(ctx, id)
}

// SandboxStatus implements container.Runtime.
func (r *Runtime) SandboxStatus(ctx context.Context, id string) (container.Sandbox, error) {
	if fn := hook(r, &r.SandboxStatusFunc); fn != nil {
		return fn(ctx, id)
	}
	return r.sandboxStatus(ctx, id)
}

func (d defaults) SandboxStatus(ctx context.Context, id string) (container.Sandbox, error) {
	return d.r.sandboxStatus(ctx, id)
}

// ListSandboxes implements container.Runtime.
func (r *Runtime) ListSandboxes(ctx context.Context, f container.SandboxFilter) ([]container.Sandbox, error) {
	if fn := hook(r, &r.ListSandboxesFunc); fn != nil {
		return fn(ctx, f)
	}
	return r.listSandboxes(ctx, f)
}

func (d defaults) ListSandboxes(ctx context.Context, f container.SandboxFilter) ([]container.Sandbox, error) {
	return d.r.listSandboxes(ctx, f)
}

// CreateContainer implements container.Runtime.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg container.ContainerConfig) (string, error) {
	if fn := hook(r, &r.CreateContainerFunc); fn != nil {
		return fn(ctx, sandboxID, cfg)
	}
	return r.createContainer(ctx, sandboxID, cfg)
}

func (d defaults) CreateContainer(ctx context.Context, sandboxID string, cfg container.ContainerConfig) (string, error) {
	return d.r.createContainer(ctx, sandboxID, cfg)
}

// StartContainer implements container.Runtime.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if fn := hook(r, &r.StartContainerFunc); fn != nil {
		return fn(ctx, id)
	}
	return r.startContainer(ctx, id)
}

func (d defaults) StartContainer(ctx context.Context, id string) error {
	return d.r.startContainer(ctx, id)
}

// StopContainer implements container.Runtime.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	if fn := hook(r, &r.StopContainerFunc); fn != nil {
		return fn(ctx, id, grace)
	}
	return r.stopContainer(ctx, id, grace)
}

func (d defaults) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	return d.r.stopContainer(ctx, id, grace)
}

// RemoveContainer implements container.Runtime.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if fn := hook(r, &r.RemoveContainerFunc); fn != nil {
		return fn(ctx, id)
	}
	return r.removeContainer(ctx, id)
}

func (d defaults) RemoveContainer(ctx context.Context, id string) error {
	return d.r.removeContainer(ctx, id)
}

// ContainerStatus implements container.Runtime.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (container.ContainerStatus, error) {
	if fn := hook(r, &r.ContainerStatusFunc); fn != nil {
		return fn(ctx, id)
	}
	return r.containerStatus(ctx, id)
}

func (d defaults) ContainerStatus(ctx context.Context, id string) (container.ContainerStatus, error) {
	return d.r.containerStatus(ctx, id)
}

// ListContainers implements container.Runtime.
func (r *Runtime) ListContainers(ctx context.Context, f container.ContainerFilter) ([]container.ContainerSummary, error) {
	if fn := hook(r, &r.ListContainersFunc); fn != nil {
		return fn(ctx, f)
	}
	return r.listContainers(ctx, f)
}

func (d defaults) ListContainers(ctx context.Context, f container.ContainerFilter) ([]container.ContainerSummary, error) {
	return d.r.listContainers(ctx, f)
}

// ImageStatus implements container.Runtime.
func (r *Runtime) ImageStatus(ctx context.Context, ref string) (container.Image, error) {
	if fn := hook(r, &r.ImageStatusFunc); fn != nil {
		return fn(ctx, ref)
	}
	return r.imageStatus(ctx, ref)
}

func (d defaults) ImageStatus(ctx context.Context, ref string) (container.Image, error) {
	return d.r.imageStatus(ctx, ref)
}

// PullImage implements container.Runtime.
func (r *Runtime) PullImage(ctx context.Context, ref string) (container.Image, error) {
	if fn := hook(r, &r.PullImageFunc); fn != nil {
		return fn(ctx, ref)
	}
	return r.pullImage(ctx, ref)
}

func (d defaults) PullImage(ctx context.Context, ref string) (container.Image, error) {
	return d.r.pullImage(ctx, ref)
}

// ContainerLogs implements container.Runtime.
func (r *Runtime) ContainerLogs(ctx context.Context, id string, opts container.LogOptions) (io.ReadCloser, error) {
	if fn := hook(r, &r.ContainerLogsFunc); fn != nil {
		return fn(ctx, id, opts)
	}
	return r.containerLogs(ctx, id, opts)
}

func (d defaults) ContainerLogs(ctx context.Context, id string, opts container.LogOptions) (io.ReadCloser, error) {
	return d.r.containerLogs(ctx, id, opts)
}

// Exec implements container.Runtime.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, s container.Streams) (int, error) {
	if fn := hook(r, &r.ExecFunc); fn != nil {
		return fn(ctx, id, cmd, s)
	}
	return r.exec(ctx, id, cmd, s)
}

func (d defaults) Exec(ctx context.Context, id string, cmd []string, s container.Streams) (int, error) {
	return d.r.exec(ctx, id, cmd, s)
}

// Attach implements container.Runtime.
func (r *Runtime) Attach(ctx context.Context, id string, s container.Streams) error {
	if fn := hook(r, &r.AttachFunc); fn != nil {
		return fn(ctx, id, s)
	}
	return r.attach(ctx, id, s)
}

func (d defaults) Attach(ctx context.Context, id string, s container.Streams) error {
	return d.r.attach(ctx, id, s)
}

// PortForward implements container.Runtime.
func (r *Runtime) PortForward(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error {
	if fn := hook(r, &r.PortForwardFunc); fn != nil {
		return fn(ctx, sandboxID, port, stream)
	}
	return r.portForward(ctx, sandboxID, port, stream)
}

func (d defaults) PortForward(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error {
	return d.r.portForward(ctx, sandboxID, port, stream)
}

// ContainerStats implements container.Runtime.
func (r *Runtime) ContainerStats(ctx context.Context, id string) (container.Stats, error) {
	if fn := hook(r, &r.ContainerStatsFunc); fn != nil {
		return fn(ctx, id)
	}
	return r.containerStats(ctx, id)
}

func (d defaults) ContainerStats(ctx context.Context, id string) (container.Stats, error) {
	return d.r.containerStats(ctx, id)
}
