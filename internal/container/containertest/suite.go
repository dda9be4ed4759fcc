package containertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
)

// Options configure a suite run.
type Options struct {
	// TestImage is an image present in every runtime whose entrypoint is
	// the testimage program. Required.
	TestImage string
	// Network is the pod network the suite's sandboxes use. The suite
	// ensures it, hands out IPs from its subnet (from .10 up) and removes
	// it when done. Required.
	Network container.NetworkConfig
	// Reconnect returns a second client of rt's runtime serving the same
	// node, as an agent gets after a restart. Nil reuses rt.
	Reconnect func(t *testing.T, rt container.Runtime) container.Runtime
	// Timeout bounds every wait for a condition; 0 means 30 s.
	Timeout time.Duration
}

// suite is shared by the subtests of one Run.
type suite struct {
	opts   Options
	newRT  func(t *testing.T) container.Runtime
	base   netip.Addr
	nextIP atomic.Int32
}

// Run runs the conformance suite. newRuntime returns a runtime scoped to
// one subtest (see the package documentation).
func Run(t *testing.T, newRuntime func(t *testing.T) container.Runtime, opts Options) {
	if opts.TestImage == "" || opts.Network.Name == "" {
		t.Fatal("containertest: Options.TestImage and Options.Network are required")
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	prefix, err := netip.ParsePrefix(opts.Network.Subnet)
	if err != nil {
		t.Fatalf("containertest: subnet: %v", err)
	}
	s := &suite{opts: opts, newRT: newRuntime, base: prefix.Masked().Addr()}
	s.nextIP.Store(9)

	rt := newRuntime(t)
	if _, err := rt.EnsureNetwork(t.Context(), opts.Network); err != nil {
		t.Fatalf("EnsureNetwork: %v", err)
	}
	t.Cleanup(func() {
		if err := rt.RemoveNetwork(context.Background(), opts.Network.Name); err != nil {
			t.Errorf("RemoveNetwork: %v", err)
		}
	})

	tests := []struct {
		name string
		fn   func(*testing.T, *harness)
	}{
		{"Network", testNetwork},
		{"SandboxLifecycle", testSandboxLifecycle},
		{"SandboxErrors", testSandboxErrors},
		{"HostNetwork", testHostNetwork},
		{"HostnameDNSHosts", testHostnameDNSHosts},
		{"SharedNetwork", testSharedNetwork},
		{"ExitCodes", testExitCodes},
		{"CannotRun", testCannotRun},
		{"ContainerLifecycle", testContainerLifecycle},
		{"StopGrace", testStopGrace},
		{"StopSandboxKills", testStopSandboxKills},
		{"MissingImage", testMissingImage},
		{"EnvAndMounts", testEnvAndMounts},
		{"Logs", testLogs},
		{"LogsFollow", testLogsFollow},
		{"Exec", testExec},
		{"Attach", testAttach},
		{"PortForward", testPortForward},
		{"Stats", testStats},
		{"OOMKilled", testOOMKilled},
		{"Adoption", testAdoption},
		{"StartAll", testStartAll},
	}
	t.Run("group", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tt.fn(t, s.harness(t))
			})
		}
	})
}

// harness is one subtest's runtime and helpers.
type harness struct {
	t       *testing.T
	s       *suite
	rt      container.Runtime
	network container.Network
}

// harness returns a subtest's harness with its own runtime, on which the
// suite's network is ensured (the runtimes of a Docker daemon share it, the
// fakes each have their own).
func (s *suite) harness(t *testing.T) *harness {
	h := &harness{t: t, s: s, rt: s.newRT(t)}
	var err error
	if h.network, err = h.rt.EnsureNetwork(t.Context(), s.opts.Network); err != nil {
		t.Fatalf("EnsureNetwork: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sbs, err := h.rt.ListSandboxes(ctx, container.SandboxFilter{})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, sb := range sbs {
			if err := h.rt.RemoveSandbox(ctx, sb.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return h
}

func (h *harness) ctx() context.Context { return h.t.Context() }

// ip returns an unused address of the suite's network.
func (h *harness) ip() string {
	a := h.s.base.As4()
	n := h.s.nextIP.Add(1)
	a[2] += byte(n >> 8)
	a[3] += byte(n)
	return netip.AddrFrom4(a).String()
}

// pod returns a fresh pod identity.
func (h *harness) pod(name string) container.PodRef {
	b := make([]byte, 8)
	rand.Read(b)
	return container.PodRef{Name: name, Namespace: "ct", UID: hex.EncodeToString(b)}
}

// sandboxConfig returns a pod-network sandbox config for a new pod.
func (h *harness) sandboxConfig(name string) container.SandboxConfig {
	return container.SandboxConfig{
		Pod:      h.pod(name),
		Hostname: name,
		Network:  container.SandboxNetwork{Network: h.s.opts.Network.Name, IP: h.ip()},
	}
}

func (h *harness) runSandbox(cfg container.SandboxConfig) string {
	h.t.Helper()
	id, err := h.rt.RunSandbox(h.ctx(), cfg)
	if err != nil {
		h.t.Fatalf("RunSandbox: %v", err)
	}
	return id
}

// sandbox runs a sandbox for a new pod named name.
func (h *harness) sandbox(name string) string {
	h.t.Helper()
	return h.runSandbox(h.sandboxConfig(name))
}

// ctr returns a test-image container config running args.
func (h *harness) ctr(name string, args ...string) container.ContainerConfig {
	return container.ContainerConfig{Name: name, Image: h.s.opts.TestImage, Args: args}
}

func (h *harness) create(sb string, cfg container.ContainerConfig) string {
	h.t.Helper()
	id, err := h.rt.CreateContainer(h.ctx(), sb, cfg)
	if err != nil {
		h.t.Fatalf("CreateContainer %s: %v", cfg.Name, err)
	}
	return id
}

// run creates and starts a container.
func (h *harness) run(sb string, cfg container.ContainerConfig) string {
	h.t.Helper()
	id := h.create(sb, cfg)
	if err := h.rt.StartContainer(h.ctx(), id); err != nil {
		h.t.Fatalf("StartContainer %s: %v", cfg.Name, err)
	}
	return id
}

// eventually polls cond until it returns "" or the suite's timeout ends.
func (h *harness) eventually(what string, cond func() string) {
	h.t.Helper()
	deadline := time.Now().Add(h.s.opts.Timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not within %v: %s", what, h.s.opts.Timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) status(id string) container.ContainerStatus {
	h.t.Helper()
	st, err := h.rt.ContainerStatus(h.ctx(), id)
	if err != nil {
		h.t.Fatalf("ContainerStatus: %v", err)
	}
	return st
}

// waitState waits until container id is in state.
func (h *harness) waitState(id string, state container.ContainerState) container.ContainerStatus {
	h.t.Helper()
	var st container.ContainerStatus
	h.eventually("container "+string(state), func() string {
		st = h.status(id)
		if st.State != state {
			return fmt.Sprintf("state %s (%s %s), logs: %q", st.State, st.Reason, st.Message, h.logs(id, container.LogOptions{}))
		}
		return ""
	})
	return st
}

// logs returns a container's output so far.
func (h *harness) logs(id string, opts container.LogOptions) string {
	h.t.Helper()
	rc, err := h.rt.ContainerLogs(h.ctx(), id, opts)
	if err != nil {
		h.t.Fatalf("ContainerLogs: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		h.t.Fatalf("ContainerLogs: read: %v", err)
	}
	return string(b)
}

// waitLogs waits until the output contains want.
func (h *harness) waitLogs(id, want string) {
	h.t.Helper()
	h.eventually(fmt.Sprintf("logs containing %q", want), func() string {
		if got := h.logs(id, container.LogOptions{}); !strings.Contains(got, want) {
			return fmt.Sprintf("logs %q", got)
		}
		return ""
	})
}

// exec runs the test program in a container.
func (h *harness) exec(id string, stdin io.Reader, args ...string) (int, string, string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	code, err := h.rt.Exec(h.ctx(), id, append([]string{"/testimage"}, args...), container.Streams{Stdin: stdin, Stdout: &out, Stderr: &errb})
	if err != nil {
		h.t.Fatalf("Exec %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// wantErr fails unless err wraps class.
func wantErr(t *testing.T, what string, err, class error) {
	t.Helper()
	if !errors.Is(err, class) {
		t.Errorf("%s: error %v, want %v", what, err, class)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
