package etcd

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/storage"
)

// List returns one page of the keys under prefix, in key order, in a
// single range request: etcd reports the total number of keys in the
// requested range alongside a limited page, which gives Remaining.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	start := s.prefix + prefix
	end := clientv3.GetPrefixRangeEnd(start)
	if opts.After != "" {
		if after := s.prefix + opts.After + "\x00"; after > start {
			start = after
		}
	}
	ops := []clientv3.OpOption{clientv3.WithRange(end)}
	if opts.Limit > 0 {
		ops = append(ops, clientv3.WithLimit(opts.Limit))
	}
	if opts.Revision > 0 {
		ops = append(ops, clientv3.WithRev(opts.Revision))
	}
	if end != "\x00" && start >= end {
		// After is past the prefix: nothing to read, but the revision
		// must still be checked and reported.
		ops = append(ops, clientv3.WithCountOnly())
		start = end
	}
	resp, err := s.client.Get(ctx, start, ops...)
	if err != nil {
		return storage.ListResult{}, s.translate(ctx, err)
	}
	res := storage.ListResult{
		Items:    make([]storage.KV, len(resp.Kvs)),
		Revision: opts.Revision,
		More:     resp.More,
	}
	if res.Revision == 0 {
		res.Revision = resp.Header.Revision
	}
	for i, kv := range resp.Kvs {
		res.Items[i] = s.kv(kv)
	}
	if resp.More {
		res.Remaining = resp.Count - int64(len(resp.Kvs))
	}
	return res, nil
}

// Count returns the number of keys under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	resp, err := s.client.Get(ctx, s.prefix+prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, s.translate(ctx, err)
	}
	return resp.Count, nil
}
