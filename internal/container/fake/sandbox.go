package fake

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
)

type network struct {
	id     string
	name   string
	subnet netip.Prefix
}

type sandbox struct {
	id      string
	seq     int
	cfg     container.SandboxConfig
	ready   bool
	ip      string // while ready, on a pod network
	created time.Time
	ns      *netns
}

func (r *Runtime) ensureNetwork(ctx context.Context, cfg container.NetworkConfig) (container.Network, error) {
	want, err := netip.ParsePrefix(cfg.Subnet)
	if cfg.Name == "" || err != nil || !want.Addr().Is4() {
		return container.Network{}, fmt.Errorf("network %q with subnet %q: %w: need a name and an IPv4 CIDR", cfg.Name, cfg.Subnet, container.ErrInvalid)
	}
	want = want.Masked()
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.networks[cfg.Name]; ok {
		if n.subnet != want {
			return container.Network{}, fmt.Errorf("network %q has subnet %s, not %s: %w", cfg.Name, n.subnet, want, container.ErrConflict)
		}
		return n.public(), nil
	}
	for _, n := range r.networks {
		if n.subnet.Overlaps(want) {
			return container.Network{}, fmt.Errorf("subnet %s overlaps network %q: %w", want, n.name, container.ErrConflict)
		}
	}
	n := &network{id: r.newID(), name: cfg.Name, subnet: want}
	r.networks[cfg.Name] = n
	return n.public(), nil
}

func (n *network) public() container.Network {
	return container.Network{ID: n.id, Name: n.name, Subnet: n.subnet.String(), Gateway: n.subnet.Addr().Next().String()}
}

func (r *Runtime) removeNetwork(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.networks[name]; !ok {
		return nil
	}
	for _, sb := range r.sandboxes {
		if sb.ready && !sb.cfg.Network.HostNetwork && sb.cfg.Network.Network == name {
			return fmt.Errorf("network %q has sandbox %s attached: %w", name, sb.id, container.ErrConflict)
		}
	}
	delete(r.networks, name)
	return nil
}

func (r *Runtime) runSandbox(ctx context.Context, cfg container.SandboxConfig) (string, error) {
	if cfg.Pod.UID == "" || cfg.Pod.Name == "" {
		return "", fmt.Errorf("sandbox: %w: pod name and UID are required", container.ErrInvalid)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sb := range r.sandboxes {
		if sb.cfg.Pod.UID == cfg.Pod.UID && sb.cfg.Attempt == cfg.Attempt {
			return "", fmt.Errorf("sandbox of pod %s attempt %d: %w", cfg.Pod.UID, cfg.Attempt, container.ErrAlreadyExists)
		}
	}
	sb := &sandbox{id: r.newID(), seq: r.next(), cfg: cloneSandboxConfig(cfg), ready: true, created: time.Now()}
	if cfg.Network.HostNetwork {
		sb.ns = r.hostNS
	} else {
		n, ok := r.networks[cfg.Network.Network]
		if !ok {
			return "", fmt.Errorf("sandbox: network %q: %w", cfg.Network.Network, container.ErrNotFound)
		}
		ip, err := netip.ParseAddr(cfg.Network.IP)
		if err != nil || !n.subnet.Contains(ip) {
			return "", fmt.Errorf("sandbox: %w: IP %q is not in network %q (%s)", container.ErrInvalid, cfg.Network.IP, n.name, n.subnet)
		}
		if other := r.sandboxByIP(ip.String()); other != nil {
			return "", fmt.Errorf("sandbox: IP %s is used by sandbox %s: %w", ip, other.id, container.ErrConflict)
		}
		sb.ip = ip.String()
		sb.ns = newNetns()
	}
	r.sandboxes[sb.id] = sb
	return sb.id, nil
}

// sandboxByIP returns the ready sandbox holding ip. Callers hold r.mu.
func (r *Runtime) sandboxByIP(ip string) *sandbox {
	for _, sb := range r.sandboxes {
		if sb.ready && sb.ip == ip {
			return sb
		}
	}
	return nil
}

func cloneSandboxConfig(c container.SandboxConfig) container.SandboxConfig {
	c.Labels = userLabels(c.Labels)
	c.Sysctls = maps.Clone(c.Sysctls)
	c.HostAliases = slices.Clone(c.HostAliases)
	c.Ports = slices.Clone(c.Ports)
	if c.DNS != nil {
		d := *c.DNS
		c.DNS = &d
	}
	return c
}

// userLabels copies l without the reserved labels.
func userLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		if !strings.HasPrefix(k, container.LabelPrefix) {
			out[k] = v
		}
	}
	return out
}

func (r *Runtime) stopSandbox(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb, ok := r.sandboxes[id]
	if !ok {
		return fmt.Errorf("sandbox %s: %w", id, container.ErrNotFound)
	}
	for _, c := range r.containers {
		if c.sandbox == sb && c.state == container.ContainerRunning {
			r.finish(c, 137, false)
		}
	}
	sb.ready, sb.ip = false, ""
	return nil
}

func (r *Runtime) removeSandbox(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb, ok := r.sandboxes[id]
	if !ok {
		return nil
	}
	for cid, c := range r.containers {
		if c.sandbox == sb {
			if c.state == container.ContainerRunning {
				r.finish(c, 137, false)
			}
			delete(r.containers, cid)
		}
	}
	delete(r.sandboxes, id)
	return nil
}

func (r *Runtime) sandboxStatus(ctx context.Context, id string) (container.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb, ok := r.sandboxes[id]
	if !ok {
		return container.Sandbox{}, fmt.Errorf("sandbox %s: %w", id, container.ErrNotFound)
	}
	return sb.public(), nil
}

func (sb *sandbox) public() container.Sandbox {
	st := container.SandboxNotReady
	if sb.ready {
		st = container.SandboxReady
	}
	return container.Sandbox{
		ID: sb.id, Pod: sb.cfg.Pod, Attempt: sb.cfg.Attempt, State: st, IP: sb.ip,
		HostNetwork: sb.cfg.Network.HostNetwork, CreatedAt: sb.created, Labels: maps.Clone(sb.cfg.Labels),
	}
}

func (r *Runtime) listSandboxes(ctx context.Context, f container.SandboxFilter) ([]container.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var list []*sandbox
	for _, sb := range r.sandboxes {
		if (f.ID == "" || strings.HasPrefix(sb.id, f.ID)) && (f.PodUID == "" || sb.cfg.Pod.UID == f.PodUID) {
			list = append(list, sb)
		}
	}
	slices.SortFunc(list, func(a, b *sandbox) int { return a.seq - b.seq })
	out := []container.Sandbox{}
	for _, sb := range list {
		if p := sb.public(); f.State == "" || p.State == f.State {
			out = append(out, p)
		}
	}
	return out, nil
}

// hostsFile renders a sandbox's /etc/hosts as Docker does.
func (sb *sandbox) hostsFile() []byte {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, a := range sb.cfg.HostAliases {
		for _, h := range a.Hostnames {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, h)
		}
	}
	if sb.ip != "" {
		names := sb.cfg.Hostname
		if sb.cfg.Domainname != "" {
			names = sb.cfg.Hostname + "." + sb.cfg.Domainname + " " + sb.cfg.Hostname
		}
		fmt.Fprintf(&b, "%s\t%s\n", sb.ip, names)
	}
	return []byte(b.String())
}

// resolvConf renders a sandbox's /etc/resolv.conf.
func (sb *sandbox) resolvConf() []byte {
	d := sb.cfg.DNS
	if d == nil {
		return []byte("nameserver 127.0.0.53\n")
	}
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
