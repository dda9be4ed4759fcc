package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// The Lease the servers of a cluster elect the one running the scheduler
// and the controllers with (kube-controller-manager and kube-scheduler
// each have one; Gantry runs them together).
const (
	leaderLeaseNamespace = "kube-system"
	leaderLeaseName      = "gantry-controllers"
)

// leaderTimings are Kubernetes' defaults (--leader-elect-lease-duration,
// -renew-deadline, -retry-period).
type leaderTimings struct {
	lease, renew, retry time.Duration
}

var defaultLeaderTimings = leaderTimings{lease: 15 * time.Second, renew: 10 * time.Second, retry: 2 * time.Second}

// runElected campaigns for the controllers' Lease as identity until ctx
// ends. While this server leads, lead runs with a context that ends when
// leadership is lost (or ctx ends); lead must return once it has stopped
// everything it started. Leadership is released when ctx ends, so that
// another server takes over at once. A server that restarts with the same
// identity takes its Lease back without waiting for it to expire.
func runElected(ctx context.Context, client kubernetes.Interface, identity string, t leaderTimings, log *slog.Logger, lead func(context.Context)) error {
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, leaderLeaseNamespace, leaderLeaseName,
		client.CoreV1(), client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: identity})
	if err != nil {
		return err
	}
	// client-go runs OnStartedLeading in a goroutine of its own and does
	// not wait for it. It only hands the term's context over here, and
	// lead runs in this goroutine, so that a new campaign, or the return,
	// comes after everything the last term started has stopped.
	cfg := leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   t.lease,
		RenewDeadline:   t.renew,
		RetryPeriod:     t.retry,
		ReleaseOnCancel: true,
		Name:            leaderLeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStoppedLeading: func() {},
			OnNewLeader: func(id string) {
				if id != identity {
					log.Info("another server leads the controllers", "leader", id)
				}
			},
		},
	}
	for ctx.Err() == nil {
		term := make(chan context.Context, 1) // this campaign's only
		cfg.Callbacks.OnStartedLeading = func(lctx context.Context) { term <- lctx }
		le, err := leaderelection.NewLeaderElector(cfg)
		if err != nil {
			return err
		}
		ran := make(chan struct{})
		go func() { defer close(ran); le.Run(ctx) }()
		select {
		case lctx := <-term:
			log.Info("leading: starting the scheduler and controllers", "lease", leaderLeaseNamespace+"/"+leaderLeaseName, "identity", identity)
			lead(lctx) // returns once the term is over and all has stopped
			<-ran
			if ctx.Err() == nil {
				log.Warn("lost the controllers' lease; campaigning again", "identity", identity)
			}
		case <-ran:
			// Not elected before ctx ended, or a term so short that it
			// was over (its context cancelled) before it began here.
		}
	}
	return nil
}

// serverIdentity is this server's name in leader election: the hostname
// and an ID kept in the data directory, so that a restarted server is
// recognised as the same one.
func serverIdentity(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "server-id")
	b, err := os.ReadFile(path)
	id := strings.TrimSpace(string(b))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && id == "") {
		raw := make([]byte, 8)
		if _, err := rand.Read(raw); err != nil {
			return "", err
		}
		id = hex.EncodeToString(raw)
		if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("server id: %w", err)
		}
	} else if err != nil {
		return "", fmt.Errorf("server id: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "gantry"
	}
	return host + "_" + id, nil
}
