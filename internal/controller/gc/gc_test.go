package gc_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/controller/gc"
)

var (
	configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secrets    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	nodes      = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
)

// object builds the metadata of a core/v1 object.
func object(kind, ns, name, uid string, opts ...func(*metav1.PartialObjectMetadata)) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)},
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

func ownedBy(kind, name, uid string, block bool) func(*metav1.PartialObjectMetadata) {
	return func(m *metav1.PartialObjectMetadata) {
		m.OwnerReferences = append(m.OwnerReferences, metav1.OwnerReference{
			APIVersion: "v1", Kind: kind, Name: name, UID: types.UID(uid), BlockOwnerDeletion: &block,
		})
	}
}

func deleting(finalizers ...string) func(*metav1.PartialObjectMetadata) {
	return func(m *metav1.PartialObjectMetadata) {
		now := metav1.Now()
		m.DeletionTimestamp = &now
		m.Finalizers = finalizers
	}
}

type ref struct {
	gvr       schema.GroupVersionResource
	ns, name  string
	wantGone  bool
	wantOwner []types.UID // owner UIDs expected to remain (when not gone)
	wantFin   []string    // finalizers expected to remain (when not gone)
}

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// The fake client does not implement deletion semantics (finalizers,
// propagation), so these tests check the collector's decisions: what it
// deletes, which references and finalizers it removes. The scenarios in
// scenario_test.go check the whole behaviour against a real API server.
func TestGC(t *testing.T) {
	tests := []struct {
		name    string
		objects []runtime.Object
		want    []ref
	}{
		{
			name: "dependent of an absent owner is deleted",
			objects: []runtime.Object{
				object("ConfigMap", "a", "dep", "d1", ownedBy("ConfigMap", "gone", "o1", false)),
			},
			want: []ref{{gvr: configMaps, ns: "a", name: "dep", wantGone: true}},
		},
		{
			name: "dependent of a live owner stays",
			objects: []runtime.Object{
				object("ConfigMap", "a", "owner", "o1"),
				object("Secret", "a", "dep", "d1", ownedBy("ConfigMap", "owner", "o1", false)),
			},
			want: []ref{
				{gvr: configMaps, ns: "a", name: "owner"},
				{gvr: secrets, ns: "a", name: "dep", wantOwner: []types.UID{"o1"}},
			},
		},
		{
			name: "dangling reference is removed while another owner lives",
			objects: []runtime.Object{
				object("ConfigMap", "a", "owner", "o1"),
				object("ConfigMap", "a", "dep", "d1", ownedBy("ConfigMap", "owner", "o1", false), ownedBy("ConfigMap", "gone", "o2", false)),
			},
			want: []ref{{gvr: configMaps, ns: "a", name: "dep", wantOwner: []types.UID{"o1"}}},
		},
		{
			name: "owner replaced under the same name counts as absent",
			objects: []runtime.Object{
				object("ConfigMap", "a", "owner", "new-uid"),
				object("ConfigMap", "a", "dep", "d1", ownedBy("ConfigMap", "owner", "old-uid", false)),
			},
			want: []ref{
				{gvr: configMaps, ns: "a", name: "owner"},
				{gvr: configMaps, ns: "a", name: "dep", wantGone: true},
			},
		},
		{
			name: "namespaced owner in another namespace counts as absent",
			objects: []runtime.Object{
				object("ConfigMap", "a", "owner", "o1"),
				object("ConfigMap", "a", "good", "d1", ownedBy("ConfigMap", "owner", "o1", false)),
				object("ConfigMap", "b", "bad", "d2", ownedBy("ConfigMap", "owner", "o1", false)),
			},
			want: []ref{
				{gvr: configMaps, ns: "a", name: "good", wantOwner: []types.UID{"o1"}},
				{gvr: configMaps, ns: "b", name: "bad", wantGone: true},
			},
		},
		{
			name: "cluster-scoped owner of a namespaced dependent",
			objects: []runtime.Object{
				object("Node", "", "n1", "node-1"),
				object("ConfigMap", "a", "live", "d1", ownedBy("Node", "n1", "node-1", false)),
				object("ConfigMap", "a", "dead", "d2", ownedBy("Node", "n2", "node-2", false)),
			},
			want: []ref{
				{gvr: configMaps, ns: "a", name: "live", wantOwner: []types.UID{"node-1"}},
				{gvr: configMaps, ns: "a", name: "dead", wantGone: true},
			},
		},
		{
			name: "cluster-scoped dependent naming a namespaced kind is never collected",
			objects: []runtime.Object{
				object("Node", "", "n1", "node-1", ownedBy("ConfigMap", "cm", "o1", false)),
			},
			want: []ref{{gvr: nodes, name: "n1", wantOwner: []types.UID{"o1"}}},
		},
		{
			name: "owner of an unserved kind keeps its dependent",
			objects: []runtime.Object{
				object("ConfigMap", "a", "dep", "d1", func(m *metav1.PartialObjectMetadata) {
					m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "w1"}}
				}),
			},
			want: []ref{{gvr: configMaps, ns: "a", name: "dep", wantOwner: []types.UID{"w1"}}},
		},
		{
			name: "orphan: references removed, then the orphan finalizer",
			objects: []runtime.Object{
				object("ConfigMap", "a", "owner", "o1", deleting(metav1.FinalizerOrphanDependents, "example.com/keep")),
				object("ConfigMap", "a", "dep1", "d1", ownedBy("ConfigMap", "owner", "o1", true)),
				object("Secret", "a", "dep2", "d2", ownedBy("ConfigMap", "owner", "o1", false), ownedBy("ConfigMap", "other", "o2", false)),
				object("ConfigMap", "a", "other", "o2"),
			},
			want: []ref{
				{gvr: configMaps, ns: "a", name: "owner", wantFin: []string{"example.com/keep"}},
				{gvr: configMaps, ns: "a", name: "dep1"},
				{gvr: secrets, ns: "a", name: "dep2", wantOwner: []types.UID{"o2"}},
			},
		},
		{
			name: "foreground: dependents deleted, then the finalizer removed",
			objects: []runtime.Object{
				object("ConfigMap", "a", "owner", "o1", deleting(metav1.FinalizerDeleteDependents, "example.com/keep")),
				object("ConfigMap", "a", "blocker", "d1", ownedBy("ConfigMap", "owner", "o1", true)),
				object("Secret", "a", "plain", "d2", ownedBy("ConfigMap", "owner", "o1", false)),
				object("Secret", "a", "shared", "d3", ownedBy("ConfigMap", "owner", "o1", true), ownedBy("ConfigMap", "other", "o2", false)),
				object("ConfigMap", "a", "other", "o2"),
			},
			want: []ref{
				{gvr: configMaps, ns: "a", name: "owner", wantFin: []string{"example.com/keep"}},
				{gvr: configMaps, ns: "a", name: "blocker", wantGone: true},
				{gvr: secrets, ns: "a", name: "plain", wantGone: true},
				// Another owner lives: only the reference to the deleting owner goes.
				{gvr: secrets, ns: "a", name: "shared", wantOwner: []types.UID{"o2"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scheme := metadatafake.NewTestScheme()
			metav1.AddMetaToScheme(scheme)
			client := metadatafake.NewSimpleMetadataClient(scheme, tt.objects...)
			g := runGC(t, client)

			var last string
			err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
				last = check(ctx, client, tt.want)
				return last == "", nil
			})
			if err != nil {
				t.Fatalf("%s: %v", last, err)
			}
			// What should stay must not go later either: let the collector
			// finish everything it has seen and check again.
			settle(t, g)
			if msg := check(t.Context(), client, tt.want); msg != "" {
				t.Fatalf("after settling: %s", msg)
			}
		})
	}
}

// TestGCOrphanedSinceCached covers a dependent whose cached copy still
// names a gone owner while the live object has no owners left (orphaned by
// --cascade=orphan, whose update the cache has not seen yet): the
// collector must keep it. It deleted such ReplicaSets in a CI run.
func TestGCOrphanedSinceCached(t *testing.T) {
	scheme := metadatafake.NewTestScheme()
	metav1.AddMetaToScheme(scheme)
	cached := object("ConfigMap", "a", "dep", "d1", ownedBy("ConfigMap", "gone", "o1", true))
	client := metadatafake.NewSimpleMetadataClient(scheme, cached)
	live := object("ConfigMap", "a", "dep", "d1")
	client.PrependReactor("get", "configmaps", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.(clienttesting.GetAction).GetName() == "dep" {
			return true, live.DeepCopy(), nil
		}
		return false, nil, nil
	})
	g := runGC(t, client)
	settle(t, g)
	for _, a := range client.Actions() {
		if a.GetVerb() == "delete" || a.GetVerb() == "patch" {
			t.Errorf("the collector wrote to an object without owners: %s %v", a.GetVerb(), a)
		}
	}
	if !slices.ContainsFunc(client.Actions(), func(a clienttesting.Action) bool { return a.GetVerb() == "get" }) {
		t.Error("the collector never read the live object: the case was not exercised")
	}
}

// runGC runs a collector on client until the test ends.
func runGC(t *testing.T, client *metadatafake.FakeMetadataClient) *gc.GC {
	t.Helper()
	cfg := gc.DefaultConfig()
	cfg.WaitingRecheck = 50 * time.Millisecond
	g, err := gc.New(cfg, client, api.NewRegistry(), nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return g
}

// check compares the objects with want; it returns "" when all match,
// otherwise what differs.
func check(ctx context.Context, client *metadatafake.FakeMetadataClient, want []ref) string {
	for _, w := range want {
		m, err := client.Resource(w.gvr).Namespace(w.ns).Get(ctx, w.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if !w.wantGone {
				return w.name + " is gone"
			}
		case err != nil:
			return err.Error()
		case w.wantGone:
			return w.name + " still exists"
		case !slices.Equal(ownerUIDs(m), w.wantOwner):
			return fmt.Sprintf("%s has owners %v, want %v", w.name, ownerUIDs(m), w.wantOwner)
		case !slices.Equal(m.Finalizers, w.wantFin):
			return fmt.Sprintf("%s has finalizers %v, want %v", w.name, m.Finalizers, w.wantFin)
		}
	}
	return ""
}

// settle waits until the collector has seen every object and has nothing
// left to do (three idle polls in a row).
func settle(t *testing.T, g *gc.GC) {
	t.Helper()
	idle := 0
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		if g.HasSynced() && g.Controller().Pending() == 0 {
			idle++
		} else {
			idle = 0
		}
		return idle >= 3, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ownerUIDs(m *metav1.PartialObjectMetadata) []types.UID {
	var out []types.UID
	for _, r := range m.OwnerReferences {
		out = append(out, r.UID)
	}
	return out
}

// TestGCSharedTypedInformers runs the collector on typed informers shared
// with other controllers (as the server wires it for pods, ReplicaSets, …):
// its graph reads typed objects, not metadata. A secret whose owner is gone
// is deleted; one whose owner exists stays; the shared cache is not
// modified.
func TestGCSharedTypedInformers(t *testing.T) {
	block := true
	typedSecret := func(name, uid, ownerName, ownerUID string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Namespace: "a", Name: name, UID: types.UID(uid),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: ownerName, UID: types.UID(ownerUID), BlockOwnerDeletion: &block}},
		}}
	}
	orphan := typedSecret("orphan", "s1", "gone", "o-gone")
	kept := typedSecret("kept", "s2", "owner", "o1")
	typed := kubefake.NewClientset(orphan.DeepCopy(), kept.DeepCopy())
	factory := informers.NewSharedInformerFactory(typed, 0)
	secretInformer := factory.Core().V1().Secrets().Informer()

	scheme := metadatafake.NewTestScheme()
	metav1.AddMetaToScheme(scheme)
	client := metadatafake.NewSimpleMetadataClient(scheme,
		object("Secret", "a", "orphan", "s1", ownedBy("ConfigMap", "gone", "o-gone", true)),
		object("Secret", "a", "kept", "s2", ownedBy("ConfigMap", "owner", "o1", true)),
		object("ConfigMap", "a", "owner", "o1"),
	)
	shared := func(gvr schema.GroupVersionResource) cache.SharedIndexInformer {
		if gvr == secrets {
			return secretInformer
		}
		return nil
	}
	g, err := gc.New(gc.DefaultConfig(), client, api.NewRegistry(), shared, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	factory.Start(ctx.Done())
	defer func() {
		cancel()
		<-done
		factory.Shutdown()
	}()

	want := []ref{
		{gvr: secrets, ns: "a", name: "orphan", wantGone: true},
		{gvr: secrets, ns: "a", name: "kept", wantOwner: []types.UID{"o1"}},
	}
	var last string
	err = wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		last = check(ctx, client, want)
		return last == "", nil
	})
	if err != nil {
		t.Fatalf("%s: %v", last, err)
	}
	settle(t, g)
	if msg := check(t.Context(), client, want); msg != "" {
		t.Fatalf("after settling: %s", msg)
	}
	// The collector read the shared cache's objects and left them alone.
	for _, s := range []*corev1.Secret{orphan, kept} {
		obj, ok, err := secretInformer.GetIndexer().GetByKey("a/" + s.Name)
		if err != nil || !ok {
			t.Fatalf("%s not in the shared cache: %v", s.Name, err)
		}
		if got := obj.(*corev1.Secret); !equality.Semantic.DeepEqual(got.ObjectMeta, s.ObjectMeta) {
			t.Fatalf("shared cache's %s changed: %+v, want %+v", s.Name, got.ObjectMeta, s.ObjectMeta)
		}
	}
}
