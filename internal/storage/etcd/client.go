package etcd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// NewClient returns a client for an external etcd cluster (the
// --etcd-endpoints flag), e.g. endpoints "https://10.0.0.1:2379". tlsConfig
// nil means plain HTTP. The client connects in the background: it returns
// without waiting, and requests fail with storage.ErrUnavailable (wrapped
// with the context error) while no endpoint can be reached. The caller
// closes the client.
func NewClient(endpoints []string, tlsConfig *tls.Config) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		TLS:                  tlsConfig,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
		// Errors are returned to the caller; the client's own retry logs
		// would only repeat them.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: client for %v: %w", endpoints, err)
	}
	return c, nil
}
