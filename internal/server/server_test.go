package server_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantry-dev/gantry/internal/embedetcd"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// TestExternalEtcd runs the control plane against an etcd reached over
// TCP (--etcd-endpoints) and checks the objects land in that etcd.
func TestExternalEtcd(t *testing.T) {
	ecfg := embedetcd.DefaultConfig()
	ecfg.DataDir = filepath.Join(t.TempDir(), "external-etcd")
	ecfg.ClientURL = "http://127.0.0.1:0"
	ecfg.UnsafeNoFsync = true
	e := embedetcd.New(ecfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	etcdClient, err := e.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)

	c := testcluster.Start(t, testcluster.Options{EtcdEndpoints: e.ClientEndpoints()})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "in-external-etcd"}, Data: map[string]string{"k": "v"}}
	if _, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	resp, err := etcdClient.Get(ctx, "/registry/core/configmaps/default/in-external-etcd")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("configmap not found in the external etcd (got %d keys)", len(resp.Kvs))
	}
	// Nothing was written to an embedded etcd in the server's data dir.
	if matches, _ := filepath.Glob(filepath.Join(c.DataDir, "etcd", "*")); len(matches) > 0 {
		t.Errorf("server started an embedded etcd too: %v", matches)
	}
}
