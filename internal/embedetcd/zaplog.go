package embedetcd

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger returns a zap logger that forwards entries at or above min
// to log. etcd logs through zap; this keeps its output in the same slog
// handler as the rest of the process and drops its chatty info lines.
// While closing is set, every line is demoted to debug: etcd reports its
// own shutdown (closed listeners, aborted version updates) as warnings and
// errors.
func newZapLogger(log *slog.Logger, min slog.Level, closing *atomic.Bool) *zap.Logger {
	return zap.New(&slogCore{handler: log.Handler(), min: min, closing: closing})
}

// expected lists warnings etcd logs on every start of a single, embedded
// member with the settings this package chooses; they are demoted to
// debug. Log lines carry no error values to match on, so this is the one
// place that matches etcd's message text.
var expected = map[string]bool{
	"Running http and grpc server on single port. This is not recommended for production.":                                                                          true,
	"it isn't recommended to use default name, please set a value for --name. Note that etcd might run into issue when multiple members have the same default name": true,
	"simple token is not cryptographically signed": true,
	// On a fresh member etcd's version monitor runs before the first raft
	// term is written ("missing term information") and retries by itself.
	"Failed to detect schema version":  true,
	"failed to update storage version": true,
}

// slogCore is a zapcore.Core writing to a slog.Handler.
type slogCore struct {
	handler slog.Handler
	min     slog.Level
	closing *atomic.Bool
}

var _ zapcore.Core = (*slogCore)(nil)

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default: // error, dpanic, panic, fatal
		return slog.LevelError
	}
}

func (c *slogCore) enabled(lvl slog.Level) bool {
	return lvl >= c.min && c.handler.Enabled(context.Background(), lvl)
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return c.enabled(slogLevel(l)) }

// level is the slog level e is logged at.
func (c *slogCore) level(e zapcore.Entry) slog.Level {
	if expected[e.Message] || c.closing.Load() {
		return slog.LevelDebug
	}
	return slogLevel(e.Level)
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{handler: c.handler.WithAttrs(attrs(fields)), min: c.min, closing: c.closing}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.enabled(c.level(e)) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, c.level(e), e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(attrs(fields)...)
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	return c.handler.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

// attrs encodes zap fields into slog attributes, in key order.
func attrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		out = append(out, slog.Any(k, enc.Fields[k]))
	}
	return out
}
