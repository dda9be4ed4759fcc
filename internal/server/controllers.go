package server

import (
	"context"
	"log/slog"

	"k8s.io/client-go/rest"

	"github.com/gantry-dev/gantry/internal/api"
)

// startControllers starts the control-plane controllers. Placeholder until
// the garbage collector and namespace controller land.
func startControllers(ctx context.Context, cfg *rest.Config, reg *api.Registry, log *slog.Logger) error {
	return nil
}
