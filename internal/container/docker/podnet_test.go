package docker

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/gantry-dev/gantry/internal/container"
)

// TestPlumbedSandbox checks what the runtime plumbs instead of Docker: no
// libnetwork (NetworkDisabled), eth0 with the pod's IP, Docker's MAC and
// the bridge's MTU, a default route through the gateway, and the host end
// on the network's bridge.
func TestPlumbedSandbox(t *testing.T) {
	r := newTestRuntime(t)
	if !r.plumbs {
		t.Fatal("the test runtime does not plumb pod networks; these tests run as root against the local daemon")
	}
	netw := testNetwork(t, r)
	ctx := t.Context()
	ip := nthIP(netw.Subnet, 12)
	sb := runSandbox(t, r, container.SandboxConfig{
		Pod:      container.PodRef{Name: "plumbed", Namespace: "ct", UID: randomHex(8)},
		Hostname: "plumbed",
		Network:  container.SandboxNetwork{Network: netw.Name, IP: ip},
	})
	c, err := r.api.ContainerInspect(ctx, sb)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Config.NetworkDisabled || c.Config.Labels[labelPlumbed] != "true" {
		t.Errorf("sandbox NetworkDisabled %v, labels %v: want Docker's network disabled and the plumbed label", c.Config.NetworkDisabled, c.Config.Labels)
	}
	b, err := r.lookupBridge(ctx, netw.Name)
	if err != nil {
		t.Fatal(err)
	}

	hostEnd, err := netlink.LinkByName("veth" + sb[:11])
	if err != nil {
		t.Fatalf("host end of the pod's veth: %v", err)
	}
	if br, _ := netlink.LinkByName(b.bridge); br == nil || hostEnd.Attrs().MasterIndex != br.Attrs().Index || hostEnd.Attrs().OperState != netlink.OperUp {
		t.Errorf("host end %+v: want up on bridge %s", hostEnd.Attrs(), b.bridge)
	}

	ns, err := netns.GetFromPid(c.State.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatalf("eth0 in the pod: %v", err)
	}
	if a := eth0.Attrs(); a.MTU != b.mtu || a.HardwareAddr.String() != macFor(netip.MustParseAddr(ip)).String() {
		t.Errorf("eth0 MTU %d MAC %s, want %d and %s", a.MTU, a.HardwareAddr, b.mtu, macFor(netip.MustParseAddr(ip)))
	}
	addrs, err := h.AddrList(eth0, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != ip+"/24" {
		t.Errorf("eth0 addresses %v (%v), want %s/24", addrs, err, ip)
	}
	routes, err := h.RouteList(eth0, netlink.FAMILY_V4)
	if err != nil || !slices.ContainsFunc(routes, func(r netlink.Route) bool {
		return (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.Equal(net.IP(b.gateway.AsSlice()))
	}) {
		t.Errorf("routes %v (%v), want a default route via %s", routes, err, b.gateway)
	}

	// A taken IP is refused before anything is created; the holder keeps it.
	_, err = r.RunSandbox(ctx, container.SandboxConfig{
		Pod:     container.PodRef{Name: "thief", Namespace: "ct", UID: randomHex(8)},
		Network: container.SandboxNetwork{Network: netw.Name, IP: ip},
	})
	if !strings.Contains(err.Error(), "IP "+ip+" is used by") {
		t.Errorf("RunSandbox with a taken IP: %v", err)
	}
	// An IP outside the network is invalid.
	_, err = r.RunSandbox(ctx, container.SandboxConfig{
		Pod:     container.PodRef{Name: "stray", Namespace: "ct", UID: randomHex(8)},
		Network: container.SandboxNetwork{Network: netw.Name, IP: "192.0.2.7"},
	})
	if !strings.Contains(err.Error(), "not a pod address") {
		t.Errorf("RunSandbox with an IP outside the network: %v", err)
	}

	// The host end goes with the sandbox's namespace, which the kernel
	// tears down asynchronously once nothing holds it, this test included.
	h.Close()
	ns.Close()
	if err := r.RemoveSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := netlink.LinkByName("veth" + sb[:11]); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the host end of the veth outlived its sandbox by 10 s")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func TestHostsFile(t *testing.T) {
	got := string(hostsFile(container.SandboxConfig{
		Hostname:    "web-0",
		Domainname:  "web.default.svc.cluster.local",
		Network:     container.SandboxNetwork{IP: "10.42.0.5"},
		HostAliases: []container.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"foo.example", "bar.example"}}},
	}))
	for _, want := range []string{
		"127.0.0.1\tlocalhost\n",
		"10.42.0.5\tweb-0.web.default.svc.cluster.local\tweb-0\n",
		"# Entries added by HostAliases.\n10.1.2.3\tfoo.example\tbar.example\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("hosts file lacks %q:\n%s", want, got)
		}
	}
	if got := string(hostsFile(container.SandboxConfig{Hostname: "solo", Network: container.SandboxNetwork{IP: "10.42.0.6"}})); !strings.Contains(got, "10.42.0.6\tsolo\n") || strings.Contains(got, "HostAliases") {
		t.Errorf("hosts file without domain or aliases:\n%s", got)
	}
}

func TestNodeResolvConf(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "resolv.conf")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got := nodeResolvConf(write("# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nsearch corp.example example\noptions edns0 trust-ad\n"))
	if !slices.Equal(got.Servers, []string{"10.0.0.2"}) || !slices.Equal(got.Searches, []string{"corp.example", "example"}) || !slices.Equal(got.Options, []string{"edns0", "trust-ad"}) {
		t.Errorf("nodeResolvConf = %+v", got)
	}
	// Only a local resolver (systemd-resolved): Docker's public defaults.
	if got := nodeResolvConf(write("nameserver 127.0.0.53\n")); !slices.Equal(got.Servers, []string{"8.8.8.8", "8.8.4.4"}) {
		t.Errorf("nodeResolvConf with only a loopback resolver = %+v", got)
	}
	if got := nodeResolvConf(filepath.Join(dir, "missing")); len(got.Servers) != 2 {
		t.Errorf("nodeResolvConf of a missing file = %+v", got)
	}
}
