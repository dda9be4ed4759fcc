package apiserver_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/auth"
	"github.com/gantry-dev/gantry/internal/embedetcd"
	"github.com/gantry-dev/gantry/internal/openapi"
	etcdstore "github.com/gantry-dev/gantry/internal/storage/etcd"
)

// env is an API server wired by hand around a storage the test can reach
// (to compact it) and with short timings (bookmarks). It serves plain HTTP
// and lets every request in as an administrator; testcluster covers TLS
// and authentication.
type env struct {
	handler http.Handler
	store   *etcdstore.Store
	config  *rest.Config
	client  kubernetes.Interface
}

// typeConverter is built once per test binary: building it from the
// OpenAPI schemas allocates some 8 MiB.
var typeConverter = sync.OnceValues(func() (managedfields.TypeConverter, error) {
	docs, err := openapi.New(api.NewRegistry())
	if err != nil {
		return nil, err
	}
	schemas, err := docs.Schemas()
	if err != nil {
		return nil, err
	}
	return managedfields.NewTypeConverter(schemas, false)
})

// startEnv starts the environment; opts adjust the server's configuration.
func startEnv(t testing.TB, opts ...func(*apiserver.Config)) *env {
	t.Helper()
	ecfg := embedetcd.DefaultConfig()
	ecfg.DataDir = t.TempDir()
	ecfg.UnsafeNoFsync = true
	ecfg.CompactionInterval = -1 // the test compacts
	e := embedetcd.New(ecfg, slog.New(slog.DiscardHandler))
	t.Cleanup(e.Close)
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := e.Start(sctx)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	store := etcdstore.New(client, "/registry/")
	tc, err := typeConverter()
	if err != nil {
		t.Fatal(err)
	}
	admin := auth.AuthenticatorFunc(func(*http.Request) (*auth.User, error) {
		return &auth.User{Name: "admin", Groups: []string{auth.GroupMasters}}, nil
	})
	scfg := apiserver.Config{
		Registry:         api.NewRegistry(),
		Storage:          store,
		Authenticator:    admin,
		TypeConverter:    tc,
		BookmarkInterval: 200 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, o := range opts {
		o(&scfg)
	}
	srv, err := apiserver.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	cfg := &rest.Config{Host: hs.URL, QPS: -1}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(sctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &env{handler: srv, store: store, config: cfg, client: cs}
}

// compact discards etcd history before the current revision.
func (e *env) compact(t testing.TB) int64 {
	t.Helper()
	rev, err := e.store.CurrentRevision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Compact(context.Background(), rev); err != nil {
		t.Fatalf("compact at %d: %v", rev, err)
	}
	return rev
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
