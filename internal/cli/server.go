package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gantry-dev/gantry/internal/logging"
	"github.com/gantry-dev/gantry/internal/memtrim"
	"github.com/gantry-dev/gantry/internal/node"
	"github.com/gantry-dev/gantry/internal/server"
)

const defaultDataDir = "data"

func newServerCommand() *cobra.Command {
	cfg := server.DefaultConfig()
	nodeCfg := node.DefaultConfig()
	var disableAgent bool
	var leaseSeconds int
	logCfg := logging.DefaultConfig()
	trimCfg := memtrim.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (embedded etcd, API server, scheduler, controllers) and a node agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			log := logging.New(logCfg, os.Stderr)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go memtrim.Run(ctx, trimCfg, log)
			srv := server.New(cfg, log)
			if disableAgent {
				return srv.Run(ctx)
			}
			nodeCfg.DataDir = cfg.DataDir
			nodeCfg.Agent.LeaseDuration = time.Duration(leaseSeconds) * time.Second
			nodeCfg.Labels = map[string]string{"node-role.kubernetes.io/control-plane": "true"}
			return runWithAgent(ctx, srv, nodeCfg, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for etcd data, certificates, tokens and the admin kubeconfig")
	f.StringVar(&cfg.BindAddress, "bind-address", cfg.BindAddress, "address the API server listens on")
	f.IntVar(&cfg.Port, "port", cfg.Port, "HTTPS port of the API server")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "use this external etcd cluster instead of the embedded one (comma-separated URLs)")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", cfg.ServiceCIDR, "IPv4 range for Service ClusterIPs")
	f.StringVar(&cfg.NodePortRange, "service-node-port-range", cfg.NodePortRange, "port range for NodePort services")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", cfg.ClusterCIDR, "IPv4 range for pod IPs; each node gets a slice of it as its podCIDR")
	f.IntVar(&cfg.NodeCIDRMaskSize, "node-cidr-mask-size", cfg.NodeCIDRMaskSize, "prefix length of each node's podCIDR")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", cfg.ClusterDomain, "DNS domain of services")
	f.StringVar(&cfg.ClusterDNS, "cluster-dns", cfg.ClusterDNS, "IP of the cluster DNS service (inside --service-cidr)")
	f.DurationVar(&cfg.NodeMonitorGracePeriod, "node-monitor-grace-period", cfg.NodeMonitorGracePeriod, "how long a node may go without renewing its Lease before it becomes Ready=Unknown and is tainted unreachable")
	f.Int64Var(&cfg.DefaultTolerationSeconds, "default-toleration-seconds", cfg.DefaultTolerationSeconds, "how long pods without a toleration of their own stay on a not-ready or unreachable node before they are evicted")
	f.IntVar(&cfg.IngressHTTPPort, "ingress-http-port", cfg.IngressHTTPPort, "HTTP port of the built-in Ingress controller, on --bind-address (0 disables it)")
	f.IntVar(&cfg.IngressHTTPSPort, "ingress-https-port", cfg.IngressHTTPSPort, "HTTPS port of the built-in Ingress controller, on --bind-address (0 disables it)")
	f.BoolVar(&cfg.Profiling, "profiling", cfg.Profiling, "serve Go runtime profiles at /debug/pprof/ to cluster admins (system:masters)")
	f.IntVar(&cfg.ListCacheMiB, "list-cache-mb", cfg.ListCacheMiB, "MiB of encoded list items the API server keeps to answer repeated LISTs without re-encoding (0 disables)")
	f.BoolVar(&disableAgent, "disable-agent", false, "run the control plane only, without a node agent on this machine")
	addNodeFlags(f, &nodeCfg, &leaseSeconds)
	addProcessFlags(f, &trimCfg)
	f.StringVar(&logCfg.Level, "log-level", logCfg.Level, "debug, info, warn or error")
	f.StringVar(&logCfg.Format, "log-format", logCfg.Format, "text or json")
	return cmd
}

// addNodeFlags adds the flags of the node agent.
func addNodeFlags(f *pflag.FlagSet, cfg *node.Config, leaseSeconds *int) {
	f.StringVar(&cfg.NodeName, "node-name", cfg.NodeName, "name of this machine's Node (default: the hostname)")
	f.StringVar(&cfg.DockerHost, "docker-host", cfg.DockerHost, "Docker Engine address (default: $DOCKER_HOST or unix:///var/run/docker.sock)")
	f.IntVar(leaseSeconds, "node-lease-seconds", int(cfg.Agent.LeaseDuration/time.Second), "duration of the node's Lease; it is renewed every quarter of it")
	f.IntVar(&cfg.Agent.StreamingPort, "agent-port", cfg.Agent.StreamingPort, "HTTPS port of the agent's logs/exec/port-forward endpoint (the kubelet's 10250)")
}

// addProcessFlags adds the flags that tune the process itself.
func addProcessFlags(f *pflag.FlagSet, trim *memtrim.Config) {
	f.DurationVar(&trim.Interval, "memory-trim-interval", trim.Interval, "while idle, return the Go heap's free memory to the system this often (0: leave it to the Go runtime)")
}

// runWithAgent runs the control plane and, once it is ready, a node agent
// in the same process. Either one failing stops both.
func runWithAgent(ctx context.Context, srv *server.Server, nodeCfg node.Config, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Run(ctx) }()
	select {
	case err := <-srvErr:
		return err
	case <-srv.Ready():
	}
	nodeErr := make(chan error, 1)
	nodeCfg.ServesEndpoint = srv.IngressServesEndpoint
	go func() { nodeErr <- node.New(nodeCfg, srv.LoopbackConfig(), log).Run(ctx) }()
	select {
	case err := <-srvErr:
		cancel()
		<-nodeErr
		return err
	case err := <-nodeErr:
		if err != nil && ctx.Err() == nil {
			log.Error("node agent stopped; the control plane goes on (restart with --disable-agent to run without one)", "err", err)
		}
		return <-srvErr
	}
}

// applyEnv sets every flag not given on the command line from its
// GANTRY_<FLAG> environment variable (GANTRY_DATA_DIR for --data-dir).
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "GANTRY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = e
			}
		}
	})
	return err
}
