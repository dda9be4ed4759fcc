// Package logging sets up log/slog for every component and routes
// client-go's klog output through the same handler.
package logging

import (
	"io"
	"log/slog"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// Config selects the log level and format.
type Config struct {
	// Level is one of debug, info, warn, error.
	Level string
	// Format is "text" or "json".
	Format string
}

// DefaultConfig returns info-level text logging.
func DefaultConfig() Config { return Config{Level: "info", Format: "text"} }

// New returns a logger writing to w and routes klog through it.
func New(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(cfg.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if cfg.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	l := slog.New(h)
	klog.SetLogger(logr.FromSlogHandler(l.With("component", "klog").Handler()))
	return l
}

// Component returns l with the component name set once.
func Component(l *slog.Logger, name string) *slog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return l.With("component", name)
}
