package containertest

import (
	"maps"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/container"
)

func testNetwork(t *testing.T, h *harness) {
	n, err := h.rt.EnsureNetwork(h.ctx(), h.s.opts.Network)
	noErr(t, "EnsureNetwork again", err)
	if n != h.network || n.Name != h.s.opts.Network.Name || n.Subnet != h.s.opts.Network.Subnet {
		t.Errorf("EnsureNetwork again = %+v, want the existing %+v", n, h.network)
	}
	other := h.s.opts.Network
	other.Subnet = "10.254.254.0/30"
	_, err = h.rt.EnsureNetwork(h.ctx(), other)
	wantErr(t, "EnsureNetwork with another subnet", err, container.ErrConflict)
	_, err = h.rt.EnsureNetwork(h.ctx(), container.NetworkConfig{Name: other.Name, Subnet: "not a cidr"})
	wantErr(t, "EnsureNetwork with a bad subnet", err, container.ErrInvalid)
	noErr(t, "RemoveNetwork of a missing network", h.rt.RemoveNetwork(h.ctx(), "gantry-ct-no-such-network"))

	h.sandbox("net")
	wantErr(t, "RemoveNetwork with a sandbox attached", h.rt.RemoveNetwork(h.ctx(), h.s.opts.Network.Name), container.ErrConflict)
}

func testSandboxLifecycle(t *testing.T, h *harness) {
	cfg := h.sandboxConfig("life")
	cfg.Labels = map[string]string{"app": "web", container.LabelPodName: "reserved, dropped"}
	cfg.Attempt = 2
	id := h.runSandbox(cfg)

	sb, err := h.rt.SandboxStatus(h.ctx(), id)
	noErr(t, "SandboxStatus", err)
	want := container.Sandbox{ID: id, Pod: cfg.Pod, Attempt: 2, State: container.SandboxReady, IP: cfg.Network.IP,
		Labels: map[string]string{"app": "web"}}
	checkSandbox(t, "SandboxStatus", sb, want)

	list, err := h.rt.ListSandboxes(h.ctx(), container.SandboxFilter{PodUID: cfg.Pod.UID})
	noErr(t, "ListSandboxes", err)
	if len(list) != 1 {
		t.Fatalf("ListSandboxes(pod) = %d sandboxes, want 1", len(list))
	}
	checkSandbox(t, "ListSandboxes", list[0], want)

	_, err = h.rt.RunSandbox(h.ctx(), cfg)
	wantErr(t, "RunSandbox again", err, container.ErrAlreadyExists)
	if sb, err := h.rt.SandboxStatus(h.ctx(), id); err != nil || sb.State != container.SandboxReady {
		t.Errorf("after a refused duplicate the sandbox is %v, %v; want Ready", sb.State, err)
	}

	noErr(t, "StopSandbox", h.rt.StopSandbox(h.ctx(), id))
	sb, err = h.rt.SandboxStatus(h.ctx(), id)
	noErr(t, "SandboxStatus after stop", err)
	want.State, want.IP = container.SandboxNotReady, ""
	checkSandbox(t, "SandboxStatus after stop", sb, want)
	noErr(t, "StopSandbox again", h.rt.StopSandbox(h.ctx(), id))
	list, err = h.rt.ListSandboxes(h.ctx(), container.SandboxFilter{State: container.SandboxReady})
	noErr(t, "ListSandboxes(Ready)", err)
	if len(list) != 0 {
		t.Errorf("ListSandboxes(Ready) after stop = %+v, want none", list)
	}

	// The stopped sandbox's IP is free again.
	cfg2 := h.sandboxConfig("life2")
	cfg2.Network.IP = cfg.Network.IP
	h.runSandbox(cfg2)

	noErr(t, "RemoveSandbox", h.rt.RemoveSandbox(h.ctx(), id))
	_, err = h.rt.SandboxStatus(h.ctx(), id)
	wantErr(t, "SandboxStatus after remove", err, container.ErrNotFound)
	noErr(t, "RemoveSandbox again", h.rt.RemoveSandbox(h.ctx(), id))
	wantErr(t, "StopSandbox after remove", h.rt.StopSandbox(h.ctx(), id), container.ErrNotFound)
	list, err = h.rt.ListSandboxes(h.ctx(), container.SandboxFilter{PodUID: cfg.Pod.UID})
	noErr(t, "ListSandboxes after remove", err)
	if len(list) != 0 {
		t.Errorf("ListSandboxes after remove = %+v", list)
	}
}

func checkSandbox(t *testing.T, what string, got, want container.Sandbox) {
	t.Helper()
	if got.ID != want.ID || got.Pod != want.Pod || got.Attempt != want.Attempt || got.State != want.State ||
		got.IP != want.IP || got.HostNetwork != want.HostNetwork || !maps.Equal(got.Labels, want.Labels) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	if got.CreatedAt.IsZero() {
		t.Errorf("%s: CreatedAt is zero", what)
	}
}

func testSandboxErrors(t *testing.T, h *harness) {
	_, err := h.rt.SandboxStatus(h.ctx(), "0123456789ab0123456789ab")
	wantErr(t, "SandboxStatus of a missing sandbox", err, container.ErrNotFound)
	noErr(t, "RemoveSandbox of a missing sandbox", h.rt.RemoveSandbox(h.ctx(), "0123456789ab0123456789ab"))

	cfg := h.sandboxConfig("nonet")
	cfg.Network.Network = "gantry-ct-no-such-network"
	_, err = h.rt.RunSandbox(h.ctx(), cfg)
	wantErr(t, "RunSandbox on a missing network", err, container.ErrNotFound)

	cfg = h.sandboxConfig("noip")
	cfg.Network.IP = "not an ip"
	_, err = h.rt.RunSandbox(h.ctx(), cfg)
	wantErr(t, "RunSandbox with a bad IP", err, container.ErrInvalid)

	first := h.sandboxConfig("first")
	h.runSandbox(first)
	cfg = h.sandboxConfig("second")
	cfg.Network.IP = first.Network.IP
	_, err = h.rt.RunSandbox(h.ctx(), cfg)
	wantErr(t, "RunSandbox with a taken IP", err, container.ErrConflict)
	list, err := h.rt.ListSandboxes(h.ctx(), container.SandboxFilter{PodUID: cfg.Pod.UID})
	noErr(t, "ListSandboxes", err)
	if len(list) != 0 {
		t.Errorf("a failed RunSandbox left %+v behind", list)
	}

	// A container ID is not a sandbox ID.
	ctr := h.create(h.sandbox("kinds"), h.ctr("c", "sleep"))
	_, err = h.rt.SandboxStatus(h.ctx(), ctr)
	wantErr(t, "SandboxStatus of a container", err, container.ErrNotFound)
	_, err = h.rt.CreateContainer(h.ctx(), ctr, h.ctr("d", "sleep"))
	wantErr(t, "CreateContainer in a container", err, container.ErrNotFound)
}

func testHostNetwork(t *testing.T, h *harness) {
	cfg := container.SandboxConfig{Pod: h.pod("hostnet"), Hostname: "hostnet", Network: container.SandboxNetwork{HostNetwork: true}}
	sb := h.runSandbox(cfg)
	st, err := h.rt.SandboxStatus(h.ctx(), sb)
	noErr(t, "SandboxStatus", err)
	if !st.HostNetwork || st.IP != "" || st.State != container.SandboxReady {
		t.Errorf("host-network sandbox = %+v, want Ready, HostNetwork, no IP", st)
	}
	id := h.run(sb, h.ctr("c", "hostname"))
	st2 := h.waitState(id, container.ContainerExited)
	if out := strings.TrimSpace(h.logs(id, container.LogOptions{})); st2.ExitCode != 0 || out != "hostnet" {
		t.Errorf("hostname in a host-network pod: exit %d, output %q, want %q", st2.ExitCode, out, "hostnet")
	}
}

func testHostnameDNSHosts(t *testing.T, h *harness) {
	cfg := h.sandboxConfig("named")
	cfg.Domainname = "sub.ct.svc.cluster.local"
	cfg.DNS = &container.DNSConfig{
		Servers:  []string{"10.96.0.10"},
		Searches: []string{"ct.svc.cluster.local", "svc.cluster.local"},
		Options:  []string{"ndots:5"},
	}
	cfg.HostAliases = []container.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"foo.example", "bar.example"}}}
	sb := h.runSandbox(cfg)

	short := h.run(sb, h.ctr("short", "hostname"))
	h.waitState(short, container.ContainerExited)
	if got := strings.TrimSpace(h.logs(short, container.LogOptions{})); got != "named" {
		t.Errorf("hostname in a container = %q, want the pod's %q", got, "named")
	}

	long := h.run(sb, h.ctr("long", "sleep"))
	h.waitState(long, container.ContainerRunning)
	code, out, stderr := h.exec(long, nil, "cat", "/etc/resolv.conf")
	if code != 0 {
		t.Fatalf("cat /etc/resolv.conf: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"nameserver 10.96.0.10", "search ct.svc.cluster.local svc.cluster.local", "options ndots:5"} {
		if !hasLine(out, want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, out)
		}
	}
	code, out, stderr = h.exec(long, nil, "cat", "/etc/hosts")
	if code != 0 {
		t.Fatalf("cat /etc/hosts: exit %d: %s", code, stderr)
	}
	for _, want := range [][]string{
		{"10.1.2.3", "foo.example"}, {"10.1.2.3", "bar.example"},
		{cfg.Network.IP, "named.sub.ct.svc.cluster.local", "named"},
		{"127.0.0.1", "localhost"},
	} {
		if !hostsHas(out, want[0], want[1:]...) {
			t.Errorf("/etc/hosts lacks %v:\n%s", want, out)
		}
	}
}

func hasLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.Join(strings.Fields(l), " ") == line {
			return true
		}
	}
	return false
}

// hostsHas reports whether some line maps ip to all names.
func hostsHas(hosts, ip string, names ...string) bool {
	for l := range strings.Lines(hosts) {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != ip {
			continue
		}
		all := true
		for _, n := range names {
			found := false
			for _, g := range f[1:] {
				found = found || g == n
			}
			all = all && found
		}
		if all {
			return true
		}
	}
	return false
}

func testSharedNetwork(t *testing.T, h *harness) {
	sb := h.sandbox("shared")
	srv := h.run(sb, h.ctr("server", "serve", "8080"))
	h.waitLogs(srv, "serving on 8080")
	cl := h.run(sb, h.ctr("client", "get", "http://localhost:8080/"))
	st := h.waitState(cl, container.ContainerExited)
	out := h.logs(cl, container.LogOptions{})
	if st.ExitCode != 0 || !strings.Contains(out, "hello from shared") {
		t.Errorf("client reaching the server on localhost: exit %d, output %q", st.ExitCode, out)
	}

	// Another pod reaches it by the pod IP.
	ip, err := h.rt.SandboxStatus(h.ctx(), sb)
	noErr(t, "SandboxStatus", err)
	other := h.run(h.sandbox("other"), h.ctr("client", "get", "http://"+ip.IP+":8080/"))
	st = h.waitState(other, container.ContainerExited)
	if out := h.logs(other, container.LogOptions{}); st.ExitCode != 0 || !strings.Contains(out, "hello from shared") {
		t.Errorf("another pod reaching the server on %s: exit %d, output %q", ip.IP, st.ExitCode, out)
	}
}

func testStopSandboxKills(t *testing.T, h *harness) {
	sb := h.sandbox("stopkill")
	id := h.run(sb, h.ctr("stubborn", "ignore-term"))
	h.waitLogs(id, "ignoring SIGTERM")
	noErr(t, "StopSandbox", h.rt.StopSandbox(h.ctx(), sb))
	if st := h.status(id); st.State != container.ContainerExited {
		t.Errorf("after StopSandbox the container is %s, want Exited", st.State)
	}
	noErr(t, "RemoveSandbox", h.rt.RemoveSandbox(h.ctx(), sb))
	_, err := h.rt.ContainerStatus(h.ctx(), id)
	wantErr(t, "ContainerStatus after RemoveSandbox", err, container.ErrNotFound)
}
