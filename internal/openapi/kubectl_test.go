package openapi_test

// These tests feed the documents to the client code kubectl runs, over HTTP,
// so a document kubectl would reject fails here rather than in e2e.

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/openapi"
	openapiv3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	clientopenapi "k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"
)

var (
	deploymentGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	podGVK        = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	configMapGVK  = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
)

var sharedDocs = sync.OnceValues(func() (*openapi.Documents, error) { return openapi.New(api.NewRegistry()) })

// serve starts an HTTP server for the documents and returns a client config for it.
func serve(t *testing.T) *rest.Config {
	t.Helper()
	docs, err := sharedDocs()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(docs)
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func discoveryClient(t *testing.T, cfg *rest.Config) *discovery.DiscoveryClient {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

func v3Client(t *testing.T, cfg *rest.Config) clientopenapi.Client {
	t.Helper()
	return clientopenapi.NewClient(discoveryClient(t, cfg).RESTClient())
}

func TestClientGoOpenAPIV3Client(t *testing.T) {
	client := v3Client(t, serve(t))
	paths, err := client.Paths()
	if err != nil {
		t.Fatalf("Paths: %v", err)
	}
	for _, gv := range api.NewRegistry().GroupVersions() {
		key := "apis/" + gv.Group + "/" + gv.Version
		if gv.Group == "" {
			key = "api/" + gv.Version
		}
		if _, found := paths[key]; !found {
			t.Errorf("Paths() lacks %s", key)
		}
	}
	apps := paths["apis/apps/v1"]
	if apps == nil {
		t.Fatal("Paths() lacks apis/apps/v1")
	}
	if u := apps.ServerRelativeURL(); !strings.HasPrefix(u, "/openapi/v3/apis/apps/v1?hash=") {
		t.Errorf("ServerRelativeURL %q", u)
	}
	raw, err := apps.Schema("application/json")
	if err != nil || !json.Valid(raw) {
		t.Fatalf("Schema(json): %v", err)
	}
	pb, err := apps.Schema(clientopenapi.ContentTypeOpenAPIV3PB)
	if err != nil {
		t.Fatalf("Schema(protobuf): %v", err)
	}
	var doc openapiv3.Document
	if err := proto.Unmarshal(pb, &doc); err != nil {
		t.Fatalf("protobuf document: %v", err)
	}
	found := false
	for _, named := range doc.GetComponents().GetSchemas().GetAdditionalProperties() {
		found = found || named.GetName() == "io.k8s.api.apps.v1.Deployment"
	}
	if !found {
		t.Error("protobuf document lacks io.k8s.api.apps.v1.Deployment")
	}
}

func TestOpenAPI3RootFindsDeployment(t *testing.T) {
	root := openapi3.NewRoot(v3Client(t, serve(t)))
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatalf("GroupVersions: %v", err)
	}
	if len(gvs) != len(api.NewRegistry().GroupVersions()) {
		t.Errorf("GroupVersions() = %v", gvs)
	}
	doc, err := root.GVSpec(deploymentGVK.GroupVersion())
	if err != nil {
		t.Fatalf("GVSpec(apps/v1): %v", err)
	}
	s := doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]
	if s == nil {
		t.Fatal("apps/v1 has no io.k8s.api.apps.v1.Deployment")
	}
	var gvks []map[string]string
	if err := s.Extensions.GetObject("x-kubernetes-group-version-kind", &gvks); err != nil || len(gvks) != 1 ||
		gvks[0]["group"] != "apps" || gvks[0]["version"] != "v1" || gvks[0]["kind"] != "Deployment" {
		t.Errorf("Deployment x-kubernetes-group-version-kind = %v (%v)", gvks, err)
	}
	if _, err := root.GVSpec(schema.GroupVersion{Group: "apps", Version: "v1beta1"}); err == nil {
		t.Error("GVSpec(apps/v1beta1) found a document for a group/version that is not served")
	}
}

func TestKubectlExplain(t *testing.T) {
	client := v3Client(t, serve(t))
	tests := []struct {
		gvr   schema.GroupVersionResource
		field []string
		want  []string
	}{
		{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, []string{"spec", "replicas"},
			[]string{"GROUP:      apps", "KIND:       Deployment", "FIELD: replicas <integer>", "Number of desired pods"}},
		{schema.GroupVersionResource{Version: "v1", Resource: "pods"}, []string{"spec", "containers"},
			[]string{"KIND:       Pod", "FIELD: containers <[]Container>", "List of containers belonging to the pod", "image\t<string>"}},
		{schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}, nil,
			[]string{"KIND:       CronJob", "CronJob represents the configuration of a single cron job", "spec\t<CronJobSpec>"}},
	}
	for _, tt := range tests {
		t.Run(tt.gvr.String()+"/"+strings.Join(tt.field, "."), func(t *testing.T) {
			var out bytes.Buffer
			if err := explainv2.PrintModelDescription(tt.field, &out, client, tt.gvr, false, 0, "plaintext"); err != nil {
				t.Fatalf("explain: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("explain output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
		err := explainv2.PrintModelDescription([]string{"spec", "nosuchfield"}, &bytes.Buffer{}, client, gvr, false, 0, "plaintext")
		if err == nil {
			t.Error("explain of an unknown field succeeded")
		}
	})
}

// v2Resources fetches /openapi/v2 as protobuf, as kubectl does, and parses it
// with kubectl's OpenAPI v2 model.
func v2Resources(t *testing.T) kubectlopenapi.Resources {
	t.Helper()
	doc, err := discoveryClient(t, serve(t)).OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema (protobuf): %v", err)
	}
	resources, err := kubectlopenapi.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("NewOpenAPIData: %v", err)
	}
	return resources
}

type resourcesGetter struct{ kubectlopenapi.Resources }

func (g resourcesGetter) OpenAPISchema() (kubectlopenapi.Resources, error) { return g.Resources, nil }

func TestKubectlOpenAPIV2(t *testing.T) {
	resources := v2Resources(t)

	t.Run("kinds by GVK", func(t *testing.T) {
		for _, r := range api.NewRegistry().All() {
			if resources.LookupResource(r.GroupVersionKind()) == nil {
				t.Errorf("LookupResource(%v) = nil", r.GroupVersionKind())
			}
		}
		pod := resources.LookupResource(podGVK)
		if pod == nil || !strings.Contains(pod.GetDescription(), "Pod is a collection of containers") {
			t.Errorf("Pod schema description: %v", pod)
		}
	})

	t.Run("PATCH accepts strategic merge patch", func(t *testing.T) {
		consumes := resources.GetConsumes(deploymentGVK, "PATCH")
		if !contains(consumes, "application/strategic-merge-patch+json") {
			t.Errorf("GetConsumes(Deployment, PATCH) = %v", consumes)
		}
	})

	t.Run("strategic merge by container name", func(t *testing.T) {
		// kubectl apply computes patches with the v2 patch metadata; without
		// x-kubernetes-patch-merge-key the list would be replaced.
		meta := strategicpatch.NewPatchMetaFromOpenAPI(resources.LookupResource(deploymentGVK))
		original := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]}}}}`)
		patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"b:2"}]}}}}`)
		merged, err := strategicpatch.StrategicMergePatchUsingLookupPatchMeta(original, patch, meta)
		if err != nil {
			t.Fatalf("strategic merge: %v", err)
		}
		want := `{"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:2","name":"b"}]}}}}`
		if string(merged) != want {
			t.Errorf("merged = %s\nwant     %s", merged, want)
		}
	})

	t.Run("client-side validation", func(t *testing.T) {
		v := validation.NewSchemaValidation(resourcesGetter{resources})
		good := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx"}]}}}}`
		if err := v.ValidateBytes([]byte(good)); err != nil {
			t.Errorf("valid Deployment rejected: %v", err)
		}
		bad := strings.Replace(good, `"image":"nginx"`, `"image":"nginx","imagePullPolice":"Always"`, 1)
		if err := v.ValidateBytes([]byte(bad)); err == nil || !strings.Contains(err.Error(), "imagePullPolice") {
			t.Errorf("unknown field accepted: %v", err)
		}
	})
}

func TestQueryParamVerifierV3DetectsFieldValidation(t *testing.T) {
	cfg := serve(t)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	verifier := resource.NewQueryParamVerifierV3(dyn, v3Client(t, cfg), resource.QueryParamFieldValidation)
	for _, gvk := range []schema.GroupVersionKind{deploymentGVK, configMapGVK, podGVK} {
		if err := verifier.HasSupport(gvk); err != nil {
			t.Errorf("HasSupport(%v): %v", gvk, err)
		}
	}
	// A kind that is not served is not supported: the verifier can fail.
	unserved := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
	if err := verifier.HasSupport(unserved); err == nil {
		t.Errorf("HasSupport(%v) succeeded for a kind that is not served", unserved)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
