package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/controller/gc"
	"github.com/gantry-dev/gantry/internal/controller/namespace"
)

// startControllers builds API clients from cfg and starts the control-plane
// controllers in goroutines, registering their metrics with metrics. It
// returns once they are started; they stop when ctx ends, and wait blocks
// until they have.
func startControllers(ctx context.Context, cfg *rest.Config, reg *api.Registry, metrics prometheus.Registerer, log *slog.Logger) (wait func(), err error) {
	clientConfig := func(name string) *rest.Config {
		c := rest.CopyConfig(cfg)
		if c.QPS == 0 {
			// client-go's default (5 QPS) would make namespace deletion,
			// which walks every resource, take seconds.
			c.QPS, c.Burst = 100, 200
		}
		c.UserAgent = "gantry-controller/" + name
		return c
	}

	mdClient, err := metadata.NewForConfig(clientConfig(gc.Name))
	if err != nil {
		return nil, fmt.Errorf("garbage collector client: %w", err)
	}
	collector, err := gc.New(gc.DefaultConfig(), mdClient, reg, log)
	if err != nil {
		return nil, err
	}

	nsConfig := clientConfig(namespace.Name)
	kube, err := kubernetes.NewForConfig(nsConfig)
	if err != nil {
		return nil, fmt.Errorf("namespace controller client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(nsConfig)
	if err != nil {
		return nil, fmt.Errorf("namespace controller client: %w", err)
	}
	namespaces, err := namespace.New(namespace.DefaultConfig(), kube, dyn, reg, log)
	if err != nil {
		return nil, err
	}

	for _, c := range append(collector.Controller().Collectors(), namespaces.Controller().Collectors()...) {
		if err := metrics.Register(c); err != nil {
			return nil, fmt.Errorf("controller metrics: %w", err)
		}
	}
	var wg sync.WaitGroup
	for name, run := range map[string]func(context.Context) error{
		gc.Name:        collector.Run,
		namespace.Name: namespaces.Run,
	} {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				log.Error("controller stopped", "controller", name, "err", err)
			}
		})
	}
	return wg.Wait, nil
}
