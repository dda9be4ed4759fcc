package apiserver_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/gantry-dev/gantry/internal/auth"
)

func TestErrors(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	rc := c.Client.CoreV1().RESTClient()

	t.Run("unknown resource", func(t *testing.T) {
		dyn := must[*dynamic.DynamicClient](t)(dynamic.NewForConfig(c.Config))
		for _, gvr := range []schema.GroupVersionResource{
			{Version: "v1", Resource: "widgets"},
			{Group: "apps", Version: "v1", Resource: "widgets"},
			{Group: "apps", Version: "v9", Resource: "deployments"},
			{Group: "example.com", Version: "v1", Resource: "widgets"},
		} {
			t.Run(gvr.String(), func(t *testing.T) {
				_, err := dyn.Resource(gvr).Namespace(ns).List(ctx(t), metav1.ListOptions{})
				wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
			})
		}
		t.Run("cluster-scoped resource under a namespace", func(t *testing.T) {
			err := rc.Get().AbsPath("/api/v1/namespaces/default/nodes").Do(ctx(t)).Error()
			wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
		})
		t.Run("path outside the API", func(t *testing.T) {
			err := rc.Get().AbsPath("/nothing/here").Do(ctx(t)).Error()
			wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
		})
		// As from kube-apiserver: a plain-text 404, from which client-go
		// makes a Status naming what was asked for (kubectl reads it).
		t.Run("unknown subresource", func(t *testing.T) {
			err := rc.Patch(types.MergePatchType).Namespace(ns).Resource("pods").Name("p1").SubResource("nosuch").Body([]byte(`{}`)).Do(ctx(t)).Error()
			wantAPIError(t, err, 404, metav1.StatusReasonNotFound, "the server could not find the requested resource")
			var se *apierrors.StatusError
			if !errors.As(err, &se) || se.ErrStatus.Details == nil || se.ErrStatus.Details.Name != "p1" || se.ErrStatus.Details.Kind != "pods" {
				t.Errorf("status of an unknown subresource: %+v, want details naming pods p1", se)
			}
			body, err := rc.Get().AbsPath("/api/v1/widgets").DoRaw(ctx(t))
			if string(body) != "404 page not found\n" {
				t.Errorf("body of an unknown resource's 404 = %q (%v)", body, err)
			}
		})
	})

	t.Run("request bodies", func(t *testing.T) {
		post := func(contentType string, body []byte) error {
			return rc.Post().Namespace(ns).Resource("configmaps").SetHeader("Content-Type", contentType).Body(body).Do(ctx(t)).Error()
		}
		tests := []struct {
			name        string
			contentType string
			body        string
			code        int32
			reason      metav1.StatusReason
			msg         string
		}{
			{"malformed JSON", "application/json", `{"metadata": {`, 400, metav1.StatusReasonBadRequest, ""},
			{"wrong JSON type", "application/json", `{"metadata": "x"}`, 400, metav1.StatusReasonBadRequest, ""},
			{"malformed YAML", "application/yaml", "metadata: [", 400, metav1.StatusReasonBadRequest, ""},
			{"malformed protobuf", "application/vnd.kubernetes.protobuf", "k8s\x00garbage", 400, metav1.StatusReasonBadRequest, ""},
			{"another kind", "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, 400, metav1.StatusReasonBadRequest, ""},
			{"unregistered kind", "application/json", `{"apiVersion":"v1","kind":"Widget","metadata":{"name":"s"}}`, 400, metav1.StatusReasonBadRequest, ""},
			{"unsupported media type", "text/plain", `hello`, 415, metav1.StatusReasonUnsupportedMediaType, ""},
			{"no name", "application/json", `{"apiVersion":"v1","kind":"ConfigMap"}`, 422, metav1.StatusReasonInvalid, "metadata.name"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantAPIError(t, post(tt.contentType, []byte(tt.body)), tt.code, tt.reason, tt.msg)
			})
		}
		t.Run("body over 3 MiB", func(t *testing.T) {
			big := configMap("big", strings.Repeat("x", 3<<20+1), nil)
			_, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx(t), big, metav1.CreateOptions{})
			if !apierrors.IsRequestEntityTooLargeError(err) {
				t.Fatalf("err = %v, want 413 RequestEntityTooLarge", err)
			}
			wantAPIError(t, err, 413, metav1.StatusReasonRequestEntityTooLarge)
		})
		t.Run("object too large to store", func(t *testing.T) {
			// Under the request limit, over what etcd accepts (1.5 MiB).
			cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "huge"}}
			for range 2000 {
				cr.Rules = append(cr.Rules, rbacv1.PolicyRule{Verbs: []string{strings.Repeat("v", 1000)}, APIGroups: []string{""}, Resources: []string{"x"}})
			}
			_, err := c.Client.RbacV1().ClusterRoles().Create(ctx(t), cr, metav1.CreateOptions{})
			wantAPIError(t, err, 413, metav1.StatusReasonRequestEntityTooLarge)
		})
		t.Run("name mismatch on update", func(t *testing.T) {
			must[*corev1.ConfigMap](t)(c.Client.CoreV1().ConfigMaps(ns).Create(ctx(t), configMap("a", "1", nil), metav1.CreateOptions{}))
			err := rc.Put().Namespace(ns).Resource("configmaps").Name("a").Body(configMap("b", "1", nil)).Do(ctx(t)).Error()
			wantAPIError(t, err, 400, metav1.StatusReasonBadRequest, "does not match the name")
		})
		t.Run("method not allowed", func(t *testing.T) {
			err := rc.Post().Namespace(ns).Resource("configmaps").Name("a").Body(configMap("a", "1", nil)).Do(ctx(t)).Error()
			wantAPIError(t, err, 405, metav1.StatusReasonMethodNotAllowed)
		})
	})

	t.Run("validation reports field paths", func(t *testing.T) {
		d := testDeployment(metav1.ObjectMeta{Name: "mismatch"})
		d.Spec.Template.Labels = labelsOf("app", "other")
		_, err := c.Client.AppsV1().Deployments(ns).Create(ctx(t), d, metav1.CreateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "spec.template.metadata.labels")
		var fields []string
		if st := err.(apierrors.APIStatus).Status(); st.Details != nil {
			for _, cause := range st.Details.Causes {
				fields = append(fields, cause.Field)
			}
			if st.Details.Kind != "Deployment" || st.Details.Group != "apps" || st.Details.Name != "mismatch" {
				t.Errorf("details %+v, want apps Deployment mismatch", st.Details)
			}
		}
		if !containsString(fields, "spec.template.metadata.labels") {
			t.Errorf("causes name fields %v, want spec.template.metadata.labels", fields)
		}
		if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx(t), "mismatch", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("an invalid object was stored: %v", err)
		}
	})

	t.Run("update reports each field error once", func(t *testing.T) {
		d := must[*appsv1.Deployment](t)(c.Client.AppsV1().Deployments(ns).Create(ctx(t), testDeployment(metav1.ObjectMeta{Name: "once"}), metav1.CreateOptions{}))
		d.Spec.Replicas = ptr.To[int32](-1)
		_, err := c.Client.AppsV1().Deployments(ns).Update(ctx(t), d, metav1.UpdateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "spec.replicas")
		// The message text is de-duplicated by apimachinery; the causes are not.
		n := 0
		if st := err.(apierrors.APIStatus).Status(); st.Details != nil {
			for _, cause := range st.Details.Causes {
				if cause.Field == "spec.replicas" {
					n++
				}
			}
		}
		if n != 1 {
			t.Errorf("spec.replicas reported in %d causes, want 1: %v", n, err)
		}
	})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestAuthentication(t *testing.T) {
	c := startCluster(t)
	anonymous := &rest.Config{Host: c.Config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: c.Config.CAData}}

	t.Run("no credentials", func(t *testing.T) {
		cs := must[*kubernetes.Clientset](t)(kubernetes.NewForConfig(anonymous))
		_, err := cs.CoreV1().Namespaces().List(ctx(t), metav1.ListOptions{})
		if !apierrors.IsUnauthorized(err) {
			t.Fatalf("err = %v, want 401 Unauthorized", err)
		}
		_, err = cs.Discovery().ServerVersion()
		if !apierrors.IsUnauthorized(err) {
			t.Fatalf("/version: err = %v, want 401 Unauthorized", err)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		cfg := rest.CopyConfig(anonymous)
		cfg.BearerToken = "not-a-real-token-0123456789"
		cs := must[*kubernetes.Clientset](t)(kubernetes.NewForConfig(cfg))
		_, err := cs.CoreV1().Namespaces().List(ctx(t), metav1.ListOptions{})
		if !apierrors.IsUnauthorized(err) {
			t.Fatalf("err = %v, want 401 Unauthorized", err)
		}
	})

	t.Run("health checks need no credentials", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(c.Config.CAData)
		hc := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		for _, path := range []string{"/livez", "/readyz", "/healthz"} {
			resp, err := hc.Get(c.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
				t.Errorf("%s = %d %q, want 200 ok", path, resp.StatusCode, body)
			}
		}
	})

	t.Run("client certificate from another CA", func(t *testing.T) {
		other := must[*auth.PKI](t)(auth.LoadOrCreatePKI(filepath.Join(t.TempDir(), "pki"), auth.PKIOptions{}))
		certPEM, keyPEM, err := other.IssueClientCert("system:admin", []string{auth.GroupMasters}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cfg := rest.CopyConfig(anonymous)
		cfg.CertData, cfg.KeyData = certPEM, keyPEM
		cs := must[*kubernetes.Clientset](t)(kubernetes.NewForConfig(cfg))
		_, err = cs.CoreV1().Namespaces().List(ctx(t), metav1.ListOptions{})
		if err == nil {
			t.Fatal("a certificate from another CA was accepted")
		}
		// Either the TLS handshake refuses it or the server answers 401.
		t.Logf("rejected with: %v", err)
	})

	t.Run("client certificate from the cluster CA", func(t *testing.T) {
		cfg := must[*rest.Config](t)(restConfigFromKubeconfig(c.Kubeconfig))
		cs := must[*kubernetes.Clientset](t)(kubernetes.NewForConfig(cfg))
		if _, err := cs.AppsV1().Deployments("default").List(ctx(t), metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

func restConfigFromKubeconfig(path string) (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", path)
}
