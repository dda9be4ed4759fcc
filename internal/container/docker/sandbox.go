package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/gantry-dev/gantry/internal/container"
)

// sandboxStopTimeout is how long the pause process gets to exit on SIGTERM;
// it exits at once.
const sandboxStopTimeout = 2

// RunSandbox implements container.SandboxManager.
func (r *Runtime) RunSandbox(ctx context.Context, cfg container.SandboxConfig) (string, error) {
	if cfg.Pod.UID == "" || cfg.Pod.Name == "" {
		return "", fmt.Errorf("sandbox: %w: pod name and UID are required", container.ErrInvalid)
	}
	netw := cfg.Network
	if !netw.HostNetwork {
		if netw.Network == "" {
			return "", fmt.Errorf("sandbox: %w: a network or host network is required", container.ErrInvalid)
		}
		if ip, err := netip.ParseAddr(netw.IP); err != nil || !ip.Is4() {
			return "", fmt.Errorf("sandbox: %w: IP %q is not an IPv4 address", container.ErrInvalid, netw.IP)
		}
	}
	if err := r.ensurePauseImage(ctx); err != nil {
		return "", err
	}
	name := objectName("POD", cfg.Pod, cfg.Attempt)

	labels := r.objectLabels(kindSandbox, cfg.Pod, cfg.Attempt, cfg.Labels)
	conf := &dcontainer.Config{
		Image:      PauseImage(),
		Hostname:   cfg.Hostname,
		Domainname: cfg.Domainname,
		Labels:     labels,
	}
	host := &dcontainer.HostConfig{
		IpcMode: "shareable",
		Sysctls: cfg.Sysctls,
		// The pause program prints nothing and nobody reads its logs.
		LogConfig: dcontainer.LogConfig{Type: "none"},
	}
	exposed, bindings, err := portBindings(cfg.Ports)
	if err != nil {
		return "", err
	}
	// Plumbed: the pod network is configured by this runtime (podnet.go);
	// otherwise Docker attaches the sandbox (remote daemons, hostPorts).
	plumbed := !netw.HostNetwork && r.plumbs && len(bindings) == 0
	var netConf *network.NetworkingConfig
	var bridge bridgeNetwork
	switch {
	case netw.HostNetwork:
		host.NetworkMode = "host"
		labels[labelHostNetwork] = "true"
	case plumbed:
		if bridge, err = r.lookupBridge(ctx, netw.Network); err != nil {
			return "", fmt.Errorf("sandbox %s: %w", name, err)
		}
		if ip := netip.MustParseAddr(netw.IP); !bridge.subnet.Contains(ip) || ip == bridge.gateway {
			return "", fmt.Errorf("sandbox %s: %w: IP %s is not a pod address of network %q (%s)", name, container.ErrInvalid, ip, netw.Network, bridge.subnet)
		}
		conf.NetworkDisabled = true
		host.NetworkMode = "none"
		labels[labelNetwork], labels[labelIP] = netw.Network, netw.IP
	default:
		host.NetworkMode = dcontainer.NetworkMode(netw.Network)
		labels[labelNetwork], labels[labelIP] = netw.Network, netw.IP
		netConf = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			netw.Network: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netw.IP}},
		}}
		conf.ExposedPorts, host.PortBindings = exposed, bindings
	}
	if cfg.ShareProcessNamespace {
		labels[labelSharePID] = "true"
	}
	dir := filepath.Join(r.cfg.StateDir, name)
	if plumbed {
		labels[labelPlumbed] = "true"
	} else {
		for _, a := range cfg.HostAliases {
			for _, h := range a.Hostnames {
				host.ExtraHosts = append(host.ExtraHosts, h+":"+a.IP)
			}
		}
	}
	if host.Binds, err = r.writePodFiles(dir, cfg, plumbed); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("sandbox %s: %w", name, err)
	}

	var release func()
	if !netw.HostNetwork {
		if release, err = r.claimIP(ctx, name, netw); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		defer release()
	}
	created, err := r.api.ContainerCreate(ctx, conf, host, netConf, nil, name)
	if err != nil {
		if cerrdefs.IsConflict(err) {
			// The name is ours: leave the existing sandbox's files alone.
			return "", fmt.Errorf("sandbox %s: %w: %w", name, container.ErrAlreadyExists, err)
		}
		os.RemoveAll(dir)
		if cerrdefs.IsNotFound(err) && !netw.HostNetwork {
			return "", fmt.Errorf("sandbox %s: network %q: %w: %w", name, netw.Network, container.ErrNotFound, err)
		}
		return "", classify(err, "create sandbox %s", name)
	}
	err = r.api.ContainerStart(ctx, created.ID, dcontainer.StartOptions{})
	if err != nil {
		err = r.startSandboxError(ctx, name, netw, err)
	} else if plumbed {
		err = r.plumbSandbox(ctx, created.ID, bridge, netw.IP)
	}
	if err != nil {
		// Clean up with a fresh context: ctx may be what failed.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		r.api.ContainerRemove(cctx, created.ID, dcontainer.RemoveOptions{Force: true})
		os.RemoveAll(dir)
		return "", err
	}
	return created.ID, nil
}

// writePodFiles writes the files of a sandbox's pod into dir and returns
// their binds: resolv.conf for the pod's DNS settings, and for a plumbed
// sandbox, for which Docker writes neither, the hosts file and the node's
// resolver when the pod has no DNS settings of its own.
func (r *Runtime) writePodFiles(dir string, cfg container.SandboxConfig, plumbed bool) ([]string, error) {
	var binds []string
	dns := cfg.DNS
	if plumbed {
		if dns == nil {
			dns = nodeResolvConf("/etc/resolv.conf")
		}
		path := filepath.Join(dir, "hosts")
		if err := writeFileAtomic(path, hostsFile(cfg)); err != nil {
			return nil, err
		}
		binds = append(binds, path+":/etc/hosts")
	}
	if dns != nil {
		if r.cfg.StateDir == "" {
			return nil, fmt.Errorf("%w: DNS settings need Config.StateDir", container.ErrInvalid)
		}
		path := filepath.Join(dir, "resolv.conf")
		if err := writeFileAtomic(path, resolvConf(dns)); err != nil {
			return nil, err
		}
		binds = append(binds, path+":/etc/resolv.conf:ro")
	}
	return binds, nil
}

// plumbSandbox gives the started sandbox id its pod network.
func (r *Runtime) plumbSandbox(ctx context.Context, id string, b bridgeNetwork, ip string) error {
	c, err := r.api.ContainerInspect(ctx, id)
	if err != nil {
		return classify(err, "inspect sandbox %s", id)
	}
	if c.State == nil || c.State.Pid == 0 {
		return fmt.Errorf("sandbox %s: %w: its pause process is not running", id, container.ErrNotRunning)
	}
	if err := plumb(c.State.Pid, id, b, netip.MustParseAddr(ip)); err != nil {
		return fmt.Errorf("sandbox %s: pod network: %w", id, err)
	}
	return nil
}

// claimIP refuses an IP a running sandbox of the network holds (Docker
// knows only the IPs it attached itself) or another RunSandbox of this
// runtime is setting up. release ends the claim once the new sandbox is
// running, or has failed, and is seen by the label check.
func (r *Runtime) claimIP(ctx context.Context, name string, netw container.SandboxNetwork) (release func(), err error) {
	taken := func(holder string) error {
		return fmt.Errorf("sandbox %s: IP %s is used by %s: %w", name, netw.IP, holder, container.ErrConflict)
	}
	key := netw.Network + "/" + netw.IP
	r.ipMu.Lock()
	holder, busy := r.ipClaims[key]
	if !busy {
		if r.ipClaims == nil {
			r.ipClaims = map[string]string{}
		}
		r.ipClaims[key] = name
	}
	r.ipMu.Unlock()
	if busy {
		return nil, taken(holder)
	}
	unclaim := func() {
		r.ipMu.Lock()
		delete(r.ipClaims, key)
		r.ipMu.Unlock()
	}
	defer func() {
		if err != nil {
			unclaim()
		}
	}()
	f := filters.NewArgs(filters.Arg("label", labelKind+"="+kindSandbox),
		filters.Arg("label", labelNetwork+"="+netw.Network), filters.Arg("label", labelIP+"="+netw.IP))
	holders, err := r.api.ContainerList(ctx, dcontainer.ListOptions{Filters: f}) // running only
	if err != nil {
		return nil, classify(err, "sandbox %s: IPs in use", name)
	}
	for _, c := range holders {
		// A sandbox of the same name is refused as already existing by
		// the create.
		if holder := strings.TrimPrefix(c.Names[0], "/"); holder != name {
			return nil, taken(holder)
		}
	}
	return unclaim, nil
}

// startSandboxError classifies a failed sandbox start. Docker reports a
// taken IP as a plain 500, so the network is asked who holds it.
func (r *Runtime) startSandboxError(ctx context.Context, name string, netw container.SandboxNetwork, err error) error {
	if !netw.HostNetwork {
		if n, ierr := r.api.NetworkInspect(ctx, netw.Network, network.InspectOptions{}); ierr == nil {
			for _, ep := range n.Containers {
				if strings.HasPrefix(ep.IPv4Address, netw.IP+"/") {
					return fmt.Errorf("start sandbox %s: IP %s is used by %s: %w: %w", name, netw.IP, ep.Name, container.ErrConflict, err)
				}
			}
		}
	}
	return classify(err, "start sandbox %s", name)
}

// portBindings converts hostPort mappings to Docker's.
func portBindings(ports []container.PortMapping) (nat.PortSet, nat.PortMap, error) {
	set, m := nat.PortSet{}, nat.PortMap{}
	for _, p := range ports {
		if p.HostPort == 0 {
			continue
		}
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		port, err := nat.NewPort(proto, strconv.Itoa(p.ContainerPort))
		if err != nil {
			return nil, nil, fmt.Errorf("port %d/%s: %w: %w", p.ContainerPort, p.Protocol, container.ErrInvalid, err)
		}
		set[port] = struct{}{}
		m[port] = append(m[port], nat.PortBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(p.HostPort)})
	}
	return set, m, nil
}

// resolvConf renders a resolv.conf.
func resolvConf(d *container.DNSConfig) []byte {
	var b strings.Builder
	for _, s := range d.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(d.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(d.Searches, " "))
	}
	if len(d.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(d.Options, " "))
	}
	return []byte(b.String())
}

// writeFileAtomic writes path through a temporary file and a rename.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// inspectSandbox returns the sandbox id, or ErrNotFound if it is not one of
// this runtime's sandboxes.
func (r *Runtime) inspectSandbox(ctx context.Context, id string) (dcontainer.InspectResponse, error) {
	c, err := r.api.ContainerInspect(ctx, id)
	if err != nil {
		return c, classify(err, "inspect sandbox %s", id)
	}
	if c.Config == nil || !r.owned(c.Config.Labels, kindSandbox) {
		return c, fmt.Errorf("sandbox %s: %w", id, container.ErrNotFound)
	}
	return c, nil
}

// StopSandbox implements container.SandboxManager.
func (r *Runtime) StopSandbox(ctx context.Context, id string) error {
	sb, err := r.inspectSandbox(ctx, id)
	if err != nil {
		return err
	}
	ctrs, err := r.api.ContainerList(ctx, dcontainer.ListOptions{Filters: r.sandboxMembers(sb.ID)})
	if err != nil {
		return classify(err, "list containers of sandbox %s", id)
	}
	// Kill what still runs; the agent has stopped containers gracefully
	// before if it wanted to.
	var wg sync.WaitGroup
	errs := make([]error, len(ctrs))
	for i, c := range ctrs {
		wg.Go(func() {
			errs[i] = r.stop(ctx, c.ID, 0)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return r.stop(ctx, sb.ID, sandboxStopTimeout)
}

// stop stops a container with a timeout in seconds; a container that is
// gone or not running is fine.
func (r *Runtime) stop(ctx context.Context, id string, seconds int) error {
	err := r.api.ContainerStop(ctx, id, dcontainer.StopOptions{Timeout: &seconds})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return classify(err, "stop %s", id)
	}
	return nil
}

// sandboxMembers filters the containers of sandbox id.
func (r *Runtime) sandboxMembers(id string) filters.Args {
	f := r.listFilter(kindContainer, "", "")
	f.Add("label", labelSandboxID+"="+id)
	return f
}

// RemoveSandbox implements container.SandboxManager.
func (r *Runtime) RemoveSandbox(ctx context.Context, id string) error {
	sb, err := r.inspectSandbox(ctx, id)
	if errors.Is(err, container.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ctrs, err := r.api.ContainerList(ctx, dcontainer.ListOptions{All: true, Filters: r.sandboxMembers(sb.ID)})
	if err != nil {
		return classify(err, "list containers of sandbox %s", id)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ctrs))
	for i, c := range ctrs {
		wg.Go(func() { errs[i] = r.remove(ctx, c.ID) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := r.remove(ctx, sb.ID); err != nil {
		return err
	}
	if r.cfg.StateDir != "" {
		os.RemoveAll(filepath.Join(r.cfg.StateDir, strings.TrimPrefix(sb.Name, "/")))
	}
	return nil
}

// remove force-removes a container; one that is gone is fine.
func (r *Runtime) remove(ctx context.Context, id string) error {
	err := r.api.ContainerRemove(ctx, id, dcontainer.RemoveOptions{Force: true, RemoveVolumes: true})
	r.oomChecked.Delete(id)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return classify(err, "remove %s", id)
	}
	return nil
}

// SandboxStatus implements container.SandboxManager.
func (r *Runtime) SandboxStatus(ctx context.Context, id string) (container.Sandbox, error) {
	c, err := r.inspectSandbox(ctx, id)
	if err != nil {
		return container.Sandbox{}, err
	}
	l := c.Config.Labels
	sb := container.Sandbox{
		ID:          c.ID,
		Pod:         podRef(l),
		Attempt:     attempt(l),
		State:       container.SandboxNotReady,
		HostNetwork: l[labelHostNetwork] == "true",
		CreatedAt:   parseTime(c.Created),
		Labels:      userLabels(l),
	}
	if c.State != nil && c.State.Running {
		sb.State = container.SandboxReady
		var eps map[string]*network.EndpointSettings
		if c.NetworkSettings != nil {
			eps = c.NetworkSettings.Networks
		}
		sb.IP = sandboxIP(l, eps)
	}
	return sb, nil
}

// ListSandboxes implements container.SandboxManager.
func (r *Runtime) ListSandboxes(ctx context.Context, f container.SandboxFilter) ([]container.Sandbox, error) {
	list, err := r.api.ContainerList(ctx, dcontainer.ListOptions{All: true, Filters: r.listFilter(kindSandbox, f.ID, f.PodUID)})
	if err != nil {
		return nil, classify(err, "list sandboxes")
	}
	slices.Reverse(list) // Docker lists newest first
	out := make([]container.Sandbox, 0, len(list))
	for _, c := range list {
		l := c.Labels
		sb := container.Sandbox{
			ID:          c.ID,
			Pod:         podRef(l),
			Attempt:     attempt(l),
			State:       container.SandboxNotReady,
			HostNetwork: l[labelHostNetwork] == "true",
			CreatedAt:   time.Unix(c.Created, 0),
			Labels:      userLabels(l),
		}
		if c.State == dcontainer.StateRunning {
			sb.State = container.SandboxReady
			var eps map[string]*network.EndpointSettings
			if c.NetworkSettings != nil {
				eps = c.NetworkSettings.Networks
			}
			sb.IP = sandboxIP(l, eps)
		}
		if f.State != "" && sb.State != f.State {
			continue
		}
		out = append(out, sb)
	}
	return out, nil
}

// sandboxIP returns the IP of a running sandbox with labels l: its label
// if this runtime plumbed it, else what Docker attached.
func sandboxIP(l map[string]string, eps map[string]*network.EndpointSettings) string {
	if l[labelPlumbed] == "true" {
		return l[labelIP]
	}
	if ep := eps[l[labelNetwork]]; ep != nil {
		return ep.IPAddress
	}
	return ""
}
