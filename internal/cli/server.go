package cli

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gantry-dev/gantry/internal/logging"
	"github.com/gantry-dev/gantry/internal/server"
)

const defaultDataDir = "data"

func newServerCommand() *cobra.Command {
	cfg := server.DefaultConfig()
	logCfg := logging.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (embedded etcd, API server, controllers)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			log := logging.New(logCfg, os.Stderr)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return server.New(cfg, log).Run(ctx)
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
	f.StringVar(&logCfg.Level, "log-level", logCfg.Level, "debug, info, warn or error")
	f.StringVar(&logCfg.Format, "log-format", logCfg.Format, "text or json")
	return cmd
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
