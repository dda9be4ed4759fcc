package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/gantry-dev/gantry/internal/container"
)

// logConfig keeps container output in Docker's json-file driver (which
// ContainerLogs reads) whatever the daemon's default, rotated like
// kubelet's logs.
var logConfig = dcontainer.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "5"}}

// CreateContainer implements container.ContainerManager.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg container.ContainerConfig) (string, error) {
	if cfg.Name == "" || cfg.Image == "" {
		return "", fmt.Errorf("container: %w: name and image are required", container.ErrInvalid)
	}
	sb, err := r.inspectSandbox(ctx, sandboxID)
	if err != nil {
		return "", err
	}
	if sb.State == nil || !sb.State.Running {
		return "", fmt.Errorf("container %s: sandbox %s is not ready: %w", cfg.Name, sandboxID, container.ErrNotRunning)
	}
	sl := sb.Config.Labels
	pod := podRef(sl)
	name := objectName(cfg.Name, pod, cfg.Attempt)

	labels := r.objectLabels(kindContainer, pod, cfg.Attempt, cfg.Labels)
	labels[container.LabelContainerName] = cfg.Name
	labels[labelSandboxID] = sb.ID
	labels[labelImage] = cfg.Image

	env := make([]string, len(cfg.Env))
	for i, e := range cfg.Env {
		env[i] = e.Name + "=" + e.Value
	}
	conf := &dcontainer.Config{
		Image:      cfg.Image,
		Env:        env,
		WorkingDir: cfg.WorkingDir,
		Labels:     labels,
		OpenStdin:  cfg.Stdin,
		StdinOnce:  cfg.StdinOnce,
		Tty:        cfg.TTY,
	}
	if len(cfg.Command) > 0 {
		conf.Entrypoint = cfg.Command
	}
	if len(cfg.Args) > 0 {
		conf.Cmd = cfg.Args
	}
	if conf.User, err = r.user(ctx, cfg); err != nil {
		return "", err
	}
	join := "container:" + sb.ID
	host := &dcontainer.HostConfig{
		NetworkMode:    dcontainer.NetworkMode(join),
		IpcMode:        dcontainer.IpcMode(join),
		Privileged:     cfg.Security.Privileged,
		ReadonlyRootfs: cfg.Security.ReadOnlyRootfs,
		CapAdd:         cfg.Security.CapAdd,
		CapDrop:        cfg.Security.CapDrop,
		OomScoreAdj:    max(cfg.Resources.OOMScoreAdj, 0), // see doc.go
		LogConfig:      logConfig,
		Resources:      resources(cfg.Resources),
	}
	switch {
	case cfg.PIDNamespaceOf != "":
		host.PidMode = dcontainer.PidMode("container:" + cfg.PIDNamespaceOf)
	case sl[labelSharePID] == "true":
		host.PidMode = dcontainer.PidMode(join)
	}
	for _, g := range cfg.Security.SupplementalGroups {
		host.GroupAdd = append(host.GroupAdd, strconv.FormatInt(g, 10))
	}
	if cfg.Security.NoNewPrivileges {
		host.SecurityOpt = append(host.SecurityOpt, "no-new-privileges")
	}
	if s := cfg.Security.Seccomp; s != "" {
		host.SecurityOpt = append(host.SecurityOpt, "seccomp="+s)
	}
	if host.Mounts, err = mounts(cfg.Mounts); err != nil {
		return "", err
	}
	if sl[labelPlumbed] == "true" {
		host.Binds = r.podFiles(sb.Name, cfg.Mounts)
		labels[labelPlumbed] = "true" // for ContainerStats
	}

	created, err := r.api.ContainerCreate(ctx, conf, host, nil, nil, name)
	if err == nil {
		return created.ID, nil
	}
	switch {
	case cerrdefs.IsConflict(err):
		return "", fmt.Errorf("container %s: %w: %w", name, container.ErrAlreadyExists, err)
	case cerrdefs.IsNotFound(err):
		// Docker says "No such image" and "No such container" alike.
		if _, serr := r.inspectSandbox(ctx, sb.ID); serr != nil {
			return "", serr
		}
		return "", fmt.Errorf("container %s: image %q is not present: %w: %w", name, cfg.Image, container.ErrImageNotFound, err)
	}
	return "", classify(err, "create container %s", name)
}

// user returns Docker's "uid[:gid]" for the security context, or "" for
// the image's user. A group without a user keeps the image's user.
func (r *Runtime) user(ctx context.Context, cfg container.ContainerConfig) (string, error) {
	s := cfg.Security
	switch {
	case s.RunAsUser != nil && s.RunAsGroup != nil:
		return fmt.Sprintf("%d:%d", *s.RunAsUser, *s.RunAsGroup), nil
	case s.RunAsUser != nil:
		return strconv.FormatInt(*s.RunAsUser, 10), nil
	case s.RunAsGroup != nil:
		img, err := r.ImageStatus(ctx, cfg.Image)
		if err != nil {
			return "", err
		}
		u, _, _ := strings.Cut(img.User, ":")
		if u == "" {
			u = "0"
		}
		return fmt.Sprintf("%s:%d", u, *s.RunAsGroup), nil
	}
	return "", nil
}

func resources(res container.Resources) dcontainer.Resources {
	out := dcontainer.Resources{
		CPUShares: res.CPUShares,
		CPUQuota:  res.CPUQuota,
		CPUPeriod: res.CPUPeriod,
		Memory:    res.MemoryLimitBytes,
	}
	if res.MemoryLimitBytes > 0 {
		out.MemorySwap = res.MemoryLimitBytes // no swap, as Kubernetes
	}
	if res.PidsLimit > 0 {
		out.PidsLimit = &res.PidsLimit
	}
	return out
}

var propagation = map[container.Propagation]mount.Propagation{
	container.PropagationPrivate:         mount.PropagationRPrivate,
	container.PropagationHostToContainer: mount.PropagationRSlave,
	container.PropagationBidirectional:   mount.PropagationRShared,
}

func mounts(ms []container.Mount) ([]mount.Mount, error) {
	out := make([]mount.Mount, 0, len(ms))
	for _, m := range ms {
		switch m.Type {
		case container.MountBind, "":
			p, ok := propagation[m.Propagation]
			if !ok {
				return nil, fmt.Errorf("mount %s: %w: propagation %q", m.Target, container.ErrInvalid, m.Propagation)
			}
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly,
				BindOptions: &mount.BindOptions{Propagation: p}})
		case container.MountTmpfs:
			out = append(out, mount.Mount{Type: mount.TypeTmpfs, Target: m.Target, ReadOnly: m.ReadOnly,
				TmpfsOptions: &mount.TmpfsOptions{SizeBytes: m.SizeBytes}})
		default:
			return nil, fmt.Errorf("mount %s: %w: type %q", m.Target, container.ErrInvalid, m.Type)
		}
	}
	return out, nil
}

// StartContainer implements container.ContainerManager. It does not check
// that id is this runtime's: it is on the hot path of pod start.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	err := r.api.ContainerStart(ctx, id, dcontainer.StartOptions{})
	return classify(err, "start container %s", id)
}

// inspectContainer returns container id, or ErrNotFound if it is not one
// of this runtime's containers.
func (r *Runtime) inspectContainer(ctx context.Context, id string) (dcontainer.InspectResponse, error) {
	c, err := r.api.ContainerInspect(ctx, id)
	if err != nil {
		return c, classify(err, "inspect container %s", id)
	}
	if c.Config == nil || !r.owned(c.Config.Labels, kindContainer) {
		return c, fmt.Errorf("container %s: %w", id, container.ErrNotFound)
	}
	return c, nil
}

// StopContainer implements container.ContainerManager.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	if _, err := r.inspectContainer(ctx, id); err != nil {
		return err
	}
	seconds := int(math.Ceil(max(grace, 0).Seconds()))
	err := r.api.ContainerStop(ctx, id, dcontainer.StopOptions{Timeout: &seconds})
	return classify(err, "stop container %s", id)
}

// RemoveContainer implements container.ContainerManager.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if _, err := r.inspectContainer(ctx, id); err != nil {
		if errors.Is(err, container.ErrNotFound) {
			return nil
		}
		return err
	}
	return r.remove(ctx, id)
}

// ContainerStatus implements container.ContainerManager.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (container.ContainerStatus, error) {
	c, err := r.inspectContainer(ctx, id)
	if err != nil {
		return container.ContainerStatus{}, err
	}
	st := containerStatus(c)
	if st.State == container.ContainerExited && st.ExitCode == 137 && st.Reason == container.ReasonError &&
		c.HostConfig != nil && c.HostConfig.Memory > 0 {
		oom, err := r.oomKilledLate(ctx, id, st.StartedAt, st.FinishedAt)
		if err != nil {
			return container.ContainerStatus{}, err
		}
		if oom {
			st.Reason = container.ReasonOOMKilled
		}
	}
	return st, nil
}

func containerStatus(c dcontainer.InspectResponse) container.ContainerStatus {
	l := c.Config.Labels
	st := container.ContainerStatus{
		ContainerSummary: summary(c.ID, l, parseTime(c.Created)),
		ImageID:          c.Image,
	}
	s := c.State
	if s == nil {
		st.State = container.ContainerUnknown
		return st
	}
	st.StartedAt, st.FinishedAt = parseTime(s.StartedAt), parseTime(s.FinishedAt)
	if !st.FinishedAt.IsZero() && st.FinishedAt.Before(st.StartedAt) {
		// Docker stamps StartedAt once the start call returns, which can be
		// after a quick process has exited.
		st.FinishedAt = st.StartedAt
	}
	switch s.Status {
	case dcontainer.StateRunning, dcontainer.StatePaused, dcontainer.StateRestarting:
		st.State = container.ContainerRunning
		return st
	case dcontainer.StateCreated:
		if s.Error == "" && s.ExitCode == 0 {
			st.State = container.ContainerCreated
			return st
		}
	case dcontainer.StateExited, dcontainer.StateDead, dcontainer.StateRemoving:
	default:
		st.State = container.ContainerUnknown
		return st
	}
	// Exited, or created but could not start.
	st.State = container.ContainerExited
	st.ExitCode, st.Message = s.ExitCode, s.Error
	switch {
	case s.OOMKilled:
		st.Reason = container.ReasonOOMKilled
	case s.Error != "":
		st.Reason = container.ReasonContainerCannotRun
	case s.ExitCode == 0:
		st.Reason = container.ReasonCompleted
	default:
		st.Reason = container.ReasonError
	}
	return st
}

func summary(id string, l map[string]string, created time.Time) container.ContainerSummary {
	return container.ContainerSummary{
		ID:        id,
		SandboxID: l[labelSandboxID],
		Pod:       podRef(l),
		Name:      l[container.LabelContainerName],
		Attempt:   attempt(l),
		Image:     l[labelImage],
		CreatedAt: created,
		Labels:    userLabels(l),
	}
}

// ListContainers implements container.ContainerManager.
func (r *Runtime) ListContainers(ctx context.Context, f container.ContainerFilter) ([]container.ContainerSummary, error) {
	args := r.listFilter(kindContainer, f.ID, f.PodUID)
	if f.SandboxID != "" {
		args.Add("label", labelSandboxID+"="+f.SandboxID)
	}
	if f.Name != "" {
		args.Add("label", container.LabelContainerName+"="+f.Name)
	}
	list, err := r.api.ContainerList(ctx, dcontainer.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, classify(err, "list containers")
	}
	slices.Reverse(list) // Docker lists newest first
	out := make([]container.ContainerSummary, 0, len(list))
	for _, c := range list {
		s := summary(c.ID, c.Labels, time.Unix(c.Created, 0))
		switch c.State {
		case dcontainer.StateRunning, dcontainer.StatePaused, dcontainer.StateRestarting:
			s.State = container.ContainerRunning
		case dcontainer.StateExited, dcontainer.StateDead, dcontainer.StateRemoving:
			s.State = container.ContainerExited
		default:
			// "created" is also what Docker lists for a container that
			// could not start: ask.
			st, err := r.ContainerStatus(ctx, c.ID)
			if errors.Is(err, container.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			s.State = st.State
		}
		if f.State != "" && s.State != f.State {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// podFiles binds the /etc/hosts and resolv.conf that RunSandbox wrote for
// a plumbed sandbox (Docker shares them only from sandboxes it attached),
// except where the container mounts something else there.
func (r *Runtime) podFiles(sandboxName string, own []container.Mount) []string {
	dir := filepath.Join(r.cfg.StateDir, strings.TrimPrefix(sandboxName, "/"))
	var binds []string
	for _, f := range []struct{ file, target, mode string }{
		{"hosts", "/etc/hosts", ""},
		{"resolv.conf", "/etc/resolv.conf", ":ro"},
	} {
		if !slices.ContainsFunc(own, func(m container.Mount) bool { return path.Clean(m.Target) == f.target }) {
			binds = append(binds, filepath.Join(dir, f.file)+":"+f.target+f.mode)
		}
	}
	return binds
}
