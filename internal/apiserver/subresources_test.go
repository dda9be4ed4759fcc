package apiserver_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/rest"
)

func TestSubresources(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)

	t.Run("scale", func(t *testing.T) {
		deps := c.Client.AppsV1().Deployments(ns)
		must[*appsv1.Deployment](t)(deps.Create(ctx(t), testDeployment(metav1.ObjectMeta{Name: "web"}), metav1.CreateOptions{}))
		sc := must[*autoscalingv1.Scale](t)(deps.GetScale(ctx(t), "web", metav1.GetOptions{}))
		if sc.Spec.Replicas != 1 || sc.Status.Selector != "app=web" {
			t.Errorf("scale = %+v", sc)
		}
		sc.Spec.Replicas = 4
		sc = must[*autoscalingv1.Scale](t)(deps.UpdateScale(ctx(t), "web", sc, metav1.UpdateOptions{}))
		if sc.Spec.Replicas != 4 {
			t.Errorf("after UpdateScale: %d replicas", sc.Spec.Replicas)
		}
		d := must[*appsv1.Deployment](t)(deps.Get(ctx(t), "web", metav1.GetOptions{}))
		if *d.Spec.Replicas != 4 || d.Generation != 2 {
			t.Errorf("deployment after scale: replicas %d generation %d, want 4 and 2", *d.Spec.Replicas, d.Generation)
		}
		// The response is a Scale; the typed client cannot decode it as a Deployment.
		if _, err := deps.Patch(ctx(t), "web", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{}, "scale"); err != nil {
			t.Fatal(err)
		}
		out := must[*appsv1.Deployment](t)(deps.Get(ctx(t), "web", metav1.GetOptions{}))
		if *out.Spec.Replicas != 2 {
			t.Errorf("after scale patch: %d replicas", *out.Spec.Replicas)
		}
		sc.Spec.Replicas = -1
		_, err := deps.UpdateScale(ctx(t), "web", sc, metav1.UpdateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "spec.replicas")
		// A stale resourceVersion on the Scale is a conflict.
		sc.Spec.Replicas = 3
		_, err = deps.UpdateScale(ctx(t), "web", sc, metav1.UpdateOptions{})
		wantAPIError(t, err, 409, metav1.StatusReasonConflict)
	})

	t.Run("binding", func(t *testing.T) {
		pods := c.Client.CoreV1().Pods(ns)
		must[*corev1.Pod](t)(pods.Create(ctx(t), testPod(metav1.ObjectMeta{Name: "p"}), metav1.CreateOptions{}))
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node1"}}
		if err := pods.Bind(ctx(t), b, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := must[*corev1.Pod](t)(pods.Get(ctx(t), "p", metav1.GetOptions{}))
		if p.Spec.NodeName != "node1" {
			t.Errorf("nodeName %q after binding", p.Spec.NodeName)
		}
		scheduled := false
		for _, cond := range p.Status.Conditions {
			scheduled = scheduled || cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionTrue
		}
		if !scheduled {
			t.Errorf("conditions %+v lack PodScheduled=True", p.Status.Conditions)
		}
		b.Target.Name = "node2"
		err := pods.Bind(ctx(t), b, metav1.CreateOptions{})
		wantAPIError(t, err, 409, metav1.StatusReasonConflict, "already assigned")
	})

	t.Run("eviction", func(t *testing.T) {
		pods := c.Client.CoreV1().Pods(ns)
		must[*corev1.Pod](t)(pods.Create(ctx(t), testPod(metav1.ObjectMeta{Name: "evict-me"}), metav1.CreateOptions{}))
		err := pods.EvictV1(ctx(t), &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evict-me", Namespace: ns}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = pods.Get(ctx(t), "evict-me", metav1.GetOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	})

	t.Run("verbs a subresource does not serve", func(t *testing.T) {
		rc := c.Client.CoreV1().RESTClient()
		must[*corev1.Pod](t)(c.Client.CoreV1().Pods(ns).Create(ctx(t), testPod(metav1.ObjectMeta{Name: "verbs"}), metav1.CreateOptions{}))
		other := testPod(metav1.ObjectMeta{Name: "smuggled"})
		for _, req := range []*rest.Request{
			rc.Post().Namespace(ns).Resource("pods").Name("verbs").SubResource("status").Body(other),
			rc.Put().Namespace(ns).Resource("pods").Name("verbs").SubResource("binding").Body(other),
			rc.Patch(types.MergePatchType).Namespace(ns).Resource("pods").Name("verbs").SubResource("eviction").Body([]byte(`{"spec":{"nodeName":"x"}}`)),
			rc.Get().Namespace(ns).Resource("pods").Name("verbs").SubResource("binding"),
			rc.Delete().Namespace(ns).Resource("pods").Name("verbs").SubResource("status"),
		} {
			wantAPIError(t, req.Do(ctx(t)).Error(), 405, metav1.StatusReasonMethodNotAllowed)
		}
		list := must[*corev1.PodList](t)(c.Client.CoreV1().Pods(ns).List(ctx(t), metav1.ListOptions{FieldSelector: "metadata.name=smuggled"}))
		p := must[*corev1.Pod](t)(c.Client.CoreV1().Pods(ns).Get(ctx(t), "verbs", metav1.GetOptions{}))
		if len(list.Items) != 0 || p.Spec.NodeName != "" {
			t.Errorf("a refused request wrote: %d smuggled pods, nodeName %q", len(list.Items), p.Spec.NodeName)
		}
	})

	t.Run("writes need a namespace", func(t *testing.T) {
		err := c.Client.CoreV1().RESTClient().Post().AbsPath("/api/v1/configmaps").Body(configMap("x", "1", nil)).Do(ctx(t)).Error()
		wantAPIError(t, err, 405, metav1.StatusReasonMethodNotAllowed)
		err = c.Client.CoreV1().RESTClient().Delete().AbsPath("/api/v1/configmaps").Do(ctx(t)).Error()
		wantAPIError(t, err, 405, metav1.StatusReasonMethodNotAllowed)
	})

	t.Run("apply with a stale resourceVersion", func(t *testing.T) {
		cms := c.Client.CoreV1().ConfigMaps(ns)
		cm := must[*corev1.ConfigMap](t)(cms.Apply(ctx(t), corev1ac.ConfigMap("rv", ns).WithData(map[string]string{"a": "1"}), metav1.ApplyOptions{FieldManager: "m"}))
		must[*corev1.ConfigMap](t)(cms.Apply(ctx(t), corev1ac.ConfigMap("rv", ns).WithData(map[string]string{"a": "2"}), metav1.ApplyOptions{FieldManager: "m"}))
		_, err := cms.Apply(ctx(t), corev1ac.ConfigMap("rv", ns).WithResourceVersion(cm.ResourceVersion).WithData(map[string]string{"a": "3"}), metav1.ApplyOptions{FieldManager: "m"})
		wantAPIError(t, err, 409, metav1.StatusReasonConflict)
	})

	t.Run("list at a future resourceVersion", func(t *testing.T) {
		cms := c.Client.CoreV1().ConfigMaps(ns)
		list := must[*corev1.ConfigMapList](t)(cms.List(ctx(t), metav1.ListOptions{}))
		future := strconv.FormatInt(rvNum(t, list.ResourceVersion)+1000, 10)
		_, err := cms.List(ctx(t), metav1.ListOptions{ResourceVersion: future})
		wantAPIError(t, err, 504, metav1.StatusReasonTimeout, "Too large resource version")
	})

	t.Run("Table watch", func(t *testing.T) {
		deps := c.Client.AppsV1().Deployments(ns)
		list := must[*appsv1.DeploymentList](t)(deps.List(ctx(t), metav1.ListOptions{}))
		hc := must[*http.Client](t)(rest.HTTPClientFor(c.Config))
		req := must[*http.Request](t)(http.NewRequestWithContext(ctx(t), http.MethodGet,
			c.URL+"/apis/apps/v1/namespaces/"+ns+"/deployments?watch=true&resourceVersion="+list.ResourceVersion, nil))
		req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
		resp := must[*http.Response](t)(hc.Do(req))
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		must[*appsv1.Deployment](t)(deps.Create(ctx(t), testDeployment(metav1.ObjectMeta{Name: "watched"}), metav1.CreateOptions{}))
		var ev struct {
			Type   string       `json:"type"`
			Object metav1.Table `json:"object"`
		}
		dec := json.NewDecoder(bufio.NewReader(resp.Body))
		must[struct{}](t)(struct{}{}, dec.Decode(&ev))
		if ev.Type != "ADDED" || ev.Object.Kind != "Table" || len(ev.Object.Rows) != 1 || ev.Object.Rows[0].Cells[0] != "watched" || len(ev.Object.ColumnDefinitions) == 0 {
			t.Errorf("event %s %s with %d rows", ev.Type, ev.Object.Kind, len(ev.Object.Rows))
		}
	})
}
