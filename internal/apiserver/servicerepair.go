package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/gantry-dev/gantry/internal/storage"
)

// ServiceRepairInterval is how often RunServiceRepair checks the service
// allocations, as kube-apiserver's repair loops do (3 minutes).
const ServiceRepairInterval = 3 * time.Minute

// serviceRepair is the state kept between repair passes: the reservations
// found held by no service, with the revision they had.
type serviceRepair struct {
	mu       sync.Mutex
	suspects map[string]int64
}

// RunServiceRepair makes the ClusterIP and node port reservations match
// the stored services at once and then every interval until ctx ends
// (repairServices).
func (s *Server) RunServiceRepair(ctx context.Context, interval time.Duration) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := s.repairServices(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("service allocation repair failed; retrying later", "err", err)
		}
	}, interval)
}

// repairServices runs one repair pass, as kube-apiserver's ClusterIP and
// node port repair controllers do. An API server that stops between
// reserving a value and storing its service, or between deleting a service
// and freeing its values, leaves a reservation that no service holds: it is
// released once a second pass finds it still unheld and unchanged (a create
// in flight stores its service well within one interval). A service whose
// value has no reservation (restored from a backup, say) gets one again.
// Several servers may run it at once: each release is conditional on the
// reservation's revision.
func (s *Server) repairServices(ctx context.Context) error {
	s.repair.mu.Lock()
	defer s.repair.mu.Unlock()
	res := s.cfg.Registry.Get(corev1.SchemeGroupVersion.WithResource("services"))
	if res == nil {
		return nil
	}
	store := s.objectStore(res)
	svcs, err := s.cfg.Storage.List(ctx, store.prefix(""), storage.ListOptions{})
	if err != nil {
		return err
	}
	held := map[string]string{} // reservation key → service holding it
	for _, kv := range svcs.Items {
		obj, err := store.decode(kv)
		if err != nil {
			continue // an undecodable object holds nothing we can read
		}
		svc, ok := obj.(*corev1.Service)
		if !ok {
			continue
		}
		for _, k := range s.services.heldKeys(svc) {
			held[k] = svc.Namespace + "/" + svc.Name
		}
	}
	var reserved []storage.KV
	for _, prefix := range []string{ipKeyPrefix, portKeyPrefix} {
		page, err := s.cfg.Storage.List(ctx, prefix, storage.ListOptions{Revision: svcs.Revision})
		if err != nil {
			return err
		}
		reserved = append(reserved, page.Items...)
	}
	next := map[string]int64{}
	var errs []error
	for _, kv := range reserved {
		if _, ok := held[kv.Key]; ok {
			delete(held, kv.Key)
			continue
		}
		if rev, ok := s.repair.suspects[kv.Key]; !ok || rev != kv.Revision {
			next[kv.Key] = kv.Revision
			continue
		}
		_, err := s.cfg.Storage.Delete(ctx, kv.Key, kv.Revision)
		switch {
		case err == nil:
			s.log.Info("released a service allocation no service holds", "key", kv.Key, "reservedFor", string(kv.Value))
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrConflict):
		default:
			errs = append(errs, fmt.Errorf("release %s: %w", kv.Key, err))
		}
	}
	for key, owner := range held {
		_, err := s.cfg.Storage.Create(ctx, key, []byte(owner))
		switch {
		case err == nil:
			s.log.Warn("service allocation was not reserved; reserved it again", "key", key, "service", owner)
		case errors.Is(err, storage.ErrExists):
		default:
			errs = append(errs, fmt.Errorf("reserve %s for %s: %w", key, owner, err))
		}
	}
	s.repair.suspects = next
	return errors.Join(errs...)
}

// heldKeys returns the reservation keys of the values svc holds within the
// allocator's ranges.
func (a *serviceAllocator) heldKeys(svc *corev1.Service) []string {
	var out []string
	if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && a.prefix.Contains(ip) {
		out = append(out, ipKey(ip.String()))
	}
	for _, p := range nodePorts(svc) {
		if p != 0 && a.inPortRange(p) {
			out = append(out, portKey(p))
		}
	}
	return out
}
