package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/raft/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/gantry-dev/gantry/internal/storage"
)

// errorTable maps etcd errors to storage errors. The client already turns
// gRPC statuses from the server into these rpctypes values (in
// rpctypes.Error, etcd's own lookup by message, since the wire carries
// nothing else); here they are compared with errors.Is only.
var errorTable = []struct {
	etcd, storage error
}{
	{rpctypes.ErrCompacted, storage.ErrCompacted},
	{rpctypes.ErrFutureRev, storage.ErrFutureRevision},
	{rpctypes.ErrTooManyRequests, storage.ErrUnavailable},
	{clientv3.ErrNoAvailableEndpoints, storage.ErrUnavailable},
}

// translate is the one place etcd errors become storage errors. ctx is the
// request's context. The result wraps both the storage sentinel and the
// original error, so errors.Is works for either.
//
//   - the table above, by errors.Is;
//   - any error with gRPC code Unavailable (no leader, leader changed,
//     server stopped, request timed out, connection refused/lost) →
//     ErrUnavailable;
//   - the caller's context ending is returned as is, except when the
//     client has no working connection: then it is also ErrUnavailable,
//     because a request to an unreachable etcd waits for a connection
//     until the context ends;
//   - the client connection being closed (code Canceled, or a plain
//     context.Canceled, while ctx is live) → ErrUnavailable;
//   - a stopped raft node (raftStopped) → ErrUnavailable.
func (s *Store) translate(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	for _, m := range errorTable {
		if errors.Is(err, m.etcd) {
			return fmt.Errorf("%w: %w", m.storage, err)
		}
	}
	if ctx.Err() != nil {
		if !s.connected() {
			return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		}
		return err
	}
	switch grpcCode(err) {
	case codes.Unavailable, codes.Canceled:
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	if errors.Is(err, context.Canceled) {
		// Not the caller's context (checked above) but the client's own,
		// as a watch reports it when the server goes away under it.
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	if raftStopped(err) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

// raftStopped reports a write that reached a member whose raft node has
// stopped. etcd passes raft.ErrStopped on as a gRPC status with code
// Unknown and the error's text: the text is all that is left of it, so
// this is the one comparison of error text, against raft's own value.
func raftStopped(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unknown && st.Message() == raft.ErrStopped.Error()
}

// grpcCode returns the gRPC code of a server or transport error.
func grpcCode(err error) codes.Code {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code()
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return codes.Unknown
}

// connected reports whether the client's connection to etcd works. The
// in-process client has no connection and always works.
func (s *Store) connected() bool {
	conn := s.client.ActiveConnection()
	if conn == nil {
		return true
	}
	st := conn.GetState()
	return st == connectivity.Ready || st == connectivity.Idle
}
