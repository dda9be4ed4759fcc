package bench

import (
	"net/http"
	"testing"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// codec is a wire format for requests and responses.
type codec struct {
	name        string
	contentType string
	accept      string
}

var (
	codecJSON     = codec{"json", "application/json", "application/json"}
	codecProtobuf = codec{"protobuf", "application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf,application/json"}
	codecs        = []codec{codecJSON, codecProtobuf}
)

// newClient returns a typed client speaking c with its own transport, so
// its own connection: client-go otherwise shares one cached transport (one
// HTTP/2 connection) between all clients of equal configurations, and an
// HTTP/2 connection carries at most MaxConcurrentStreams (Go's server
// default: 250) requests at once.
func newClient(b *testing.B, base *rest.Config, c codec) client {
	b.Helper()
	cfg := rest.CopyConfig(base)
	cfg.QPS = -1
	cfg.ContentType = c.contentType
	cfg.AcceptContentTypes = c.accept
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	// SetTransportDefaults enables HTTP/2 as client-go's own transports do.
	tr := utilnet.SetTransportDefaults(&http.Transport{
		TLSClientConfig:     tlsCfg,
		MaxIdleConnsPerHost: 64,
	})
	b.Cleanup(tr.CloseIdleConnections)
	rt, err := rest.HTTPWrappersForConfig(cfg, tr)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: rt}
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		b.Fatal(err)
	}
	return client{Interface: cs, http: hc}
}

// client is a typed client and the authenticated HTTP client under it.
type client struct {
	kubernetes.Interface
	http *http.Client
}
