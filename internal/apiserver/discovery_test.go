package apiserver_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// recorder records the paths and Accept headers of a client's requests.
type recorder struct {
	mu       sync.Mutex
	requests []string
}

func (rec *recorder) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			rec.mu.Lock()
			rec.requests = append(rec.requests, r.URL.Path)
			rec.mu.Unlock()
			return rt.RoundTrip(r)
		})
	}
	return cfg
}

func (rec *recorder) take() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.requests
	rec.requests = nil
	return out
}

// resourceSet flattens discovery into "group/version resource verbs" lines.
func resourceSet(lists []*metav1.APIResourceList) []string {
	var out []string
	for _, l := range lists {
		for _, r := range l.APIResources {
			verbs := slices.Clone(r.Verbs)
			slices.Sort(verbs)
			out = append(out, l.GroupVersion+" "+r.Name+" "+r.Kind+" "+strings.Join(verbs, ",")+" "+strings.Join(r.ShortNames, ","))
		}
	}
	slices.Sort(out)
	return out
}

func TestDiscovery(t *testing.T) {
	c := startCluster(t)
	rc := c.Client.CoreV1().RESTClient()

	t.Run("classic documents", func(t *testing.T) {
		for _, path := range []string{"/api", "/api/", "/apis", "/apis/", "/api/v1", "/apis/apps", "/apis/apps/v1", "/apis/autoscaling/v1"} {
			t.Run(path, func(t *testing.T) {
				var ct string
				raw, err := rc.Get().AbsPath(path).SetHeader("Accept", "application/json").Do(ctx(t)).ContentType(&ct).Raw()
				if err != nil {
					t.Fatal(err)
				}
				if ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				var doc struct {
					Kind     string `json:"kind"`
					Versions []any  `json:"versions"`
					Groups   []any  `json:"groups"`
				}
				must[struct{}](t)(struct{}{}, json.Unmarshal(raw, &doc))
				want := map[string]string{"/api": "APIVersions", "/api/": "APIVersions", "/apis": "APIGroupList", "/apis/": "APIGroupList", "/apis/apps": "APIGroup"}[path]
				if want == "" {
					want = "APIResourceList"
				}
				if doc.Kind != want {
					t.Errorf("kind %q, want %q", doc.Kind, want)
				}
			})
		}
		_, err := c.Client.Discovery().ServerResourcesForGroupVersion("example.com/v1")
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	})

	rec := &recorder{}
	dc := must[*discovery.DiscoveryClient](t)(discovery.NewDiscoveryClientForConfig(rec.wrap(c.Config)))

	var aggregated []*metav1.APIResourceList
	t.Run("aggregated discovery is used", func(t *testing.T) {
		rec.take()
		groups, lists, err := dc.ServerGroupsAndResources()
		if err != nil {
			t.Fatalf("ServerGroupsAndResources: %v", err)
		}
		if reqs := rec.take(); !slices.Equal(reqs, []string{"/api", "/apis"}) {
			t.Errorf("requests %v, want only /api and /apis (aggregated discovery)", reqs)
		}
		aggregated = lists
		var names []string
		for _, g := range groups {
			names = append(names, g.Name)
		}
		for _, want := range []string{"", "apps", "batch", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io"} {
			if !slices.Contains(names, want) {
				t.Errorf("groups %v lack %q", names, want)
			}
		}
		for _, g := range groups {
			if g.Name == "autoscaling" && g.PreferredVersion.Version != "v2" {
				t.Errorf("autoscaling prefers %s, want v2", g.PreferredVersion.Version)
			}
		}
		byName := map[string]metav1.APIResource{}
		for _, l := range lists {
			for _, r := range l.APIResources {
				byName[l.GroupVersion+"/"+r.Name] = r
			}
		}
		for _, tt := range []struct {
			key, kind, short string
			namespaced       bool
			verbs            []string
		}{
			{"apps/v1/deployments", "Deployment", "deploy", true, []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}},
			{"v1/services", "Service", "svc", true, []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}},
			{"v1/configmaps", "ConfigMap", "cm", true, nil},
			{"v1/namespaces", "Namespace", "ns", false, nil},
			{"v1/pods", "Pod", "po", true, nil},
			{"apps/v1/deployments/status", "Deployment", "", true, []string{"get", "patch", "update"}},
			{"apps/v1/deployments/scale", "Scale", "", true, []string{"get", "patch", "update"}},
			{"v1/pods/binding", "Binding", "", true, []string{"create"}},
			{"v1/pods/eviction", "Eviction", "", true, []string{"create"}},
			{"v1/namespaces/finalize", "Namespace", "", false, []string{"update"}},
		} {
			r, ok := byName[tt.key]
			if !ok {
				t.Errorf("%s not discovered", tt.key)
				continue
			}
			if r.Kind != tt.kind || r.Namespaced != tt.namespaced || (tt.short != "" && !slices.Contains(r.ShortNames, tt.short)) {
				t.Errorf("%s = kind %s namespaced %v shortNames %v, want %s %v %s", tt.key, r.Kind, r.Namespaced, r.ShortNames, tt.kind, tt.namespaced, tt.short)
			}
			if len(r.Verbs) == 0 || tt.verbs != nil && !slices.Equal(sortedCopy(r.Verbs), tt.verbs) {
				t.Errorf("%s verbs %v, want %v", tt.key, r.Verbs, tt.verbs)
			}
		}
		if scale := byName["apps/v1/deployments/scale"]; scale.Group != "autoscaling" || scale.Version != "v1" {
			t.Errorf("deployments/scale is %s/%s, want autoscaling/v1", scale.Group, scale.Version)
		}
	})

	t.Run("legacy discovery gives the same resources", func(t *testing.T) {
		legacy := must[*discovery.DiscoveryClient](t)(discovery.NewDiscoveryClientForConfig(rec.wrap(c.Config)))
		legacy.UseLegacyDiscovery = true
		rec.take()
		_, lists, err := legacy.ServerGroupsAndResources()
		if err != nil {
			t.Fatal(err)
		}
		if reqs := rec.take(); len(reqs) <= 2 {
			t.Errorf("legacy discovery made only %v requests", reqs)
		}
		// Aggregated discovery does not carry singularName for subresources,
		// so compare what both carry.
		if a, l := resourceSet(aggregated), resourceSet(lists); !slices.Equal(a, l) {
			t.Errorf("aggregated and legacy discovery differ:\naggregated %v\nlegacy     %v", a, l)
		}
	})

	t.Run("aggregated document", func(t *testing.T) {
		for _, path := range []string{"/api", "/apis"} {
			var ct string
			res := rc.Get().AbsPath(path).SetHeader("Accept", discovery.AcceptV2+",application/json").Do(ctx(t))
			raw := must[[]byte](t)(res.ContentType(&ct).Raw())
			if isGVK, _ := discovery.ContentTypeIsGVK(ct, apidiscoveryv2.SchemeGroupVersion.WithKind("APIGroupDiscoveryList")); !isGVK {
				t.Errorf("%s Content-Type %q, want the aggregated discovery type", path, ct)
			}
			var list apidiscoveryv2.APIGroupDiscoveryList
			must[struct{}](t)(struct{}{}, json.Unmarshal(raw, &list))
			if list.Kind != "APIGroupDiscoveryList" || list.APIVersion != "apidiscovery.k8s.io/v2" || len(list.Items) == 0 {
				t.Errorf("%s: %s %s with %d groups", path, list.APIVersion, list.Kind, len(list.Items))
			}
			for _, g := range list.Items {
				for _, v := range g.Versions {
					if v.Freshness != apidiscoveryv2.DiscoveryFreshnessCurrent || len(v.Resources) == 0 {
						t.Errorf("%s %s/%s: freshness %q, %d resources", path, g.Name, v.Version, v.Freshness, len(v.Resources))
					}
				}
			}
		}
		// A client that prefers the classic format gets it.
		var ct string
		must[[]byte](t)(rc.Get().AbsPath("/apis").SetHeader("Accept", "application/json,"+discovery.AcceptV2).Do(ctx(t)).ContentType(&ct).Raw())
		if ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
	})

	t.Run("aggregated document ETag", func(t *testing.T) {
		pool := c.Config
		hc := must[*http.Client](t)(rest.HTTPClientFor(pool))
		get := func(etag string) *http.Response {
			req := must[*http.Request](t)(http.NewRequestWithContext(ctx(t), http.MethodGet, c.URL+"/apis", nil))
			req.Header.Set("Accept", discovery.AcceptV2)
			if etag != "" {
				req.Header.Set("If-None-Match", etag)
			}
			resp := must[*http.Response](t)(hc.Do(req))
			resp.Body.Close()
			return resp
		}
		first := get("")
		etag := first.Header.Get("ETag")
		if first.StatusCode != 200 || etag == "" {
			t.Fatalf("status %d ETag %q", first.StatusCode, etag)
		}
		if again := get(etag); again.StatusCode != http.StatusNotModified {
			t.Errorf("with If-None-Match: %d, want 304", again.StatusCode)
		}
	})

	t.Run("OpenAPI still served", func(t *testing.T) {
		doc, err := dc.OpenAPISchema()
		if err != nil || len(doc.GetDefinitions().GetAdditionalProperties()) == 0 {
			t.Fatalf("OpenAPI v2: %v", err)
		}
		paths, err := dc.OpenAPIV3().Paths()
		if err != nil || paths["apis/apps/v1"] == nil {
			t.Fatalf("OpenAPI v3 paths: %v (%d paths)", err, len(paths))
		}
	})

	t.Run("RESTMapper", func(t *testing.T) {
		cached := memory.NewMemCacheClient(dc)
		mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
		for _, tt := range []struct {
			input string
			want  schema.GroupVersionResource
			kind  string
		}{
			{"deploy", appsv1.SchemeGroupVersion.WithResource("deployments"), "Deployment"},
			{"deployments", appsv1.SchemeGroupVersion.WithResource("deployments"), "Deployment"},
			{"svc", corev1.SchemeGroupVersion.WithResource("services"), "Service"},
			{"cm", corev1.SchemeGroupVersion.WithResource("configmaps"), "ConfigMap"},
			{"hpa", schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}, "HorizontalPodAutoscaler"},
		} {
			t.Run(tt.input, func(t *testing.T) {
				gvr, err := mapper.ResourceFor(schema.GroupVersionResource{Resource: tt.input})
				if err != nil || gvr != tt.want {
					t.Fatalf("ResourceFor(%s) = %v, %v; want %v", tt.input, gvr, err, tt.want)
				}
				gvk, err := mapper.KindFor(gvr)
				if err != nil || gvk.Kind != tt.kind {
					t.Fatalf("KindFor(%v) = %v, %v", gvr, gvk, err)
				}
				m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				if err != nil || m.Resource != tt.want {
					t.Fatalf("RESTMapping(%v) = %+v, %v", gvk, m, err)
				}
			})
		}
	})
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestTablesAndMetadata(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	for _, n := range []string{"web", "api"} {
		must[*appsv1.Deployment](t)(c.Client.AppsV1().Deployments(ns).Create(ctx(t), testDeployment(metav1.ObjectMeta{Name: n, Labels: labelsOf("tier", n)}), metav1.CreateOptions{}))
	}
	rc := c.Client.AppsV1().RESTClient()
	const asTable = "application/json;as=Table;v=v1;g=meta.k8s.io"

	t.Run("Table", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			req  *rest.Request
			rows int
		}{
			{"list", rc.Get().Namespace(ns).Resource("deployments"), 2},
			{"list with selector", rc.Get().Namespace(ns).Resource("deployments").Param("labelSelector", "tier=web"), 1},
			{"get", rc.Get().Namespace(ns).Resource("deployments").Name("web"), 1},
		} {
			t.Run(tt.name, func(t *testing.T) {
				raw := must[[]byte](t)(tt.req.SetHeader("Accept", asTable+",application/json").Do(ctx(t)).Raw())
				var table metav1.Table
				must[struct{}](t)(struct{}{}, json.Unmarshal(raw, &table))
				if table.Kind != "Table" || table.APIVersion != "meta.k8s.io/v1" {
					t.Fatalf("got %s %s, want meta.k8s.io/v1 Table", table.APIVersion, table.Kind)
				}
				var cols []string
				for _, col := range table.ColumnDefinitions {
					cols = append(cols, col.Name)
				}
				if want := []string{"Name", "Ready", "Up-to-date", "Available", "Age"}; len(cols) < len(want) || !slices.Equal(cols[:len(want)], want) {
					t.Errorf("columns %v, want %v first", cols, want)
				}
				if len(table.Rows) != tt.rows {
					t.Fatalf("%d rows, want %d", len(table.Rows), tt.rows)
				}
				for _, row := range table.Rows {
					if len(row.Cells) != len(cols) {
						t.Errorf("row has %d cells for %d columns", len(row.Cells), len(cols))
					}
					var obj metav1.PartialObjectMetadata
					must[struct{}](t)(struct{}{}, json.Unmarshal(row.Object.Raw, &obj))
					if obj.Kind != "PartialObjectMetadata" || obj.Name != row.Cells[0] {
						t.Errorf("row object %s %q for row %v", obj.Kind, obj.Name, row.Cells)
					}
				}
				if table.ResourceVersion == "" {
					t.Error("table has no resourceVersion")
				}
			})
		}
	})

	t.Run("PartialObjectMetadata", func(t *testing.T) {
		mc := must[metadata.Interface](t)(metadata.NewForConfig(c.Config))
		gvr := appsv1.SchemeGroupVersion.WithResource("deployments")
		list := must[*metav1.PartialObjectMetadataList](t)(mc.Resource(gvr).Namespace(ns).List(ctx(t), metav1.ListOptions{}))
		var names []string
		for _, it := range list.Items {
			names = append(names, it.Name)
			if it.UID == "" || it.Labels["tier"] != it.Name {
				t.Errorf("item %s: uid %q labels %v", it.Name, it.UID, it.Labels)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"api", "web"}) || list.ResourceVersion == "" {
			t.Errorf("list names %v rv %q", names, list.ResourceVersion)
		}
		one := must[*metav1.PartialObjectMetadata](t)(mc.Resource(gvr).Namespace(ns).Get(ctx(t), "web", metav1.GetOptions{}))
		if one.Name != "web" || one.Generation != 1 {
			t.Errorf("get: %+v", one.ObjectMeta)
		}
		w := must[watch.Interface](t)(mc.Resource(gvr).Namespace(ns).Watch(ctx(t), metav1.ListOptions{ResourceVersion: list.ResourceVersion}))
		defer w.Stop()
		must[*appsv1.Deployment](t)(c.Client.AppsV1().Deployments(ns).Create(ctx(t), testDeployment(metav1.ObjectMeta{Name: "db"}), metav1.CreateOptions{}))
		ev := nextNonBookmark(t, w)
		if p, ok := ev.Object.(*metav1.PartialObjectMetadata); ev.Type != watch.Added || !ok || p.Name != "db" {
			t.Errorf("metadata watch event %s %#v", ev.Type, ev.Object)
		}
	})
}
