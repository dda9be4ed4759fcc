package embedetcd

import (
	"log/slog"
	"strings"
	"time"
)

// Config configures one embedded etcd member.
type Config struct {
	// DataDir holds the member's write-ahead log, snapshots and database.
	// It is created (mode 0700) if missing. Required. Starting again on the
	// same DataDir resumes with all data.
	DataDir string
	// Name is the member name (default "default"). Changing it for an
	// existing DataDir is not supported.
	Name string
	// ClientURL, when set (e.g. "http://127.0.0.1:2379"), also serves the
	// etcd client API there, for external clients and tools. Port 0 picks a
	// free port; ClientEndpoints reports the bound address (the member
	// still advertises port 0, so clients must not discover endpoints
	// through the cluster's member list). Empty: no TCP
	// client listener is opened, and the in-process client Start returns is
	// the only way in.
	ClientURL string
	// PeerURL is the raft peer URL the member listens on and advertises
	// (default "http://127.0.0.1:0"). Port 0 lets the kernel pick a free
	// port, so any number of members can run in one process; the advertised
	// URL then keeps port 0, which is fine for a single member but not for
	// one that others must reach: set a real host:port before building a
	// multi-member cluster.
	PeerURL string
	// CompactionInterval is the history kept for watches and paged lists:
	// etcd's periodic auto-compaction discards revisions older than this
	// (checked every tenth of it). Default 5m, as Kubernetes uses. Zero
	// keeps the default; negative disables auto-compaction.
	CompactionInterval time.Duration
	// QuotaBackendBytes caps the database size (default 2 GiB); beyond it
	// etcd refuses writes until space is freed.
	QuotaBackendBytes int64
	// SnapshotCount is the number of applied raft entries between snapshots
	// (default 2000). etcd keeps the entries since the last snapshot in
	// memory, so a smaller value lowers memory use at the cost of more
	// frequent (cheap, for a single member) snapshots.
	SnapshotCount uint64
	// HeartbeatInterval is the raft tick (default 10ms) and ElectionTimeout
	// the time without a leader before a member campaigns (default 100ms,
	// at least 5 ticks). A single member elects itself within one
	// ElectionTimeout of starting, so short values make start-up fast; a
	// cluster across machines wants etcd's defaults, 100ms and 1s.
	HeartbeatInterval time.Duration
	ElectionTimeout   time.Duration
	// LogLevel is the least severe etcd log line passed on to the logger:
	// "debug", "info", "warn" or "error" (default, and when empty, "warn":
	// etcd logs a great deal at info).
	LogLevel string
	// UnsafeNoFsync skips fsync of the write-ahead log and database. Data
	// written shortly before a crash or power loss is lost. Tests only.
	UnsafeNoFsync bool
}

// DefaultConfig returns the settings for a single-member, low-memory etcd.
// DataDir is left empty: the caller chooses it.
func DefaultConfig() Config {
	return Config{
		Name:               "default",
		PeerURL:            "http://127.0.0.1:0",
		CompactionInterval: 5 * time.Minute,
		QuotaBackendBytes:  2 << 30,
		SnapshotCount:      2000,
		HeartbeatInterval:  10 * time.Millisecond,
		ElectionTimeout:    100 * time.Millisecond,
		LogLevel:           "warn",
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.PeerURL == "" {
		c.PeerURL = d.PeerURL
	}
	if c.CompactionInterval == 0 {
		c.CompactionInterval = d.CompactionInterval
	}
	if c.QuotaBackendBytes == 0 {
		c.QuotaBackendBytes = d.QuotaBackendBytes
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = d.HeartbeatInterval
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = d.ElectionTimeout
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = d.SnapshotCount
	}
	return c
}

// logLevel parses LogLevel; unknown values mean warn.
func (c Config) logLevel() slog.Level {
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "error":
		return slog.LevelError
	default:
		return slog.LevelWarn
	}
}
