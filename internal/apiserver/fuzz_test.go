package apiserver_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The fuzz tests drive the API server's HTTP handler in the test process
// (no network) against a real etcd, and require that no request body,
// however malformed, panics the server or earns a 5xx: bad input is the
// client's fault and must be answered with a 4xx Status.
//
//	go test -run '^$' -fuzz FuzzCreate -fuzztime 30s ./internal/apiserver
//	go test -run '^$' -fuzz FuzzPatch -fuzztime 30s ./internal/apiserver
//
// The seeds are in testdata/fuzz, named for what they exercise
// (json_replace_root_without_value once panicked the JSON patch library).

var fuzzContentTypes = []string{
	"application/json",
	"application/yaml",
	"application/vnd.kubernetes.protobuf",
	"application/json;charset=utf-8",
	"text/plain",
	"",
}

var fuzzCollections = []string{
	"/api/v1/namespaces/default/configmaps",
	"/api/v1/namespaces/default/pods",
	"/api/v1/namespaces/default/services",
	"/apis/apps/v1/namespaces/default/deployments",
	"/api/v1/namespaces",
	"/api/v1/namespaces/default/pods/target/binding",
	"/api/v1/namespaces/default/pods/target/eviction",
}

// serve runs one request through the handler and fails on a panic or 5xx.
func serve(t *testing.T, h http.Handler, method, path, contentType string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 || rec.Code < 200 || rec.Code >= 300 && rec.Code < 400 {
		t.Fatalf("%s %s (%s) %q: %d %s", method, path, contentType, body, rec.Code, rec.Body.String())
	}
	return rec
}

func FuzzCreate(f *testing.F) {
	e := startEnv(f)
	f.Fuzz(func(t *testing.T, ct, coll uint8, body []byte) {
		path := fuzzCollections[int(coll)%len(fuzzCollections)]
		serve(t, e.handler, http.MethodPost, path, fuzzContentTypes[int(ct)%len(fuzzContentTypes)], body)
	})
}

var fuzzPatchTypes = []string{
	"application/json-patch+json",
	"application/merge-patch+json",
	"application/strategic-merge-patch+json",
	"application/apply-patch+yaml",
	"application/json",
}

var fuzzTargets = []string{
	"/api/v1/namespaces/default/configmaps/target",
	"/apis/apps/v1/namespaces/default/deployments/target",
	"/apis/apps/v1/namespaces/default/deployments/target/status",
	"/apis/apps/v1/namespaces/default/deployments/target/scale",
	"/api/v1/namespaces/default/services/target",
	"/api/v1/namespaces/default/pods/target",
}

func FuzzPatch(f *testing.F) {
	e := startEnv(f)
	bg := f.Context()
	if _, err := e.client.CoreV1().ConfigMaps("default").Create(bg, configMap("target", "1", nil), metav1.CreateOptions{}); err != nil {
		f.Fatal(err)
	}
	if _, err := e.client.AppsV1().Deployments("default").Create(bg, testDeployment(metav1.ObjectMeta{Name: "target"}), metav1.CreateOptions{}); err != nil {
		f.Fatal(err)
	}
	if _, err := e.client.CoreV1().Services("default").Create(bg, service("target", corev1.ServiceTypeNodePort, ""), metav1.CreateOptions{}); err != nil {
		f.Fatal(err)
	}
	if _, err := e.client.CoreV1().Pods("default").Create(bg, testPod(metav1.ObjectMeta{Name: "target"}), metav1.CreateOptions{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pt, target uint8, force bool, body []byte) {
		path := fuzzTargets[int(target)%len(fuzzTargets)] + "?fieldManager=fuzz"
		if force {
			path += "&force=true"
		}
		serve(t, e.handler, http.MethodPatch, path, fuzzPatchTypes[int(pt)%len(fuzzPatchTypes)], body)
	})
}
