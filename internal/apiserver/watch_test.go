package apiserver_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// seen is one watch event reduced to what the tests compare.
type seen struct {
	typ  watch.EventType
	name string
	data string // data["v"] of a ConfigMap
}

func (s seen) String() string { return fmt.Sprintf("%s %s v=%s", s.typ, s.name, s.data) }

func seenOf(t *testing.T, ev watch.Event) seen {
	t.Helper()
	if ev.Type == watch.Error {
		t.Fatalf("watch error: %v", apierrors.FromObject(ev.Object))
	}
	m, err := meta.Accessor(ev.Object)
	if err != nil {
		t.Fatal(err)
	}
	s := seen{typ: ev.Type, name: m.GetName()}
	switch o := ev.Object.(type) {
	case *corev1.ConfigMap:
		s.data = o.Data["v"]
	case *unstructured.Unstructured:
		s.data, _, _ = unstructured.NestedString(o.Object, "data", "v")
	}
	return s
}

// wantSeen reads len(want) events (skipping bookmarks) and compares them.
func wantSeen(t *testing.T, w watch.Interface, want ...seen) {
	t.Helper()
	for i, wnt := range want {
		got := seenOf(t, nextNonBookmark(t, w))
		if got != wnt {
			t.Fatalf("event %d = %v, want %v", i, got, wnt)
		}
	}
}

// wantQuiet checks that no event other than a bookmark arrives for a while.
func wantQuiet(t *testing.T, w watch.Interface) {
	t.Helper()
	timeout := time.After(300 * time.Millisecond)
	for {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != watch.Bookmark {
				t.Fatalf("unexpected event %v", seenOf(t, ev))
			}
		case <-timeout:
			return
		}
	}
}

func configMap(name, v string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: map[string]string{"v": v}}
}

func TestWatch(t *testing.T) {
	c := startCluster(t)

	t.Run("from a resourceVersion, in order, typed", func(t *testing.T) {
		for _, client := range []struct {
			name string
			cs   kubernetes.Interface
		}{{"json", c.Client}, {"protobuf", c.Proto}} {
			t.Run(client.name, func(t *testing.T) {
				ns := c.namespace(t)
				cms := client.cs.CoreV1().ConfigMaps(ns)
				before := must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("before", "0", nil), metav1.CreateOptions{}))
				a := must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("a", "1", nil), metav1.CreateOptions{}))
				a.Data["v"] = "2"
				must[*corev1.ConfigMap](t)(cms.Update(ctx(t), a, metav1.UpdateOptions{}))
				must[struct{}](t)(struct{}{}, cms.Delete(ctx(t), "a", metav1.DeleteOptions{}))

				w := must[watch.Interface](t)(cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: before.ResourceVersion}))
				defer w.Stop()
				wantSeen(t, w, seen{watch.Added, "a", "1"}, seen{watch.Modified, "a", "2"}, seen{watch.Deleted, "a", "2"})
				must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("b", "3", nil), metav1.CreateOptions{}))
				ev := nextNonBookmark(t, w)
				wantSeen(t, watch.NewProxyWatcher(chanOf(ev)), seen{watch.Added, "b", "3"})
				if rvNum(t, ev.Object.(*corev1.ConfigMap).ResourceVersion) <= rvNum(t, a.ResourceVersion) {
					t.Errorf("live event resourceVersion not after the replayed ones")
				}
			})
		}
	})

	t.Run("events carry apiVersion and kind", func(t *testing.T) {
		ns := c.namespace(t)
		dyn := must[*dynamic.DynamicClient](t)(dynamic.NewForConfig(c.Config))
		gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
		w := must[watch.Interface](t)(dyn.Resource(gvr).Namespace(ns).Watch(ctx(t), metav1.ListOptions{}))
		defer w.Stop()
		cms := c.Client.CoreV1().ConfigMaps(ns)
		cm := must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("a", "1", nil), metav1.CreateOptions{}))
		cm.Data["v"] = "2"
		must[*corev1.ConfigMap](t)(cms.Update(ctx(t), cm, metav1.UpdateOptions{}))
		must[struct{}](t)(struct{}{}, cms.Delete(ctx(t), "a", metav1.DeleteOptions{}))
		for _, want := range []watch.EventType{watch.Added, watch.Modified, watch.Deleted} {
			ev := nextNonBookmark(t, w)
			u := ev.Object.(*unstructured.Unstructured)
			if ev.Type != want || u.GetAPIVersion() != "v1" || u.GetKind() != "ConfigMap" {
				t.Errorf("event %s %s/%s, want %s v1/ConfigMap", ev.Type, u.GetAPIVersion(), u.GetKind(), want)
			}
		}
	})

	t.Run("label selector", func(t *testing.T) {
		ns := c.namespace(t)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		web, db := labelsOf("app", "web"), labelsOf("app", "db")
		// Objects that exist before the watch starts: the watcher has never
		// seen them, yet must be told when they stop matching.
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("old-web", "1", web), metav1.CreateOptions{}))
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("old-db", "1", db), metav1.CreateOptions{}))
		now := must[*corev1.ConfigMapList](t)(cms.List(ctx(t), metav1.ListOptions{}))

		relabel := func(name string, l map[string]string, v string) {
			t.Helper()
			cm := must[*corev1.ConfigMap](t)(cms.Get(ctx(t), name, metav1.GetOptions{}))
			cm.Labels, cm.Data["v"] = l, v
			must[*corev1.ConfigMap](t)(cms.Update(ctx(t), cm, metav1.UpdateOptions{}))
		}
		w := must[watch.Interface](t)(cms.Watch(ctx(t), metav1.ListOptions{LabelSelector: "app=web", ResourceVersion: now.ResourceVersion}))
		defer w.Stop()

		relabel("old-web", db, "2") // stops matching: DELETED
		relabel("old-db", web, "2") // starts matching: ADDED
		relabel("old-db", web, "3") // still matching: MODIFIED
		relabel("old-web", db, "3") // never matching: nothing
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("new-db", "1", db), metav1.CreateOptions{}))
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("new-web", "1", web), metav1.CreateOptions{}))
		must[struct{}](t)(struct{}{}, cms.Delete(ctx(t), "new-db", metav1.DeleteOptions{}))
		must[struct{}](t)(struct{}{}, cms.Delete(ctx(t), "new-web", metav1.DeleteOptions{}))
		wantSeen(t, w,
			seen{watch.Deleted, "old-web", "2"},
			seen{watch.Added, "old-db", "2"},
			seen{watch.Modified, "old-db", "3"},
			seen{watch.Added, "new-web", "1"},
			seen{watch.Deleted, "new-web", "1"},
		)
		wantQuiet(t, w)
	})

	t.Run("field selector on one object", func(t *testing.T) {
		ns := c.namespace(t)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		w := must[watch.Interface](t)(cms.Watch(ctx(t), metav1.ListOptions{FieldSelector: "metadata.name=b"}))
		defer w.Stop()
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("a", "1", nil), metav1.CreateOptions{}))
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("b", "1", nil), metav1.CreateOptions{}))
		wantSeen(t, w, seen{watch.Added, "b", "1"})
	})

	t.Run("without resourceVersion starts with the current state", func(t *testing.T) {
		ns := c.namespace(t)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("a", "1", nil), metav1.CreateOptions{}))
		w := must[watch.Interface](t)(cms.Watch(ctx(t), metav1.ListOptions{}))
		defer w.Stop()
		wantSeen(t, w, seen{watch.Added, "a", "1"})
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("b", "1", nil), metav1.CreateOptions{}))
		wantSeen(t, w, seen{watch.Added, "b", "1"})
	})

	t.Run("watch-list", func(t *testing.T) {
		ns := c.namespace(t)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		for _, n := range []string{"a", "b", "c"} {
			must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap(n, "1", labelsOf("in", map[bool]string{true: "yes", false: "no"}[n != "b"])), metav1.CreateOptions{}))
		}
		w := must[watch.Interface](t)(cms.Watch(ctx(t), metav1.ListOptions{
			LabelSelector:        "in=yes",
			SendInitialEvents:    ptr.To(true),
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
			AllowWatchBookmarks:  true,
		}))
		defer w.Stop()
		wantSeen(t, w, seen{watch.Added, "a", "1"}, seen{watch.Added, "c", "1"})
		ev := nextEvent(t, w)
		bm, ok := ev.Object.(*corev1.ConfigMap)
		if ev.Type != watch.Bookmark || !ok || bm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
			t.Fatalf("after the initial events: %s %#v, want a BOOKMARK annotated %s=true", ev.Type, ev.Object, metav1.InitialEventsAnnotationKey)
		}
		last := must[*corev1.ConfigMap](t)(cms.Get(ctx(t), "c", metav1.GetOptions{}))
		if rvNum(t, bm.ResourceVersion) < rvNum(t, last.ResourceVersion) {
			t.Errorf("bookmark resourceVersion %s before the last object's %s", bm.ResourceVersion, last.ResourceVersion)
		}
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("d", "1", labelsOf("in", "yes")), metav1.CreateOptions{}))
		wantSeen(t, w, seen{watch.Added, "d", "1"})

		t.Run("requires resourceVersionMatch and bookmarks", func(t *testing.T) {
			_, err := cms.Watch(ctx(t), metav1.ListOptions{SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true})
			wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "resourceVersionMatch")
			_, err = cms.Watch(ctx(t), metav1.ListOptions{SendInitialEvents: ptr.To(true), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
			wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "allowWatchBookmarks")
		})
		t.Run("sendInitialEvents=false starts now", func(t *testing.T) {
			w := must[watch.Interface](t)(cms.Watch(ctx(t), metav1.ListOptions{
				SendInitialEvents:    ptr.To(false),
				ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
				AllowWatchBookmarks:  true,
			}))
			defer w.Stop()
			must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("e", "1", nil), metav1.CreateOptions{}))
			wantSeen(t, w, seen{watch.Added, "e", "1"})
		})
	})

	t.Run("informer", func(t *testing.T) {
		ns := c.namespace(t)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("before", "1", nil), metav1.CreateOptions{}))
		// Record the requests, to see that the informer used watch-list.
		var mu sync.Mutex
		var queries []string
		cfg := rest.CopyConfig(c.Config)
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				queries = append(queries, r.URL.RawQuery)
				mu.Unlock()
				return rt.RoundTrip(r)
			})
		}
		cs := must[*kubernetes.Clientset](t)(kubernetes.NewForConfig(cfg))
		factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
		inf := factory.Core().V1().ConfigMaps()
		lister := inf.Lister()
		informer := inf.Informer()
		stop := make(chan struct{})
		defer func() { close(stop); factory.Shutdown() }()
		factory.Start(stop)
		if !cache.WaitForCacheSync(ctx(t).Done(), informer.HasSynced) {
			t.Fatal("informer did not sync")
		}
		if _, err := lister.ConfigMaps(ns).Get("before"); err != nil {
			t.Fatalf("synced informer misses an existing object: %v", err)
		}
		mu.Lock()
		if len(queries) == 0 || !strings.Contains(queries[0], "sendInitialEvents=true") {
			t.Errorf("informer requests %q, want a watch-list first (sendInitialEvents=true)", queries)
		}
		mu.Unlock()
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("after", "1", nil), metav1.CreateOptions{}))
		eventually(t, "informer sees the new object", func() (bool, error) {
			_, err := lister.ConfigMaps(ns).Get("after")
			return err == nil, err
		})
		cm := must[*corev1.ConfigMap](t)(cms.Get(ctx(t), "before", metav1.GetOptions{}))
		cm.Data["v"] = "2"
		must[*corev1.ConfigMap](t)(cms.Update(ctx(t), cm, metav1.UpdateOptions{}))
		must[struct{}](t)(struct{}{}, cms.Delete(ctx(t), "after", metav1.DeleteOptions{}))
		eventually(t, "informer sees the update and the deletion", func() (bool, error) {
			before, err := lister.ConfigMaps(ns).Get("before")
			if err != nil {
				return false, err
			}
			_, err = lister.ConfigMaps(ns).Get("after")
			return before.Data["v"] == "2" && apierrors.IsNotFound(err), nil
		})
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func chanOf(ev watch.Event) chan watch.Event {
	ch := make(chan watch.Event, 1)
	ch <- ev
	return ch
}

// TestWatchCompactedAndBookmarks uses the hand-wired server: it compacts
// etcd and sends bookmarks every 200ms.
func TestWatchCompactedAndBookmarks(t *testing.T) {
	e := startEnv(t)
	cms := e.client.CoreV1().ConfigMaps("default")
	first := must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("a", "1", nil), metav1.CreateOptions{}))
	// Two changes after first: the one right after it goes with compaction.
	cm := first.DeepCopy()
	for _, v := range []string{"2", "3"} {
		cm.Data["v"] = v
		cm = must[*corev1.ConfigMap](t)(cms.Update(ctx(t), cm, metav1.UpdateOptions{}))
	}
	compacted := e.compact(t)

	t.Run("watch from a compacted resourceVersion is 410 Gone", func(t *testing.T) {
		w, err := cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: first.ResourceVersion})
		if err == nil {
			// Sent as an ERROR event, as kube-apiserver does.
			defer w.Stop()
			ev := nextEvent(t, w)
			if ev.Type != watch.Error {
				t.Fatalf("first event %s, want ERROR", ev.Type)
			}
			err = apierrors.FromObject(ev.Object)
		}
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("err = %v, want 410 Expired", err)
		}
		wantAPIError(t, err, 410, metav1.StatusReasonExpired, "too old resource version")
	})

	t.Run("bookmarks", func(t *testing.T) {
		w := must[watch.Interface](t)(cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: fmt.Sprint(compacted), AllowWatchBookmarks: true}))
		defer w.Stop()
		cm := must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("b", "1", nil), metav1.CreateOptions{}))
		wantSeen(t, w, seen{watch.Added, "b", "1"})
		for {
			ev := nextEvent(t, w)
			if ev.Type != watch.Bookmark {
				t.Fatalf("event %s, want only bookmarks", ev.Type)
			}
			bm := ev.Object.(*corev1.ConfigMap)
			if bm.Name != "" || bm.Data != nil {
				t.Errorf("bookmark carries more than a resourceVersion: %+v", bm)
			}
			if rvNum(t, bm.ResourceVersion) >= rvNum(t, cm.ResourceVersion) {
				return
			}
		}
	})

	t.Run("no bookmarks unless asked for", func(t *testing.T) {
		w := must[watch.Interface](t)(cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: fmt.Sprint(compacted)}))
		defer w.Stop()
		timeout := time.After(time.Second)
		for {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == watch.Bookmark {
					t.Fatal("bookmark sent without allowWatchBookmarks")
				}
			case <-timeout:
				return
			}
		}
	})
}

// TestWatchSkipsUndecodable stores a value that is not an object under a
// ConfigMap key: watches with and without selectors log and skip it and
// go on with the next event (watches without selectors decode objects
// only when they encode them).
func TestWatchSkipsUndecodable(t *testing.T) {
	e := startEnv(t)
	cms := e.client.CoreV1().ConfigMaps("default")
	start := must[*corev1.ConfigMapList](t)(cms.List(ctx(t), metav1.ListOptions{}))
	all := must[watch.Interface](t)(cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: start.ResourceVersion}))
	defer all.Stop()
	selected := must[watch.Interface](t)(cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: start.ResourceVersion, LabelSelector: "app=web"}))
	defer selected.Stop()
	if _, err := e.store.Create(ctx(t), "core/configmaps/default/bad", []byte("k8s\x00not an object")); err != nil {
		t.Fatal(err)
	}
	must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("good", "1", labelsOf("app", "web")), metav1.CreateOptions{}))
	for name, w := range map[string]watch.Interface{"no selector": all, "label selector": selected} {
		ev := nextNonBookmark(t, w)
		cm, ok := ev.Object.(*corev1.ConfigMap)
		if ev.Type != watch.Added || !ok || cm.Name != "good" {
			t.Errorf("%s: first event %s %#v, want ADDED good", name, ev.Type, ev.Object)
		}
	}
}
