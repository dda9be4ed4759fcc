package apiserver_test

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestPatch(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	cms := c.Client.CoreV1().ConfigMaps(ns)

	tests := []struct {
		name  string
		pt    types.PatchType
		patch string
		want  map[string]string
		// code is the expected error code (0: success).
		code int32
	}{
		{"json patch", types.JSONPatchType, `[{"op":"replace","path":"/data/a","value":"A"},{"op":"add","path":"/data/c","value":"C"}]`, map[string]string{"a": "A", "b": "2", "c": "C"}, 0},
		{"json patch test fails", types.JSONPatchType, `[{"op":"test","path":"/data/a","value":"nope"}]`, nil, 422},
		{"json patch malformed", types.JSONPatchType, `{"op":"add"}`, nil, 400},
		{"merge patch", types.MergePatchType, `{"data":{"a":null,"c":"C"}}`, map[string]string{"b": "2", "c": "C"}, 0},
		{"merge patch malformed", types.MergePatchType, `{"data":`, nil, 400},
		{"strategic merge patch", types.StrategicMergePatchType, `{"data":{"b":"B"}}`, map[string]string{"a": "1", "b": "B"}, 0},
		{"strategic merge patch with a wrong type", types.StrategicMergePatchType, `{"data":["x"]}`, nil, 400},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "cm" + string(rune('a'+i))
			orig := must[*corev1.ConfigMap](t)(cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"a": "1", "b": "2"}}, metav1.CreateOptions{}))
			out, err := cms.Patch(ctx(t), name, tt.pt, []byte(tt.patch), metav1.PatchOptions{})
			if tt.code != 0 {
				wantAPIError(t, err, tt.code, "")
				stored := must[*corev1.ConfigMap](t)(cms.Get(ctx(t), name, metav1.GetOptions{}))
				if stored.ResourceVersion != orig.ResourceVersion {
					t.Errorf("a failed patch changed the object")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !mapsEqual(out.Data, tt.want) {
				t.Errorf("data = %v, want %v", out.Data, tt.want)
			}
			if rvNum(t, out.ResourceVersion) <= rvNum(t, orig.ResourceVersion) {
				t.Errorf("resourceVersion did not move")
			}
			if out.UID != orig.UID {
				t.Errorf("uid changed")
			}
		})
	}

	t.Run("strategic merge patch merges containers by name", func(t *testing.T) {
		deps := c.Client.AppsV1().Deployments(ns)
		must[*appsv1.Deployment](t)(deps.Create(ctx(t), testDeployment(metav1.ObjectMeta{Name: "smp"}), metav1.CreateOptions{}))
		patch := `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"envoy"},{"name":"web","image":"nginx:2"}]}}}}`
		d := must[*appsv1.Deployment](t)(deps.Patch(ctx(t), "smp", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}))
		got := containerImages(d)
		if want := []string{"sidecar=envoy", "web=nginx:2"}; !slices.Equal(got, want) {
			t.Errorf("containers = %v, want %v", got, want)
		}
		if d.Generation != 2 {
			t.Errorf("generation = %d after a spec patch, want 2", d.Generation)
		}
		// A merge patch replaces the list.
		d = must[*appsv1.Deployment](t)(deps.Patch(ctx(t), "smp", types.MergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"busybox"}]}}}}`), metav1.PatchOptions{}))
		if got, want := containerImages(d), []string{"only=busybox"}; !slices.Equal(got, want) {
			t.Errorf("after a merge patch containers = %v, want %v", got, want)
		}
		// The same list again, without the fields defaulting filled in:
		// nothing changes once defaulted, so nothing is written ("patched
		// (no change)"), and the generation stays.
		again := must[*appsv1.Deployment](t)(deps.Patch(ctx(t), "smp", types.MergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"busybox"}]}}}}`), metav1.PatchOptions{}))
		if again.ResourceVersion != d.ResourceVersion || again.Generation != d.Generation {
			t.Errorf("a patch that changes nothing once defaulted wrote the object: resourceVersion %s → %s, generation %d → %d",
				d.ResourceVersion, again.ResourceVersion, d.Generation, again.Generation)
		}
	})

	t.Run("patch of a missing object", func(t *testing.T) {
		_, err := cms.Patch(ctx(t), "missing", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	})
}

func containerImages(d *appsv1.Deployment) []string {
	var out []string
	for _, c := range d.Spec.Template.Spec.Containers {
		out = append(out, c.Name+"="+c.Image)
	}
	slices.Sort(out)
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestServerSideApply(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	cms := c.Client.CoreV1().ConfigMaps(ns)

	created := must[*corev1.ConfigMap](t)(cms.Apply(ctx(t), corev1ac.ConfigMap("ssa", ns).WithData(map[string]string{"a": "1"}), metav1.ApplyOptions{FieldManager: "alice"}))
	if created.UID == "" || created.Data["a"] != "1" {
		t.Fatalf("apply did not create: %+v", created)
	}
	wantManagers(t, created, map[string]metav1.ManagedFieldsOperationType{"alice": metav1.ManagedFieldsOperationApply})
	if fields := string(created.ManagedFields[0].FieldsV1.Raw); !strings.Contains(fields, `"f:a"`) {
		t.Errorf("alice's fields %s do not include data.a", fields)
	}

	// Bob applies another key: shared object, two appliers.
	both := must[*corev1.ConfigMap](t)(cms.Apply(ctx(t), corev1ac.ConfigMap("ssa", ns).WithData(map[string]string{"b": "2"}), metav1.ApplyOptions{FieldManager: "bob"}))
	if !mapsEqual(both.Data, map[string]string{"a": "1", "b": "2"}) {
		t.Errorf("data = %v after two appliers, want a and b", both.Data)
	}

	// Bob changes alice's field: conflict.
	_, err := cms.Apply(ctx(t), corev1ac.ConfigMap("ssa", ns).WithData(map[string]string{"a": "bob", "b": "2"}), metav1.ApplyOptions{FieldManager: "bob"})
	wantAPIError(t, err, 409, metav1.StatusReasonConflict, `conflict with "alice"`, ".data.a")

	// Forced, bob takes ownership.
	forced := must[*corev1.ConfigMap](t)(cms.Apply(ctx(t), corev1ac.ConfigMap("ssa", ns).WithData(map[string]string{"a": "bob", "b": "2"}), metav1.ApplyOptions{FieldManager: "bob", Force: true}))
	if forced.Data["a"] != "bob" {
		t.Errorf("forced apply: data.a = %q", forced.Data["a"])
	}
	for _, mf := range forced.ManagedFields {
		if mf.Manager == "alice" && strings.Contains(string(mf.FieldsV1.Raw), `"f:a"`) {
			t.Errorf("alice still owns data.a after bob forced it: %s", mf.FieldsV1.Raw)
		}
		if mf.Manager == "bob" && !strings.Contains(string(mf.FieldsV1.Raw), `"f:a"`) {
			t.Errorf("bob does not own data.a after forcing it: %s", mf.FieldsV1.Raw)
		}
	}

	// An update records an Update entry for its manager.
	forced.Data["c"] = "3"
	updated := must[*corev1.ConfigMap](t)(cms.Update(ctx(t), forced, metav1.UpdateOptions{FieldManager: "carol"}))
	// alice lost her only field to bob and with it her entry.
	wantManagers(t, updated, map[string]metav1.ManagedFieldsOperationType{"bob": metav1.ManagedFieldsOperationApply, "carol": metav1.ManagedFieldsOperationUpdate})

	t.Run("fieldManager is required", func(t *testing.T) {
		_, err := cms.Patch(ctx(t), "ssa", types.ApplyPatchType, []byte(`{"apiVersion":"v1","kind":"ConfigMap"}`), metav1.PatchOptions{})
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest, "fieldManager is required")
	})
	t.Run("status apply", func(t *testing.T) {
		deps := c.Client.AppsV1().Deployments(ns)
		must[*appsv1.Deployment](t)(deps.Create(ctx(t), testDeployment(metav1.ObjectMeta{Name: "web"}), metav1.CreateOptions{}))
		patch := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"status":{"replicas":7},"spec":{"replicas":9}}`
		d := must[*appsv1.Deployment](t)(deps.Patch(ctx(t), "web", types.ApplyPatchType, []byte(patch), metav1.PatchOptions{FieldManager: "ctrl"}, "status"))
		if d.Status.Replicas != 7 || *d.Spec.Replicas != 1 {
			t.Errorf("status apply: status.replicas %d spec.replicas %d, want 7 and 1", d.Status.Replicas, *d.Spec.Replicas)
		}
	})
}

func wantManagers(t *testing.T, obj metav1.Object, want map[string]metav1.ManagedFieldsOperationType) {
	t.Helper()
	got := map[string]metav1.ManagedFieldsOperationType{}
	for _, mf := range obj.GetManagedFields() {
		got[mf.Manager] = mf.Operation
	}
	if len(got) != len(want) {
		t.Fatalf("managers %v, want %v", got, want)
	}
	for m, op := range want {
		if got[m] != op {
			t.Fatalf("managers %v, want %v", got, want)
		}
	}
}

func TestDryRun(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	cms := c.Client.CoreV1().ConfigMaps(ns)
	dry := []string{metav1.DryRunAll}
	existing := must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("existing", "1", nil), metav1.CreateOptions{}))

	tests := []struct {
		name  string
		write func() (*corev1.ConfigMap, error)
		check func(t *testing.T, out *corev1.ConfigMap)
	}{
		{"create", func() (*corev1.ConfigMap, error) {
			return cms.Create(ctx(t), configMap("new", "1", nil), metav1.CreateOptions{DryRun: dry})
		}, func(t *testing.T, out *corev1.ConfigMap) {
			if out.UID == "" || out.Name != "new" {
				t.Errorf("dry-run create response %+v, want the object as it would be stored", out.ObjectMeta)
			}
		}},
		{"update", func() (*corev1.ConfigMap, error) {
			cm := existing.DeepCopy()
			cm.Data["v"] = "2"
			return cms.Update(ctx(t), cm, metav1.UpdateOptions{DryRun: dry})
		}, func(t *testing.T, out *corev1.ConfigMap) {
			if out.Data["v"] != "2" {
				t.Errorf("dry-run update response data %v, want v=2", out.Data)
			}
		}},
		{"patch", func() (*corev1.ConfigMap, error) {
			return cms.Patch(ctx(t), "existing", types.MergePatchType, []byte(`{"data":{"v":"3"}}`), metav1.PatchOptions{DryRun: dry})
		}, func(t *testing.T, out *corev1.ConfigMap) {
			if out.Data["v"] != "3" {
				t.Errorf("dry-run patch response data %v, want v=3", out.Data)
			}
		}},
		{"apply", func() (*corev1.ConfigMap, error) {
			return cms.Apply(ctx(t), corev1ac.ConfigMap("applied", ns).WithData(map[string]string{"v": "1"}), metav1.ApplyOptions{FieldManager: "m", DryRun: dry})
		}, nil},
		{"delete", func() (*corev1.ConfigMap, error) {
			return nil, cms.Delete(ctx(t), "existing", metav1.DeleteOptions{DryRun: dry})
		}, nil},
		{"deletecollection", func() (*corev1.ConfigMap, error) {
			return nil, cms.DeleteCollection(ctx(t), metav1.DeleteOptions{DryRun: dry}, metav1.ListOptions{})
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.write()
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, out)
			}
			list := must[*corev1.ConfigMapList](t)(cms.List(ctx(t), metav1.ListOptions{}))
			if len(list.Items) != 1 || list.Items[0].Name != "existing" || list.Items[0].ResourceVersion != existing.ResourceVersion {
				t.Errorf("after a dry run the namespace holds %d objects (first %+v), want only the unchanged existing one", len(list.Items), list.Items)
			}
		})
	}
	t.Run("invalid dryRun value", func(t *testing.T) {
		_, err := cms.Create(ctx(t), configMap("x", "1", nil), metav1.CreateOptions{DryRun: []string{"Some"}})
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest, "dry run")
	})
}

// warnings collects Warning headers a client receives.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

func TestFieldValidation(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	warn := &warnings{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandler = warn
	cs := must[*kubernetes.Clientset](t)(kubernetes.NewForConfig(cfg))
	rc := cs.AppsV1().RESTClient()

	body := func(name string) []byte {
		d := testDeployment(metav1.ObjectMeta{Name: name})
		raw := must[[]byte](t)(json.Marshal(d))
		var m map[string]any
		must[struct{}](t)(struct{}{}, json.Unmarshal(raw, &m))
		m["apiVersion"], m["kind"] = "apps/v1", "Deployment"
		m["spec"].(map[string]any)["foo"] = "bar"
		return must[[]byte](t)(json.Marshal(m))
	}
	post := func(mode, name string) error {
		req := rc.Post().Namespace(ns).Resource("deployments").Body(body(name))
		if mode != "" {
			req = req.Param("fieldValidation", mode)
		}
		return req.Do(ctx(t)).Error()
	}
	const unknown = `unknown field "spec.foo"`

	t.Run("Strict", func(t *testing.T) {
		err := post("Strict", "strict")
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest, `strict decoding error: `+unknown)
		if _, err := cs.AppsV1().Deployments(ns).Get(ctx(t), "strict", metav1.GetOptions{}); err == nil {
			t.Error("a rejected object was stored")
		}
	})
	for _, mode := range []string{"Warn", ""} {
		t.Run("Warn "+mode, func(t *testing.T) {
			warn.take()
			if err := post(mode, "warn"+strings.ToLower(mode)); err != nil {
				t.Fatal(err)
			}
			if got := warn.take(); !slices.Contains(got, unknown) {
				t.Errorf("warnings %q, want %q", got, unknown)
			}
		})
	}
	t.Run("Ignore", func(t *testing.T) {
		warn.take()
		if err := post("Ignore", "ignore"); err != nil {
			t.Fatal(err)
		}
		if got := warn.take(); len(got) != 0 {
			t.Errorf("warnings %q with Ignore", got)
		}
	})
	t.Run("invalid mode", func(t *testing.T) {
		wantAPIError(t, post("Loud", "loud"), 400, metav1.StatusReasonBadRequest, "fieldValidation")
	})
	t.Run("Strict patch", func(t *testing.T) {
		_, err := cs.AppsV1().Deployments(ns).Patch(ctx(t), "warn", types.MergePatchType, []byte(`{"spec":{"foo":"x"}}`), metav1.PatchOptions{FieldValidation: "Strict"})
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest, unknown)
	})
	t.Run("Strict duplicate field", func(t *testing.T) {
		raw := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1"},"data":{"b":"2"}}`
		err := cs.CoreV1().RESTClient().Post().Namespace(ns).Resource("configmaps").Param("fieldValidation", "Strict").Body([]byte(raw)).Do(ctx(t)).Error()
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest, `duplicate field "data"`)
	})
}
