package embedetcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("embedetcd: closed")

// Etcd is one embedded etcd member. See the package documentation.
type Etcd struct {
	cfg Config
	log *slog.Logger

	closing atomic.Bool // demotes etcd's shutdown noise in its log

	mu     sync.Mutex
	lock   *fileutil.LockedFile // held on DataDir/lockFile while running
	srv    *embed.Etcd
	client *clientv3.Client
	closed bool
}

// New returns a member configured by cfg; it does no I/O. Zero fields of
// cfg take their DefaultConfig values. log receives etcd's own log lines at
// cfg.LogLevel or above; nil discards them.
func New(cfg Config, log *slog.Logger) *Etcd {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Etcd{cfg: cfg.withDefaults(), log: log}
}

// Start starts the member and blocks until it serves requests, ctx ends or
// start-up fails. It returns an in-process client, owned by e and closed
// by Close, that needs no network listener. Start may be called once.
func (e *Etcd) Start(ctx context.Context) (*clientv3.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return nil, ErrClosed
	case e.srv != nil:
		return nil, errors.New("embedetcd: already started")
	case e.cfg.DataDir == "":
		return nil, errors.New("embedetcd: Config.DataDir is required")
	}
	e.closing.Store(false)
	ec, err := e.embedConfig()
	if err != nil {
		return nil, err
	}
	lock, err := lockDataDir(e.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	srv, err := embed.StartEtcd(ec)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("embedetcd: start member %q in %s: %w", e.cfg.Name, e.cfg.DataDir, err)
	}
	fail := func(err error) (*clientv3.Client, error) {
		e.closing.Store(true)
		srv.Close()
		lock.Close()
		return nil, err
	}
	select {
	case <-srv.Server.ReadyNotify():
	case err := <-srv.Err():
		return fail(fmt.Errorf("embedetcd: member %q failed while starting: %w", e.cfg.Name, err))
	case <-srv.Server.StopNotify():
		return fail(fmt.Errorf("embedetcd: member %q stopped while starting", e.cfg.Name))
	case <-ctx.Done():
		return fail(fmt.Errorf("embedetcd: waiting for member %q to be ready: %w", e.cfg.Name, ctx.Err()))
	}
	e.srv, e.lock = srv, lock
	e.client = v3client.New(srv.Server)
	return e.client, nil
}

// embedConfig translates e.cfg into etcd's configuration.
func (e *Etcd) embedConfig() (*embed.Config, error) {
	cfg := e.cfg
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.DataDir

	peer, err := url.Parse(cfg.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: PeerURL %q: %w", cfg.PeerURL, err)
	}
	ec.ListenPeerUrls = []url.URL{*peer}
	ec.AdvertisePeerUrls = []url.URL{*peer}
	ec.InitialCluster = ec.InitialClusterFromName(cfg.Name)

	// No client listener unless asked for: the in-process client needs none.
	ec.ListenClientUrls, ec.AdvertiseClientUrls = nil, nil
	if cfg.ClientURL != "" {
		client, err := url.Parse(cfg.ClientURL)
		if err != nil {
			return nil, fmt.Errorf("embedetcd: ClientURL %q: %w", cfg.ClientURL, err)
		}
		ec.ListenClientUrls = []url.URL{*client}
		ec.AdvertiseClientUrls = []url.URL{*client}
	}

	// Memory: etcd keeps the raft entries since the last snapshot, plus
	// SnapshotCatchUpEntries after it, in memory.
	ec.SnapshotCount = cfg.SnapshotCount
	ec.SnapshotCatchUpEntries = max(cfg.SnapshotCount/2, 1)
	ec.QuotaBackendBytes = cfg.QuotaBackendBytes
	ec.Metrics = "basic"

	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "0" // disabled
	if cfg.CompactionInterval > 0 {
		ec.AutoCompactionRetention = cfg.CompactionInterval.String()
	}
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	ec.TickMs = uint(cfg.HeartbeatInterval.Milliseconds())
	ec.ElectionMs = uint(cfg.ElectionTimeout.Milliseconds())

	ec.Logger = "zap"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(e.log, cfg.logLevel(), &e.closing))
	return ec, nil
}

// ClientEndpoints returns the URLs the client listener is bound to (with
// the real port when ClientURL asked for port 0), or nil when ClientURL is
// empty or the member is not running.
func (e *Etcd) ClientEndpoints() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil || e.closed {
		return nil
	}
	scheme := "http"
	if u, err := url.Parse(e.cfg.ClientURL); err == nil && u.Scheme != "" {
		scheme = u.Scheme
	}
	var eps []string
	for _, l := range e.srv.Clients {
		eps = append(eps, scheme+"://"+l.Addr().String())
	}
	return eps
}

// Close stops the member and closes the client Start returned. It is
// idempotent and safe to call before Start.
func (e *Etcd) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.closed = true
	e.closing.Store(true)
	if e.client != nil {
		e.client.Close()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if e.lock != nil {
		e.lock.Close()
	}
}

// lockFile, in DataDir, is locked while a member runs there. etcd itself
// would wait forever for its database lock if another member (in this
// process or another) had the directory open.
const lockFile = "gantry.lock"

// lockDataDir creates dir if needed and takes its lock without waiting.
func lockDataDir(dir string) (*fileutil.LockedFile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedetcd: cannot access data directory: %w", err)
	}
	l, err := fileutil.TryLockFile(filepath.Join(dir, lockFile), os.O_WRONLY|os.O_CREATE, 0o600)
	if errors.Is(err, fileutil.ErrLocked) {
		return nil, fmt.Errorf("embedetcd: data directory %s is in use by another etcd member", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("embedetcd: lock data directory: %w", err)
	}
	return l, nil
}
