package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
	"github.com/gantry-dev/gantry/internal/container/containertest"
)

func TestConformance(t *testing.T) {
	img := testImage(t)
	r := newTestRuntime(t)
	netw := testNetwork(t, r)
	containertest.Run(t, func(t *testing.T) container.Runtime { return newTestRuntime(t) }, containertest.Options{
		TestImage: img,
		Network:   netw,
		Reconnect: func(t *testing.T, rt container.Runtime) container.Runtime {
			return openRuntime(t, rt.(*Runtime).cfg)
		},
	})
}

func TestUnreachableDaemon(t *testing.T) {
	r := openRuntime(t, Config{Host: "unix:///nonexistent/docker.sock"})
	err := r.Ping(t.Context())
	if !errors.Is(err, container.ErrUnavailable) || !container.IsTemporary(err) {
		t.Errorf("Ping of a missing daemon = %v, want a temporary ErrUnavailable", err)
	}
	_, err = r.ListSandboxes(t.Context(), container.SandboxFilter{})
	if !container.IsTemporary(err) {
		t.Errorf("ListSandboxes on a missing daemon = %v, want a temporary error", err)
	}
}

// TestTargetPIDNamespace checks an ephemeral container with a target
// (kubectl debug --target): in a pod that does not share its process
// namespace, it joins the target container's PID namespace and sees its
// processes, the target's command as PID 1.
func TestTargetPIDNamespace(t *testing.T) {
	img := testImage(t)
	r := newTestRuntime(t)
	netw := testNetwork(t, r)
	ctx := t.Context()
	sb := runSandbox(t, r, container.SandboxConfig{
		Pod:      container.PodRef{Name: "target", Namespace: "ct", UID: randomHex(8)},
		Hostname: "target",
		Network:  container.SandboxNetwork{Network: netw.Name, IP: nthIP(netw.Subnet, 11)},
	})
	start := func(cfg container.ContainerConfig) string {
		t.Helper()
		id, err := r.CreateContainer(ctx, sb, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	app := start(container.ContainerConfig{Name: "app", Image: img, Args: []string{"sleep"}})
	debug := start(container.ContainerConfig{Name: "debugger", Image: img, Args: []string{"sleep"}, PIDNamespaceOf: app})

	c, err := r.api.ContainerInspect(ctx, debug)
	if err != nil {
		t.Fatal(err)
	}
	if want := "container:" + app; string(c.HostConfig.PidMode) != want || string(c.HostConfig.NetworkMode) != "container:"+sb {
		t.Errorf("debugger joins pid %q network %q, want pid %q and the sandbox's network", c.HostConfig.PidMode, c.HostConfig.NetworkMode, want)
	}
	var out strings.Builder
	if code, err := r.Exec(ctx, debug, []string{"/testimage", "ps"}, container.Streams{Stdout: &out}); err != nil || code != 0 {
		t.Fatalf("ps: %d %v", code, err)
	}
	if got := out.String(); !strings.Contains(got, "1 S /testimage sleep\n") || strings.Count(got, "/testimage sleep") != 2 {
		t.Errorf("processes the debugger sees:\n%s\nwant app's sleep as PID 1 and its own sleep", got)
	}
}

// TestNamespaces checks the Docker settings behind a pod: what containers
// join, the pause process as PID 1 of a shared PID namespace, and that it
// reaps orphans.
func TestNamespaces(t *testing.T) {
	img := testImage(t)
	r := newTestRuntime(t)
	netw := testNetwork(t, r)
	ctx := t.Context()
	sb := runSandbox(t, r, container.SandboxConfig{
		Pod:                   container.PodRef{Name: "ns", Namespace: "ct", UID: randomHex(8)},
		Hostname:              "ns",
		Network:               container.SandboxNetwork{Network: netw.Name, IP: nthIP(netw.Subnet, 10)},
		ShareProcessNamespace: true,
	})
	id, err := r.CreateContainer(ctx, sb, container.ContainerConfig{Name: "app", Image: img, Args: []string{"sleep"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}

	p, err := r.api.ContainerInspect(ctx, sb)
	if err != nil {
		t.Fatal(err)
	}
	if p.HostConfig.IpcMode != "shareable" {
		t.Errorf("pause IpcMode = %q, want shareable", p.HostConfig.IpcMode)
	}
	c, err := r.api.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	join := "container:" + sb
	if string(c.HostConfig.NetworkMode) != join || string(c.HostConfig.IpcMode) != join || string(c.HostConfig.PidMode) != join {
		t.Errorf("app joins network %q ipc %q pid %q, want %q for each", c.HostConfig.NetworkMode, c.HostConfig.IpcMode, c.HostConfig.PidMode, join)
	}

	ps := func() string {
		var out strings.Builder
		if code, err := r.Exec(ctx, id, []string{"/testimage", "ps"}, container.Streams{Stdout: &out}); err != nil || code != 0 {
			t.Fatalf("ps: %d %v", code, err)
		}
		return out.String()
	}
	if got := ps(); !strings.Contains(got, "1 S /pause\n") {
		t.Fatalf("PID 1 of a pod sharing its PID namespace is not /pause:\n%s", got)
	}

	// An orphan is reparented to the pause process, which reaps it: its PID
	// disappears instead of staying a zombie.
	if code, err := r.Exec(ctx, id, []string{"/testimage", "orphan", "1"}, container.Streams{}); err != nil || code != 0 {
		t.Fatalf("orphan: %d %v", code, err)
	}
	var pid string
	for l := range strings.Lines(ps()) {
		if strings.HasSuffix(l, " sleep 1\n") {
			pid = strings.Fields(l)[0]
		}
	}
	if pid == "" {
		t.Fatalf("the orphan is not running:\n%s", ps())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := ps()
		if !slices.ContainsFunc(strings.Split(got, "\n"), func(l string) bool { return strings.HasPrefix(l, pid+" ") }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphan %s was not reaped:\n%s", pid, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHostConfig checks that resources and the security context reach
// Docker (what docker inspect shows).
func TestHostConfig(t *testing.T) {
	img := testImage(t)
	r := newTestRuntime(t)
	ctx := t.Context()
	sb := runSandbox(t, r, container.SandboxConfig{
		Pod:     container.PodRef{Name: "hc", Namespace: "ct", UID: randomHex(8)},
		Network: container.SandboxNetwork{HostNetwork: true},
	})
	uid, gid := int64(1000), int64(3000)
	id, err := r.CreateContainer(ctx, sb, container.ContainerConfig{
		Name: "app", Image: img, Args: []string{"sleep"},
		Resources: container.Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimitBytes: 64 << 20, PidsLimit: 100, OOMScoreAdj: 500},
		Security: container.SecurityConfig{RunAsUser: &uid, RunAsGroup: &gid, SupplementalGroups: []int64{4000},
			ReadOnlyRootfs: true, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}, NoNewPrivileges: true, Seccomp: "unconfined"},
		Mounts: []container.Mount{{Type: container.MountTmpfs, Target: "/tmp", SizeBytes: 1 << 20}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.api.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	h := c.HostConfig
	if h.Memory != 64<<20 || h.MemorySwap != 64<<20 || h.CPUShares != 512 || h.CPUQuota != 50000 || h.CPUPeriod != 100000 ||
		h.PidsLimit == nil || *h.PidsLimit != 100 || h.OomScoreAdj != 500 {
		t.Errorf("resources = memory %d swap %d shares %d quota %d period %d pids %v oom %d", h.Memory, h.MemorySwap, h.CPUShares,
			h.CPUQuota, h.CPUPeriod, h.PidsLimit, h.OomScoreAdj)
	}
	if c.Config.User != "1000:3000" || !slices.Equal(h.GroupAdd, []string{"4000"}) || !h.ReadonlyRootfs || h.Privileged ||
		!(slices.Equal(h.CapAdd, []string{"NET_ADMIN"}) || slices.Equal(h.CapAdd, []string{"CAP_NET_ADMIN"})) || !slices.Equal(h.CapDrop, []string{"ALL"}) ||
		!slices.Contains(h.SecurityOpt, "no-new-privileges") || !slices.Contains(h.SecurityOpt, "seccomp=unconfined") {
		t.Errorf("security = user %q groups %v ro %v priv %v add %v drop %v opts %v", c.Config.User, h.GroupAdd, h.ReadonlyRootfs,
			h.Privileged, h.CapAdd, h.CapDrop, h.SecurityOpt)
	}
	if len(h.Mounts) != 1 || h.Mounts[0].Target != "/tmp" || h.Mounts[0].TmpfsOptions.SizeBytes != 1<<20 {
		t.Errorf("mounts = %+v", h.Mounts)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	code, err := r.Exec(ctx, id, []string{"/testimage", "cat", "/proc/self/status"}, container.Streams{Stdout: &out})
	if err != nil || code != 0 {
		t.Fatalf("exec: %d %v", code, err)
	}
	for _, want := range []string{"Uid:\t1000\t", "Gid:\t3000\t", "NoNewPrivs:\t1", "CapBnd:\t0000000000001000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("/proc/self/status lacks %q:\n%s", want, out.String())
		}
	}
}

// TestOOMFromEvents checks the fallback for Docker's OOMKilled race: the
// daemon's "oom" event is found for a container the kernel OOM-killed, and
// not for one SIGKILLed by a stop.
func TestOOMFromEvents(t *testing.T) {
	img := testImage(t)
	r := newTestRuntime(t)
	ctx := t.Context()
	sb := runSandbox(t, r, container.SandboxConfig{
		Pod:     container.PodRef{Name: "oom", Namespace: "ct", UID: randomHex(8)},
		Network: container.SandboxNetwork{HostNetwork: true},
	})
	start := func(name string, args ...string) string {
		id, err := r.CreateContainer(ctx, sb, container.ContainerConfig{Name: name, Image: img, Args: args,
			Resources: container.Resources{MemoryLimitBytes: 32 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	exited := func(id string) container.ContainerStatus { return waitExited(t, r, id) }

	hog := start("hog", "oom")
	st := exited(hog)
	oom, err := r.oomKilledLate(ctx, hog, st.StartedAt, st.FinishedAt)
	if err != nil || !oom {
		t.Errorf("oom event of an OOM-killed container: %v, %v; want true", oom, err)
	}

	stubborn := start("stubborn", "ignore-term")
	// Stop it only once it handles SIGTERM, so that the kill is what
	// ends it (a signal during the program's start-up ends it otherwise).
	deadline := time.Now().Add(30 * time.Second)
	for {
		rc, err := r.ContainerLogs(ctx, stubborn, container.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(out), "ignoring SIGTERM") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stubborn container printed %q, not yet ignoring SIGTERM", out)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if err := r.StopContainer(ctx, stubborn, 0); err != nil {
		t.Fatal(err)
	}
	if st := exited(stubborn); st.ExitCode != 137 || st.Reason != container.ReasonError {
		t.Errorf("a container killed by a stop: %d %s, want 137 %s", st.ExitCode, st.Reason, container.ReasonError)
	}
}

// TestHostPort checks a hostPort: the node's port reaches the pod's.
func TestHostPort(t *testing.T) {
	img := testImage(t)
	r := newTestRuntime(t)
	netw := testNetwork(t, r)
	ctx := t.Context()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sb := runSandbox(t, r, container.SandboxConfig{
		Pod:      container.PodRef{Name: "hp", Namespace: "ct", UID: randomHex(8)},
		Hostname: "hp",
		Network:  container.SandboxNetwork{Network: netw.Name, IP: nthIP(netw.Subnet, 10)},
		Ports:    []container.PortMapping{{ContainerPort: 8080, HostPort: hostPort, HostIP: "127.0.0.1"}, {ContainerPort: 9090}},
	})
	if v, err := r.Version(ctx); err != nil || !strings.HasPrefix(v, "docker://") {
		t.Errorf("Version = %q, %v", v, err)
	}
	id, err := r.CreateContainer(ctx, sb, container.ContainerConfig{Name: "web", Image: img, Args: []string{"serve", "8080"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", hostPort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "hello from hp") {
				t.Errorf("GET %s = %q", url, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The sandbox Docker attached (it owns port publishing) and one the
	// runtime plumbed share the network.
	if c, err := r.api.ContainerInspect(ctx, sb); err != nil || c.Config.NetworkDisabled || c.Config.Labels[labelPlumbed] != "" {
		t.Fatalf("a sandbox with a hostPort is not Docker's (%v)", err)
	}
	other := runSandbox(t, r, container.SandboxConfig{
		Pod:     container.PodRef{Name: "peer", Namespace: "ct", UID: randomHex(8)},
		Network: container.SandboxNetwork{Network: netw.Name, IP: nthIP(netw.Subnet, 11)},
	})
	get, err := r.CreateContainer(ctx, other, container.ContainerConfig{Name: "get", Image: img, Args: []string{"get", "http://" + nthIP(netw.Subnet, 10) + ":8080/"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, get); err != nil {
		t.Fatal(err)
	}
	st := waitExited(t, r, get)
	if logs := containerLogs(t, r, get); st.ExitCode != 0 || !strings.Contains(logs, "hello from hp") {
		t.Errorf("a plumbed pod reaching the Docker-attached one: exit %d, output %q", st.ExitCode, logs)
	}
}

// runSandbox runs a sandbox for the test and removes it when the test ends.
func runSandbox(t *testing.T, r *Runtime, cfg container.SandboxConfig) string {
	t.Helper()
	sb, err := r.RunSandbox(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.RemoveSandbox(context.Background(), sb); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return sb
}

// waitExited waits up to 30 s for container id to exit.
func waitExited(t *testing.T, r *Runtime, id string) container.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := r.ContainerStatus(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == container.ContainerExited {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s", id, st.State)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// containerLogs returns a container's output so far.
func containerLogs(t *testing.T, r *Runtime, id string) string {
	t.Helper()
	rc, err := r.ContainerLogs(t.Context(), id, container.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
