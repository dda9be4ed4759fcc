package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/internal/logging"
	"github.com/gantry-dev/gantry/internal/memtrim"
	"github.com/gantry-dev/gantry/internal/node"
)

// newAgentCommand runs a node agent that joins a cluster with a join token.
func newAgentCommand() *cobra.Command {
	cfg := node.DefaultConfig()
	var leaseSeconds int
	logCfg := logging.DefaultConfig()
	trimCfg := memtrim.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "agent --server URL --token TOKEN",
		Short: "Join a cluster as a node and run its pods on Docker Engine",
		Long: "Join the cluster at --server as a node. The join token is in the server's DATA_DIR/join-token;\n" +
			"the node's credentials are kept in DATA_DIR/agent/<node>/kubeconfig.yaml, so later starts need no token.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			cfg.Agent.LeaseDuration = time.Duration(leaseSeconds) * time.Second
			log := logging.New(logCfg, os.Stderr)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go memtrim.Run(ctx, trimCfg, log)
			return node.New(cfg, nil, log).Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Server, "server", "", "https URL of the API server to join")
	f.StringVar(&cfg.Token, "token", "", "join token (<ca-sha256>::<secret>) from the server's DATA_DIR/join-token; needed only for the first start")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the node's credentials, pod volumes and runtime files")
	f.StringToStringVar(&cfg.Labels, "node-labels", nil, "labels added to the Node (key=value,…)")
	addNodeFlags(f, &cfg, &leaseSeconds)
	addProcessFlags(f, &trimCfg)
	f.StringVar(&logCfg.Level, "log-level", logCfg.Level, "debug, info, warn or error")
	f.StringVar(&logCfg.Format, "log-format", logCfg.Format, "text or json")
	return cmd
}
