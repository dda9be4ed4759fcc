package testcluster

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/container/fake"
)

// Agent is a node agent running in the test process on a fake runtime.
type Agent struct {
	// Name is the node's name.
	Name string
	// Runtime is the node's fake container runtime: add images to it, make
	// containers exit, OOM-kill them.
	Runtime *fake.Runtime
	// Config is the agent's configuration, for restarts.
	Config agent.Config

	t      testing.TB
	rest   *rest.Config
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

// AgentConfig returns the agent configuration tests start with: timings
// shortened (1 s crash-loop back-off doubling to 4 s, lease of 4 s,
// relist every 100 ms) and probes dialling through the fake runtime.
func AgentConfig(t testing.TB, name string, rt *fake.Runtime) agent.Config {
	cfg := agent.DefaultConfig()
	cfg.NodeName = name
	cfg.StateDir = t.TempDir()
	// Memory-backed volumes of pods still on the node when the test ends
	// stay mounted (as they do when an agent stops): unmount them before
	// the directory is removed (cleanups run last-registered first).
	t.Cleanup(func() {
		if err := agent.UnmountUnder(cfg.StateDir); err != nil {
			t.Error(err)
		}
	})
	cfg.LeaseDuration = 4 * time.Second
	cfg.StatusInterval = 10 * time.Second
	cfg.RelistInterval = 100 * time.Millisecond
	cfg.HousekeepingInterval = 200 * time.Millisecond
	cfg.BackoffBase, cfg.BackoffMax = time.Second, 4*time.Second
	cfg.KubeletVersion = "v1.37.2"
	cfg.StreamingPort = 0
	cfg.DialPod = func(ctx context.Context, pod agent.PodAddress, port int) (net.Conn, error) {
		return rt.DialSandbox(ctx, pod.SandboxID, port)
	}
	return cfg
}

// AddAgent starts a node agent named name on a new fake runtime;
// configure, if not nil, adjusts its configuration. The agent stops when
// the test ends.
func (c *Cluster) AddAgent(t testing.TB, name string, configure func(*agent.Config)) *Agent {
	t.Helper()
	rt := fake.New(fake.Config{})
	cfg := AgentConfig(t, name, rt)
	if configure != nil {
		configure(&cfg)
	}
	cfg.ClientCA = c.Config.CAData
	a := &Agent{Name: name, Runtime: rt, Config: cfg, t: t, rest: c.Config}
	a.Start()
	t.Cleanup(a.Stop)
	return a
}

// Start starts the agent (again, after Stop), on the same runtime.
func (a *Agent) Start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		return
	}
	client, err := kubernetes.NewForConfig(a.rest)
	if err != nil {
		a.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{a.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan error, 1)
	ag := agent.New(a.Config, client, a.Runtime, log)
	done := a.done
	go func() { done <- ag.Run(ctx) }()
}

// Stop stops the agent as a crash would: containers keep running.
func (a *Agent) Stop() {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.cancel = nil
	a.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			a.t.Logf("agent %s: %v", a.Name, err)
		}
	case <-time.After(30 * time.Second):
		a.t.Errorf("agent %s did not stop within 30s", a.Name)
	}
}
