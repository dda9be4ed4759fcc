package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantry-dev/gantry/internal/scheduler"
)

// newScheduler builds the scheduler with its own client (unthrottled, as
// clientConfig keeps the loopback's QPS -1) and the controllers' informer
// factory, and registers its metrics. It returns the scheduler's Run.
func newScheduler(clientConfig func(name string) *rest.Config, factory informers.SharedInformerFactory, metrics prometheus.Registerer, log *slog.Logger) (func(context.Context) error, error) {
	kube, err := kubernetes.NewForConfig(clientConfig("scheduler"))
	if err != nil {
		return nil, fmt.Errorf("scheduler client: %w", err)
	}
	s, err := scheduler.New(scheduler.DefaultConfig(), kube, factory, log)
	if err != nil {
		return nil, err
	}
	for _, c := range s.Collectors() {
		if err := register(metrics, c); err != nil {
			return nil, fmt.Errorf("scheduler metrics: %w", err)
		}
	}
	return s.Run, nil
}
