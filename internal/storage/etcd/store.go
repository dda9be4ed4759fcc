package etcd

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/storage"
)

// Store is a storage.Interface backed by etcd. See the package documentation.
type Store struct {
	client *clientv3.Client
	prefix string
}

var (
	_ storage.Interface   = (*Store)(nil)
	_ storage.LocalReader = (*Store)(nil)
)

// New returns a store keeping every key under prefix (e.g. "/registry/")
// in etcd. Keys passed to and returned by the store do not include prefix.
// The caller owns client and closes it after the last use of the store.
func New(client *clientv3.Client, prefix string) *Store {
	return &Store{client: client, prefix: prefix}
}

// kv converts an etcd key-value; the key loses the store prefix.
func (s *Store) kv(kv *mvccpb.KeyValue) storage.KV {
	return storage.KV{
		Key:      string(kv.Key[len(s.prefix):]),
		Value:    kv.Value,
		Revision: kv.ModRevision,
	}
}

// Get returns the current value of key, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (storage.KV, error) {
	resp, err := s.client.Get(ctx, s.prefix+key)
	if err != nil {
		return storage.KV{}, s.translate(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return storage.KV{}, storage.ErrNotFound
	}
	return s.kv(resp.Kvs[0]), nil
}

// GetLocal returns the value of key as the etcd member the client talks to
// has applied it (a serializable read), or ErrNotFound. It needs no raft
// round: a linearizable read waits for a read index, which queues behind
// the raft loop's write-ahead-log fsyncs. An embedded single member has
// applied every write the store has acknowledged; a member of a larger
// cluster may lag behind the leader.
func (s *Store) GetLocal(ctx context.Context, key string) (storage.KV, error) {
	resp, err := s.client.Get(ctx, s.prefix+key, clientv3.WithSerializable())
	if err != nil {
		return storage.KV{}, s.translate(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return storage.KV{}, storage.ErrNotFound
	}
	return s.kv(resp.Kvs[0]), nil
}

// Create writes key if absent, in one transaction, and returns the new
// revision, or ErrExists.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	k := s.prefix + key
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return 0, s.translate(ctx, err)
	}
	if !resp.Succeeded {
		return 0, storage.ErrExists
	}
	return resp.Header.Revision, nil
}

// Update writes key if its revision is expected, in one transaction that
// reads the key back on failure to tell ErrNotFound from ErrConflict.
func (s *Store) Update(ctx context.Context, key string, value []byte, expected int64) (int64, error) {
	k := s.prefix + key
	if expected <= 0 {
		// ModRevision 0 would match an absent key and create it.
		return 0, s.missingOrConflict(ctx, k)
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", expected)).
		Then(clientv3.OpPut(k, string(value))).
		Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return 0, s.translate(ctx, err)
	}
	if !resp.Succeeded {
		return 0, notFoundOrConflict(resp)
	}
	return resp.Header.Revision, nil
}

// Delete removes key, unconditionally when expected is 0 and otherwise if
// its revision is expected, and returns the deleted value with Revision set
// to the deletion's revision. One round trip either way.
func (s *Store) Delete(ctx context.Context, key string, expected int64) (storage.KV, error) {
	k := s.prefix + key
	if expected < 0 {
		return storage.KV{}, s.missingOrConflict(ctx, k)
	}
	if expected == 0 {
		resp, err := s.client.Delete(ctx, k, clientv3.WithPrevKV())
		if err != nil {
			return storage.KV{}, s.translate(ctx, err)
		}
		if len(resp.PrevKvs) == 0 {
			return storage.KV{}, storage.ErrNotFound
		}
		return s.deleted(resp.PrevKvs[0], resp.Header.Revision), nil
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", expected)).
		Then(clientv3.OpDelete(k, clientv3.WithPrevKV())).
		Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return storage.KV{}, s.translate(ctx, err)
	}
	if !resp.Succeeded {
		return storage.KV{}, notFoundOrConflict(resp)
	}
	prev := resp.Responses[0].GetResponseDeleteRange().GetPrevKvs()
	if len(prev) == 0 {
		// Cannot happen: the compare saw the key at revision expected > 0.
		return storage.KV{}, errors.New("etcd: delete matched but returned no previous value")
	}
	return s.deleted(prev[0], resp.Header.Revision), nil
}

// deleted is the last value of a deleted key at the deletion's revision.
func (s *Store) deleted(prev *mvccpb.KeyValue, rev int64) storage.KV {
	kv := s.kv(prev)
	kv.Revision = rev
	return kv
}

// notFoundOrConflict reads the Else OpGet of a failed compare-and-swap.
func notFoundOrConflict(resp *clientv3.TxnResponse) error {
	if len(resp.Responses) == 1 && len(resp.Responses[0].GetResponseRange().GetKvs()) > 0 {
		return storage.ErrConflict
	}
	return storage.ErrNotFound
}

// missingOrConflict is the outcome of a write expecting revision 0: the key
// cannot be at that revision, so it is missing or changed.
func (s *Store) missingOrConflict(ctx context.Context, k string) error {
	resp, err := s.client.Get(ctx, k, clientv3.WithCountOnly())
	if err != nil {
		return s.translate(ctx, err)
	}
	if resp.Count == 0 {
		return storage.ErrNotFound
	}
	return storage.ErrConflict
}

// CurrentRevision returns etcd's latest revision (a linearizable read).
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, s.prefix, clientv3.WithCountOnly())
	if err != nil {
		return 0, s.translate(ctx, err)
	}
	return resp.Header.Revision, nil
}

// Compact discards the history before revision rev: later reads and watches
// from older revisions fail with ErrCompacted. It waits until etcd has
// applied the compaction to its database. Embedded etcd also compacts on
// its own (embedetcd.Config.CompactionInterval).
func (s *Store) Compact(ctx context.Context, rev int64) error {
	_, err := s.client.Compact(ctx, rev, clientv3.WithCompactPhysical())
	return s.translate(ctx, err)
}
