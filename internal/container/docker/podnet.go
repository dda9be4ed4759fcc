package docker

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/gantry-dev/gantry/internal/container"
)

// Pod networking without libnetwork's per-container hook.
//
// Docker configures a container's network in an OCI prestart hook that
// runs a fresh copy of dockerd ("libnetwork-setkey"); on the 2-core
// machines here that process's start-up costs about 0.35 s of CPU, as much
// as the rest of starting the container. When the daemon is on this
// machine and Gantry may configure network namespaces (it runs as root), a
// sandbox is therefore created with its network disabled (an empty network
// namespace with only lo) and the runtime plumbs it itself, as a CNI bridge
// plugin would: a veth pair whose host end joins the Docker network's
// bridge and whose pod end becomes eth0 with the pod's IP, Docker's MAC
// scheme and a default route through the bridge's gateway. Docker's
// iptables rules for the network match the bridge, not its endpoints, so
// NAT and forwarding stay Docker's. The pod's /etc/hosts and resolv.conf
// are files of the runtime's, bind-mounted into every container of the
// pod. See docs/design/0012-pod-network-plumbing.md.
//
// Sandboxes with hostPort mappings still attach through Docker, which owns
// port publishing.

// bridgeNetwork is what plumbing needs to know of a Docker bridge network.
type bridgeNetwork struct {
	bridge  string // the bridge device, br-<network id[:12]>
	index   int    // its interface index
	subnet  netip.Prefix
	gateway netip.Addr
	mtu     int
}

// lookupBridge returns the bridge of the Docker network name.
func (r *Runtime) lookupBridge(ctx context.Context, name string) (bridgeNetwork, error) {
	n, err := r.inspectNetwork(ctx, name)
	if err != nil {
		return bridgeNetwork{}, classify(err, "network %q", name)
	}
	subnet, err1 := netip.ParsePrefix(n.Subnet)
	gw, err2 := netip.ParseAddr(n.Gateway)
	if err1 != nil || err2 != nil || len(n.ID) < 12 {
		return bridgeNetwork{}, fmt.Errorf("network %q: %w: subnet %q, gateway %q", name, container.ErrInvalid, n.Subnet, n.Gateway)
	}
	b := bridgeNetwork{bridge: "br-" + n.ID[:12], subnet: subnet.Masked(), gateway: gw}
	link, err := netlink.LinkByName(b.bridge)
	if err != nil {
		return bridgeNetwork{}, fmt.Errorf("network %q: bridge %s: %w: %w", name, b.bridge, container.ErrNotFound, err)
	}
	b.index, b.mtu = link.Attrs().Index, link.Attrs().MTU
	return b, nil
}

// plumb gives the network namespace of process pid an eth0 on bridge b
// with address ip. A failure leaves nothing behind on the host; the
// namespace goes with its sandbox.
func plumb(pid int, sandboxID string, b bridgeNetwork, ip netip.Addr) (err error) {
	// "veth" keeps the host end out of the node's addresses (agent) and
	// fits the 15-byte name limit.
	hostEnd := "veth" + sandboxID[:11]
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name:        hostEnd,
			MTU:         b.mtu,
			MasterIndex: b.index, // netlink enslaves it right after the create
			Flags:       net.FlagUp,
		},
		PeerName:         "eth0",
		PeerNamespace:    netlink.NsPid(pid),
		PeerHardwareAddr: macFor(ip),
		PeerMTU:          uint32(b.mtu),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("veth %s: %w", hostEnd, err)
	}
	defer func() {
		if err != nil {
			netlink.LinkDel(veth) // takes the pod end with it
		}
	}()

	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("network namespace of pid %d: %w", pid, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in the pod's namespace: %w", err)
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("eth0: %w", err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(b.subnet.Bits(), 32)}}
	if err := h.AddrAdd(eth0, addr); err != nil {
		return fmt.Errorf("eth0 address %s: %w", addr, err)
	}
	if err := h.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("eth0 up: %w", err)
	}
	def := &netlink.Route{
		LinkIndex: eth0.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        b.gateway.AsSlice(),
	}
	if err := h.RouteAdd(def); err != nil {
		return fmt.Errorf("default route via %s: %w", b.gateway, err)
	}
	return nil
}

// macFor returns Docker's MAC for an IPv4 endpoint, 02:42 and the address,
// so that a reused IP keeps its MAC and neighbours' ARP caches stay right.
func macFor(ip netip.Addr) net.HardwareAddr {
	a := ip.As4()
	return net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}
}

// plumbsNetworks reports whether this process can plumb the namespaces of
// the daemon's containers: the daemon listens on a local socket (its PIDs
// are ours) and we are root.
func plumbsNetworks(daemonHost string) bool {
	return strings.HasPrefix(daemonHost, "unix://") && os.Geteuid() == 0
}

// hostsFile renders a pod's /etc/hosts as kubelet does: localhost, the
// pod's own names, then the HostAliases.
func hostsFile(cfg container.SandboxConfig) []byte {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file (Gantry).\n" +
		"127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"fe00::0\tip6-mcastprefix\n" +
		"fe00::1\tip6-allnodes\n" +
		"fe00::2\tip6-allrouters\n")
	if ip := cfg.Network.IP; ip != "" {
		names := cfg.Hostname
		if cfg.Domainname != "" {
			names = cfg.Hostname + "." + cfg.Domainname + "\t" + cfg.Hostname
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	if len(cfg.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range cfg.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return []byte(b.String())
}

// nodeResolvConf is the DNS configuration of a pod that uses the node's
// resolver: the node's resolv.conf without loopback nameservers, which a
// pod cannot reach, falling back to Docker's defaults as Docker does.
func nodeResolvConf(path string) *container.DNSConfig {
	d := &container.DNSConfig{}
	data, _ := os.ReadFile(path) // a missing file: the defaults
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil && !a.IsLoopback() && a.Is4() {
				d.Servers = append(d.Servers, f[1])
			}
		case "search", "domain":
			d.Searches = f[1:]
		case "options":
			d.Options = append(d.Options, f[1:]...)
		}
	}
	if len(d.Servers) == 0 {
		d.Servers = []string{"8.8.8.8", "8.8.4.4"}
	}
	return d
}
