package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/api"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Building documents takes a few hundred milliseconds; tests that only
// read them share one build.
var shared = sync.OnceValues(func() (*Documents, error) { return New(api.NewRegistry()) })

func testDocuments(t *testing.T) *Documents {
	t.Helper()
	d, err := shared()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// built returns d's documents, building them if no request has yet.
func built(t *testing.T, d *Documents) (v2 *document, v3 *v3Documents) {
	t.Helper()
	v2, err := d.v2()
	if err != nil {
		t.Fatalf("v2: %v", err)
	}
	if v3, err = d.v3(); err != nil {
		t.Fatalf("v3: %v", err)
	}
	return v2, v3
}

// get serves one request and returns the response with its body read.
func get(t *testing.T, h http.Handler, target string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

type v3Index struct {
	Paths map[string]struct {
		ServerRelativeURL string `json:"serverRelativeURL"`
	} `json:"paths"`
}

func TestIndexListsEveryDocument(t *testing.T) {
	d := testDocuments(t)
	reg := api.NewRegistry()
	res, body := get(t, d, "/openapi/v3", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi/v3: %s", res.Status)
	}
	var index v3Index
	if err := json.Unmarshal(body, &index); err != nil {
		t.Fatalf("index: %v", err)
	}
	_, v3 := built(t, d)
	want := map[string]bool{"api": true, "apis": true, "version": true}
	for _, gv := range reg.GroupVersions() {
		want[docKey(gv)] = true
		if gv.Group != "" {
			want["apis/"+gv.Group] = true
		}
	}
	for key := range want {
		entry, found := index.Paths[key]
		if !found {
			t.Errorf("index has no %q", key)
			continue
		}
		if u := entry.ServerRelativeURL; u != "/openapi/v3/"+key+"?hash="+v3.docs[key].etag {
			t.Errorf("%s: serverRelativeURL %q", key, u)
		}
		// Every listed document is served at its address.
		if res, _ := get(t, d, entry.ServerRelativeURL, nil); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", entry.ServerRelativeURL, res.Status)
		}
	}
	if len(index.Paths) != len(want) {
		t.Errorf("index has %d documents, want %d", len(index.Paths), len(want))
	}
}

// v3Doc fetches and parses the v3 document of gv.
func v3Doc(t *testing.T, d *Documents, gv schema.GroupVersion) *spec3.OpenAPI {
	t.Helper()
	res, body := get(t, d, "/openapi/v3/"+docKey(gv), nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", docKey(gv), res.Status)
	}
	var doc spec3.OpenAPI
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%s: %v", docKey(gv), err)
	}
	return &doc
}

// gvkList reads an x-kubernetes-group-version-kind extension, whether it is
// a list (schemas) or a single object (operations).
func gvkList(t *testing.T, ext spec.Extensions) []schema.GroupVersionKind {
	t.Helper()
	var list []map[string]string
	if err := ext.GetObject(extGVK, &list); err != nil {
		var one map[string]string
		if err := ext.GetObject(extGVK, &one); err != nil || one == nil {
			return nil
		}
		list = []map[string]string{one}
	}
	out := make([]schema.GroupVersionKind, 0, len(list))
	for _, m := range list {
		out = append(out, schema.GroupVersionKind{Group: m["group"], Version: m["version"], Kind: m["kind"]})
	}
	return out
}

func hasGVK(list []schema.GroupVersionKind, gvk schema.GroupVersionKind) bool {
	for _, g := range list {
		if g == gvk {
			return true
		}
	}
	return false
}

func queryParams(p *spec3.Path, op *spec3.Operation) map[string]bool {
	out := map[string]bool{}
	for _, list := range [][]*spec3.Parameter{p.Parameters, op.Parameters} {
		for _, prm := range list {
			if prm.In == "query" {
				out[prm.Name] = true
			}
		}
	}
	return out
}

// TestV3DocumentsDescribeEveryResource checks, for every served resource,
// its schema, its GVK tag and each operation kubectl and client-go rely on.
func TestV3DocumentsDescribeEveryResource(t *testing.T) {
	d := testDocuments(t)
	reg := api.NewRegistry()
	docs := map[schema.GroupVersion]*spec3.OpenAPI{}
	for _, gv := range reg.GroupVersions() {
		docs[gv] = v3Doc(t, d, gv)
	}
	deleteOptions := "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"

	for _, r := range reg.All() {
		t.Run(r.GVR.String(), func(t *testing.T) {
			gv := r.GVR.GroupVersion()
			doc := docs[gv]
			model := util.GetCanonicalTypeName(r.New())
			if !strings.HasPrefix(model, "io.k8s.api.") {
				t.Errorf("model name %q is not an io.k8s.api name", model)
			}
			s := doc.Components.Schemas[model]
			if s == nil {
				t.Fatalf("no schema %s", model)
			}
			if !hasGVK(gvkList(t, s.Extensions), r.GroupVersionKind()) {
				t.Errorf("schema %s lacks %s in %s", model, r.GroupVersionKind(), extGVK)
			}
			if s.Description == "" || s.Properties["metadata"].Description == "" {
				t.Errorf("schema %s has no descriptions", model)
			}
			if !hasGVK(gvkList(t, doc.Components.Schemas[deleteOptions].Extensions), gv.WithKind("DeleteOptions")) {
				t.Errorf("DeleteOptions lacks the kind %s", gv.WithKind("DeleteOptions"))
			}

			collection := gvPath(gv) + "/" + r.GVR.Resource
			if r.Namespaced {
				collection = gvPath(gv) + "/namespaces/{namespace}/" + r.GVR.Resource
			}
			item := collection + "/{name}"
			watch := func(p string) string { return strings.Replace(p, gvPath(gv)+"/", gvPath(gv)+"/watch/", 1) }
			type want struct {
				path, method, action string
				gvk                  schema.GroupVersionKind
				params               []string
			}
			listParams := []string{"pretty", "labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch", "watch", "allowWatchBookmarks", "timeoutSeconds", "sendInitialEvents"}
			writeParams := []string{"pretty", "dryRun", "fieldManager", "fieldValidation"}
			wants := []want{
				{collection, "GET", "list", r.GroupVersionKind(), listParams},
				{collection, "POST", "post", r.GroupVersionKind(), writeParams},
				{collection, "DELETE", "deletecollection", r.GroupVersionKind(), []string{"dryRun", "gracePeriodSeconds", "propagationPolicy", "labelSelector", "limit"}},
				{watch(collection), "GET", "watchlist", r.GroupVersionKind(), listParams},
				{item, "GET", "get", r.GroupVersionKind(), []string{"pretty"}},
				{item, "PUT", "put", r.GroupVersionKind(), writeParams},
				{item, "PATCH", "patch", r.GroupVersionKind(), append(writeParams, "force")},
				{item, "DELETE", "delete", r.GroupVersionKind(), []string{"dryRun", "gracePeriodSeconds", "propagationPolicy", "orphanDependents"}},
				{watch(item), "GET", "watch", r.GroupVersionKind(), listParams},
			}
			if r.Namespaced {
				wants = append(wants, want{gvPath(gv) + "/" + r.GVR.Resource, "GET", "list", r.GroupVersionKind(), listParams})
			}
			for _, sub := range r.Subresources {
				_, subGVK, verbs, served := subresourceKind(r, sub)
				if !served {
					continue
				}
				for _, verb := range verbs {
					action := map[string]string{"GET": "get", "PUT": "put", "PATCH": "patch", "POST": "post"}[verb]
					wants = append(wants, want{item + "/" + sub, verb, action, subGVK, []string{"pretty"}})
				}
			}
			for _, w := range wants {
				p := doc.Paths.Paths[w.path]
				if p == nil {
					t.Errorf("no path %s", w.path)
					continue
				}
				op := map[string]*spec3.Operation{"GET": p.Get, "POST": p.Post, "PUT": p.Put, "PATCH": p.Patch, "DELETE": p.Delete}[w.method]
				if op == nil {
					t.Errorf("%s %s: no operation", w.method, w.path)
					continue
				}
				if a, _ := op.Extensions.GetString(extAction); a != w.action {
					t.Errorf("%s %s: %s = %q, want %q", w.method, w.path, extAction, a, w.action)
				}
				if g := gvkList(t, op.Extensions); len(g) != 1 || g[0] != w.gvk {
					t.Errorf("%s %s: %s = %v, want %v", w.method, w.path, extGVK, g, w.gvk)
				}
				if op.OperationId == "" || op.Description == "" {
					t.Errorf("%s %s: operationId %q, description %q", w.method, w.path, op.OperationId, op.Description)
				}
				got := queryParams(p, op)
				for _, name := range w.params {
					if !got[name] {
						t.Errorf("%s %s: no query parameter %s", w.method, w.path, name)
					}
				}
				if w.method == "PATCH" {
					// kubectl looks for fieldValidation on the operation itself.
					found := false
					for _, prm := range op.Parameters {
						found = found || (prm.Name == "fieldValidation" && prm.In == "query")
					}
					if !found {
						t.Errorf("PATCH %s: fieldValidation is not an operation parameter", w.path)
					}
					if op.RequestBody == nil || op.RequestBody.Content["application/apply-patch+yaml"] == nil {
						t.Errorf("PATCH %s: does not accept application/apply-patch+yaml", w.path)
					}
				}
			}
		})
	}
}

func TestOperationIDsMatchKubernetes(t *testing.T) {
	d := testDocuments(t)
	tests := []struct {
		gv                 schema.GroupVersion
		path, method, want string
	}{
		{schema.GroupVersion{Version: "v1"}, "/api/v1/namespaces/{namespace}/pods", "GET", "listCoreV1NamespacedPod"},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/pods", "GET", "listCoreV1PodForAllNamespaces"},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/namespaces/{namespace}/pods/{name}/binding", "POST", "createCoreV1NamespacedPodBinding"},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/nodes/{name}/status", "PATCH", "patchCoreV1NodeStatus"},
		{schema.GroupVersion{Group: "apps", Version: "v1"}, "/apis/apps/v1/namespaces/{namespace}/deployments", "DELETE", "deleteAppsV1CollectionNamespacedDeployment"},
		{schema.GroupVersion{Group: "apps", Version: "v1"}, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "PUT", "replaceAppsV1NamespacedDeploymentScale"},
		{schema.GroupVersion{Group: "apps", Version: "v1"}, "/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}", "GET", "watchAppsV1NamespacedDeployment"},
		{schema.GroupVersion{Group: "rbac.authorization.k8s.io", Version: "v1"}, "/apis/rbac.authorization.k8s.io/v1/clusterroles", "POST", "createRbacAuthorizationV1ClusterRole"},
		{schema.GroupVersion{Group: "apps", Version: "v1"}, "/apis/apps/v1/", "GET", "getAppsV1APIResources"},
	}
	docs := map[schema.GroupVersion]*spec3.OpenAPI{}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if docs[tt.gv] == nil {
				docs[tt.gv] = v3Doc(t, d, tt.gv)
			}
			p := docs[tt.gv].Paths.Paths[tt.path]
			if p == nil {
				t.Fatalf("no path %s", tt.path)
			}
			op := map[string]*spec3.Operation{"GET": p.Get, "POST": p.Post, "PUT": p.Put, "PATCH": p.Patch, "DELETE": p.Delete}[tt.method]
			if op == nil || op.OperationId != tt.want {
				t.Errorf("%s %s: operation %+v, want ID %s", tt.method, tt.path, op, tt.want)
			}
		})
	}
}

func TestSchemasCarryMergeExtensions(t *testing.T) {
	doc := v3Doc(t, testDocuments(t), schema.GroupVersion{Version: "v1"})
	tests := []struct {
		model, field string
		want         map[string]interface{}
	}{
		{"io.k8s.api.core.v1.PodSpec", "containers", map[string]interface{}{
			"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": []interface{}{"name"},
			"x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"}},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", map[string]interface{}{
			"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": []interface{}{"uid"},
			"x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "uid"}},
		{"io.k8s.api.core.v1.PodSpec", "nodeSelector", map[string]interface{}{"x-kubernetes-map-type": "atomic"}},
		{"io.k8s.api.core.v1.Container", "args", map[string]interface{}{"x-kubernetes-list-type": "atomic"}},
	}
	for _, tt := range tests {
		t.Run(tt.model+"."+tt.field, func(t *testing.T) {
			s := doc.Components.Schemas[tt.model]
			if s == nil {
				t.Fatalf("no schema %s", tt.model)
			}
			ext := s.Properties[tt.field].Extensions
			for k, v := range tt.want {
				got, _ := json.Marshal(ext[k])
				want, _ := json.Marshal(v)
				if string(got) != string(want) {
					t.Errorf("%s = %s, want %s", k, got, want)
				}
			}
		})
	}
}

func TestServeHTTP(t *testing.T) {
	d := testDocuments(t)
	v2, v3 := built(t, d)
	apps := v3.docs["apis/apps/v1"]
	tests := []struct {
		name        string
		target      string
		header      map[string]string
		wantStatus  int
		wantType    string
		wantHeaders map[string]string
		check       func(t *testing.T, res *http.Response, body []byte)
	}{
		{name: "v2 JSON", target: "/openapi/v2", wantStatus: 200, wantType: "application/json",
			check: isJSONWith(`"swagger":"2.0"`)},
		{name: "v2 protobuf", target: "/openapi/v2", header: map[string]string{"Accept": v2ProtoAsked}, wantStatus: 200, wantType: v2ProtoAnswer},
		{name: "v3 index", target: "/openapi/v3", wantStatus: 200, wantType: "application/json", check: isJSONWith(`"paths"`)},
		{name: "v3 document", target: "/openapi/v3/apis/apps/v1", wantStatus: 200, wantType: "application/json",
			wantHeaders: map[string]string{"Etag": `"` + apps.etag + `"`}, check: isJSONWith(`"openapi":"3.0.0"`)},
		{name: "v3 protobuf", target: "/openapi/v3/apis/apps/v1", header: map[string]string{"Accept": v3ProtoAsked}, wantStatus: 200, wantType: v3ProtoAnswer},
		{name: "v3 JSON preferred by q", target: "/openapi/v3/api/v1", header: map[string]string{"Accept": v3ProtoAsked + ";q=0.5, application/json"}, wantStatus: 200, wantType: "application/json"},
		{name: "hash makes it immutable", target: "/openapi/v3/apis/apps/v1?hash=" + apps.etag, wantStatus: 200,
			wantHeaders: map[string]string{"Cache-Control": "public, immutable"}},
		{name: "stale hash redirects", target: "/openapi/v3/apis/apps/v1?hash=0BAD", wantStatus: http.StatusMovedPermanently,
			wantHeaders: map[string]string{"Location": "/openapi/v3/apis/apps/v1?hash=" + apps.etag}},
		{name: "If-None-Match", target: "/openapi/v3/apis/apps/v1", header: map[string]string{"If-None-Match": `"` + apps.etag + `"`}, wantStatus: http.StatusNotModified},
		{name: "If-None-Match v2", target: "/openapi/v2", header: map[string]string{"If-None-Match": `"` + v2.etag + `"`}, wantStatus: http.StatusNotModified},
		{name: "gzip", target: "/openapi/v2", header: map[string]string{"Accept-Encoding": "gzip"}, wantStatus: 200,
			wantHeaders: map[string]string{"Content-Encoding": "gzip"},
			check: func(t *testing.T, _ *http.Response, body []byte) {
				if raw, err := decompress(body); err != nil || !json.Valid(raw) {
					t.Errorf("gzip body does not decompress to JSON: %v", err)
				}
			}},
		{name: "gzip refused", target: "/openapi/v2", header: map[string]string{"Accept-Encoding": "gzip;q=0, identity"}, wantStatus: 200,
			wantHeaders: map[string]string{"Content-Encoding": ""}, check: isJSONWith(`"swagger"`)},
		{name: "unknown group version", target: "/openapi/v3/apis/apps/v2", wantStatus: 404},
		{name: "unknown path", target: "/openapi/v4", wantStatus: 404},
		{name: "not acceptable", target: "/openapi/v2", header: map[string]string{"Accept": "text/html"}, wantStatus: http.StatusNotAcceptable},
		{name: "index is always JSON", target: "/openapi/v3", header: map[string]string{"Accept": "application/vnd.kubernetes.protobuf"}, wantStatus: 200, wantType: "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, d, tt.target, tt.header)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status %s, want %d", res.Status, tt.wantStatus)
			}
			if tt.wantType != "" && res.Header.Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tt.wantType)
			}
			for k, v := range tt.wantHeaders {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tt.check != nil {
				tt.check(t, res, body)
			}
		})
	}

	t.Run("POST", func(t *testing.T) {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/openapi/v2", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("status %d, want 405", rec.Code)
		}
	})
}

func isJSONWith(fragment string) func(t *testing.T, res *http.Response, body []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		if !json.Valid(body) {
			t.Fatalf("body is not JSON: %.100q", body)
		}
		if !strings.Contains(string(body), fragment) {
			t.Errorf("body lacks %s", fragment)
		}
	}
}

func TestNewIsDeterministic(t *testing.T) {
	a := testDocuments(t)
	b, err := New(api.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	av2, av3 := built(t, a)
	bv2, bv3 := built(t, b)
	if av2.etag != bv2.etag {
		t.Errorf("v2 document differs between builds")
	}
	for key, doc := range av3.docs {
		if bv3.docs[key].etag != doc.etag {
			t.Errorf("v3 document %s differs between builds", key)
		}
	}
	if av3.index.etag != bv3.index.etag {
		t.Errorf("v3 index differs between builds")
	}
}

// TestHeapCost measures what New costs (it builds nothing) and what the
// documents keep alive once built. The bounds guard the design (lazy
// building; compressed bytes, no object graphs); the log gives the figures.
func TestHeapCost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the documents; skipped with -short")
	}
	reg := api.NewRegistry()
	var before, afterNew, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&afterNew)
	built(t, d)
	runtime.GC()
	runtime.ReadMemStats(&after)
	allocatedByNew := afterNew.TotalAlloc - before.TotalAlloc
	retained := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("New: allocated %d KiB; building: retained heap %d KiB, allocated %d MiB in total",
		allocatedByNew>>10, retained>>10, (after.TotalAlloc-afterNew.TotalAlloc)>>20)
	const (
		newLimit    = 4 << 20
		retainLimit = 6 << 20
	)
	if allocatedByNew > newLimit {
		t.Errorf("New allocates %d KiB, want under %d KiB: it should leave the documents to their first request", allocatedByNew>>10, newLimit>>10)
	}
	if retained > retainLimit {
		t.Errorf("documents retain %d KiB, want under %d KiB", retained>>10, retainLimit>>10)
	}
	runtime.KeepAlive(d)
}
