// Package testcluster starts a real Gantry control plane inside a test
// process: embedded etcd in a temporary directory, the API server on
// 127.0.0.1 with a free port, and the controllers. Tests drive it with
// client-go. For tests only.
package testcluster

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantry-dev/gantry/internal/server"
)

// Cluster is a running in-process control plane.
type Cluster struct {
	// Config is an admin client configuration.
	Config *rest.Config
	// Client is a typed admin client.
	Client kubernetes.Interface
	// DataDir holds etcd data, PKI and the admin kubeconfig.
	DataDir string
	// Kubeconfig is the admin kubeconfig path.
	Kubeconfig string
	// URL is the API server's https URL.
	URL string
}

// Options tune Start.
type Options struct {
	// DataDir reuses a directory (restart scenarios); empty: t.TempDir().
	DataDir string
	// DisableControllers runs the API server without controllers.
	DisableControllers bool
	// EtcdEndpoints uses an external etcd instead of the embedded one.
	EtcdEndpoints []string
	// Configure, when set, adjusts the server configuration last, e.g. to
	// shorten controller timings or to shrink the cluster CIDR.
	Configure func(*server.Config)
}

// Start starts a cluster and stops it when the test ends.
func Start(t testing.TB, opts ...Options) *Cluster {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	c, stop := StartUntil(t, o)
	t.Cleanup(stop)
	return c
}

// StartUntil starts a cluster and returns a function that stops it and
// waits for it to shut down (for restart scenarios).
func StartUntil(t testing.TB, o Options) (*Cluster, func()) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = o.DataDir
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.BindAddress = "127.0.0.1"
	cfg.Port = 0
	cfg.EtcdUnsafeNoFsync = true
	cfg.IngressHTTPPort, cfg.IngressHTTPSPort = 0, 0 // never bind 80/443 from tests
	cfg.DisableControllers = o.DisableControllers
	cfg.EtcdEndpoints = o.EtcdEndpoints
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := server.New(cfg, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("server not ready after 60s")
	}
	restCfg := srv.LoopbackConfig()
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30s")
		}
	}
	return &Cluster{Config: restCfg, Client: cs, DataDir: cfg.DataDir, Kubeconfig: srv.KubeconfigPath(), URL: srv.URL()}, stop
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
