// Package node is the per-machine composition root: it connects to the
// API server, builds the container runtime (Docker Engine) and runs the
// node agent with, once the pod network is up, the service proxy
// (internal/proxy) and the cluster DNS server (internal/clusterdns).
// `gantry server` runs one in-process unless --disable-agent
// is given; `gantry agent` runs one on its own.
package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/container"
	"github.com/gantry-dev/gantry/internal/container/docker"
	"github.com/gantry-dev/gantry/internal/version"
)

// Config configures a node.
type Config struct {
	// NodeName is the node's name; empty uses the hostname.
	NodeName string
	// DataDir holds the node's state (pod volumes, runtime files).
	DataDir string
	// DockerHost is the Docker daemon's address; empty uses DOCKER_HOST or
	// the local socket.
	DockerHost string
	// Server and Token join the node to a cluster when it has no client
	// configuration of its own (New with a nil rest.Config): the API
	// server's https URL and the join token ("<ca-sha256>::<secret>",
	// DATA_DIR/join-token on the server). The credentials are kept in
	// DataDir/agent/<node>/kubeconfig.yaml; later starts reuse them.
	Server string
	Token  string
	// Labels are added to the Node.
	Labels map[string]string
	// ServesEndpoint, if set, reports whether another in-process component
	// (the server's ingress) still sends new connections to an IP as a
	// ready endpoint: the drain before a pod's SIGTERM waits for it too.
	ServesEndpoint func(netip.Addr) bool
	// Agent tunes the agent; NodeName, StateDir and KubeletVersion are
	// filled in from the fields above.
	Agent agent.Config
}

// DefaultConfig returns the defaults of `gantry agent`.
func DefaultConfig() Config {
	return Config{DataDir: "data", Agent: agent.DefaultConfig()}
}

// Node is a running node.
type Node struct {
	cfg  Config
	rest *rest.Config
	log  *slog.Logger
}

// New returns a node that talks to the API server with rc, or, if rc is
// nil, joins with cfg.Server and cfg.Token when it runs. It does no I/O.
func New(cfg Config, rc *rest.Config, log *slog.Logger) *Node {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Node{cfg: cfg, rest: rc, log: log}
}

// Run runs the node until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	name := n.cfg.NodeName
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w", err)
		}
		name = strings.ToLower(h)
	}
	dataDir, err := filepath.Abs(n.cfg.DataDir)
	if err != nil {
		return err
	}
	rc := n.rest
	if rc == nil {
		if rc, err = n.joinedConfig(ctx, name, dataDir); err != nil {
			return err
		}
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "gantry-agent/" + version.Version
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("node: client: %w", err)
	}
	rt, err := docker.New(docker.Config{
		Host:     n.cfg.DockerHost,
		Node:     name,
		StateDir: filepath.Join(dataDir, "runtime", name),
	}, n.log.With("component", "docker"))
	if err != nil {
		return fmt.Errorf("node: docker: %w", err)
	}
	defer rt.Close()
	if err := rt.Ping(ctx); err != nil {
		return fmt.Errorf("node: Docker Engine is not reachable (is it running? --docker-host): %w", err)
	}
	acfg := n.cfg.Agent
	acfg.NodeName = name
	acfg.StateDir = filepath.Join(dataDir, "agent", name)
	acfg.ClientCA = rc.CAData
	acfg.KubeletVersion = "v" + strings.TrimPrefix(version.KubernetesVersion, "v")
	if acfg.Labels == nil {
		acfg.Labels = map[string]string{}
	}
	for k, v := range n.cfg.Labels {
		acfg.Labels[k] = v
	}
	// The service proxy and cluster DNS start once the agent has the pod
	// network; the agent waits for the proxy before stopping a deleted
	// pod's containers.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One factory for the agent's, the proxy's and DNS's unfiltered
	// watches, so that Services and EndpointSlices are watched and cached
	// once on this node, not once per component.
	shared := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(api.DropManagedFields))
	defer func() {
		cancel() // Shutdown waits for the informers, which stop with ctx
		shared.Shutdown()
	}()
	acfg.Informers = shared
	svcs := &services{node: name, client: client, informers: shared, log: n.log}
	if n.cfg.ServesEndpoint != nil {
		svcs.extra = append(svcs.extra, n.cfg.ServesEndpoint)
	}
	acfg.OnNetwork = func(nw container.Network, s api.ClusterSettings) { svcs.start(ctx, nw, s) }
	acfg.DrainEndpoints = svcs.drain
	err = agent.New(acfg, client, rt, n.log).Run(ctx)
	cancel()
	svcs.wait()
	return err
}
