package apiserver_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestListSelectors(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	pods := c.Client.CoreV1().Pods(ns)
	for _, p := range []struct {
		name, node, app string
		phase           corev1.PodPhase
	}{
		{"a", "node1", "web", corev1.PodRunning},
		{"b", "node1", "db", corev1.PodPending},
		{"c", "node2", "web", corev1.PodSucceeded},
		{"d", "", "web", corev1.PodPending},
	} {
		pod := testPod(metav1.ObjectMeta{Name: p.name, Labels: labelsOf("app", p.app)})
		pod.Spec.NodeName = p.node
		pod = must[*corev1.Pod](t)(pods.Create(ctx(t), pod, metav1.CreateOptions{}))
		if p.phase != corev1.PodPending {
			pod.Status.Phase = p.phase
			must[*corev1.Pod](t)(pods.UpdateStatus(ctx(t), pod, metav1.UpdateOptions{}))
		}
	}
	// A pod elsewhere: namespaced lists must not see it, cluster-wide ones do.
	other := c.namespace(t)
	must[*corev1.Pod](t)(c.Client.CoreV1().Pods(other).Create(ctx(t), testPod(metav1.ObjectMeta{Name: "x", Labels: labelsOf("app", "web")}), metav1.CreateOptions{}))

	tests := []struct {
		name          string
		namespace     string
		label, fields string
		want          []string
	}{
		{name: "everything", namespace: ns, want: []string{"a", "b", "c", "d"}},
		{name: "label equality", namespace: ns, label: "app=web", want: []string{"a", "c", "d"}},
		{name: "label set", namespace: ns, label: "app in (db)", want: []string{"b"}},
		{name: "label not", namespace: ns, label: "app!=web", want: []string{"b"}},
		{name: "metadata.name", namespace: ns, fields: "metadata.name=c", want: []string{"c"}},
		{name: "spec.nodeName", namespace: ns, fields: "spec.nodeName=node1", want: []string{"a", "b"}},
		{name: "unbound pods", namespace: ns, fields: "spec.nodeName=", want: []string{"d"}},
		{name: "status.phase", namespace: ns, fields: "status.phase=Running", want: []string{"a"}},
		{name: "status.phase not", namespace: ns, fields: "status.phase!=Pending", want: []string{"a", "c"}},
		{name: "labels and fields", namespace: ns, label: "app=web", fields: "spec.nodeName=node1", want: []string{"a"}},
		{name: "all namespaces", namespace: "", label: "app=web", fields: "metadata.name=x", want: []string{"x"}},
		{name: "metadata.namespace", namespace: "", fields: "metadata.namespace=" + other, want: []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := must[*corev1.PodList](t)(c.Client.CoreV1().Pods(tt.namespace).List(ctx(t), metav1.ListOptions{LabelSelector: tt.label, FieldSelector: tt.fields}))
			var got []string
			for _, p := range list.Items {
				got = append(got, p.Name)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			rvNum(t, list.ResourceVersion)
		})
	}

	t.Run("unsupported field selector", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			list func() error
			msg  string
		}{
			{"pods", func() error {
				_, err := pods.List(ctx(t), metav1.ListOptions{FieldSelector: "spec.foo=bar"})
				return err
			}, "field label not supported: spec.foo"},
			{"configmaps", func() error {
				_, err := c.Client.CoreV1().ConfigMaps(ns).List(ctx(t), metav1.ListOptions{FieldSelector: "data.k=v"})
				return err
			}, `"data.k" is not a known field selector`},
			{"watch", func() error {
				_, err := pods.Watch(ctx(t), metav1.ListOptions{FieldSelector: "spec.foo=bar"})
				return err
			}, "field label not supported: spec.foo"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantAPIError(t, tt.list(), 400, metav1.StatusReasonBadRequest, tt.msg)
			})
		}
	})
	t.Run("malformed label selector", func(t *testing.T) {
		_, err := pods.List(ctx(t), metav1.ListOptions{LabelSelector: "app in (("})
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest)
	})
}

func createConfigMaps(t *testing.T, cs kubernetes.Interface, ns string, n int) {
	t.Helper()
	for i := range n {
		l := labelsOf("parity", []string{"even", "odd"}[i%2])
		must[*corev1.ConfigMap](t)(cs.CoreV1().ConfigMaps(ns).Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i), Labels: l}}, metav1.CreateOptions{}))
	}
}

func TestListPaging(t *testing.T) {
	c := startCluster(t)

	t.Run("pages", func(t *testing.T) {
		ns := c.namespace(t)
		createConfigMaps(t, c.Client, ns, 25)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		type page struct {
			items     int
			remaining int64 // -1: not set
			more      bool
		}
		want := []page{{10, 15, true}, {10, 5, true}, {5, -1, false}}
		var names []string
		opts := metav1.ListOptions{Limit: 10}
		var listRV string
		for i, w := range want {
			list := must[*corev1.ConfigMapList](t)(cms.List(ctx(t), opts))
			rem := int64(-1)
			if list.RemainingItemCount != nil {
				rem = *list.RemainingItemCount
			}
			if len(list.Items) != w.items || rem != w.remaining || (list.Continue != "") != w.more {
				t.Fatalf("page %d: %d items, remaining %d, continue %q; want %d items, remaining %d, more %v", i, len(list.Items), rem, list.Continue, w.items, w.remaining, w.more)
			}
			if i == 0 {
				listRV = list.ResourceVersion
				// Changes after the first page are not seen by later pages.
				must[*corev1.ConfigMap](t)(cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-99"}}, metav1.CreateOptions{}))
				must[*corev1.ConfigMap](t)(cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-00a"}}, metav1.CreateOptions{}))
			} else if list.ResourceVersion != listRV {
				t.Errorf("page %d resourceVersion %s, want the first page's %s", i, list.ResourceVersion, listRV)
			}
			for _, it := range list.Items {
				names = append(names, it.Name)
			}
			opts.Continue = list.Continue
		}
		var want25 []string
		for i := range 25 {
			want25 = append(want25, fmt.Sprintf("cm-%02d", i))
		}
		if !slices.Equal(names, want25) {
			t.Errorf("paged names = %v, want %v", names, want25)
		}
	})

	t.Run("pages with a label selector are full", func(t *testing.T) {
		ns := c.namespace(t)
		createConfigMaps(t, c.Client, ns, 25)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		var sizes []int
		var names []string
		opts := metav1.ListOptions{Limit: 5, LabelSelector: "parity=odd"}
		for {
			list := must[*corev1.ConfigMapList](t)(cms.List(ctx(t), opts))
			sizes = append(sizes, len(list.Items))
			for _, it := range list.Items {
				names = append(names, it.Name)
				if it.Labels["parity"] != "odd" {
					t.Errorf("%s does not match the selector", it.Name)
				}
			}
			if list.RemainingItemCount != nil {
				t.Errorf("remainingItemCount %d set on a filtered list", *list.RemainingItemCount)
			}
			if list.Continue == "" {
				break
			}
			opts.Continue = list.Continue
		}
		// 12 odd items: 5, 5, 2 (the last page may end with an empty continue).
		if len(names) != 12 || sizes[0] != 5 || sizes[1] != 5 {
			t.Errorf("page sizes %v, %d items; want 5, 5, 2 and 12 items", sizes, len(names))
		}
	})

	t.Run("invalid continue token", func(t *testing.T) {
		_, err := c.Client.CoreV1().ConfigMaps("default").List(ctx(t), metav1.ListOptions{Limit: 1, Continue: "not-a-token"})
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest, "continue key is not valid")
	})

	t.Run("resourceVersionMatch Exact reads old state", func(t *testing.T) {
		ns := c.namespace(t)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		cm := must[*corev1.ConfigMap](t)(cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "v"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{}))
		old := cm.ResourceVersion
		cm.Data["v"] = "2"
		must[*corev1.ConfigMap](t)(cms.Update(ctx(t), cm, metav1.UpdateOptions{}))
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w"}}, metav1.CreateOptions{}))

		list := must[*corev1.ConfigMapList](t)(cms.List(ctx(t), metav1.ListOptions{ResourceVersion: old, ResourceVersionMatch: metav1.ResourceVersionMatchExact}))
		if list.ResourceVersion != old || len(list.Items) != 1 || list.Items[0].Data["v"] != "1" || list.Items[0].ResourceVersion != old {
			t.Errorf("exact list at %s = rv %s %+v; want only v=1 at %s", old, list.ResourceVersion, list.Items, old)
		}
		latest := must[*corev1.ConfigMapList](t)(cms.List(ctx(t), metav1.ListOptions{ResourceVersion: old, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan}))
		if len(latest.Items) != 2 || latest.Items[0].Data["v"] != "2" {
			t.Errorf("NotOlderThan list = %+v, want the latest state", latest.Items)
		}
		if rvNum(t, latest.ResourceVersion) <= rvNum(t, old) {
			t.Errorf("NotOlderThan list resourceVersion %s, want > %s", latest.ResourceVersion, old)
		}
		_, err := cms.List(ctx(t), metav1.ListOptions{ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "resourceVersionMatch")
	})
}

// TestListExpiredContinue: a continue token whose revision has been
// compacted gets 410 Gone (Expired), as kube-apiserver answers.
func TestListExpiredContinue(t *testing.T) {
	e := startEnv(t)
	createConfigMaps(t, e.client, "default", 5)
	cms := e.client.CoreV1().ConfigMaps("default")
	first := must[*corev1.ConfigMapList](t)(cms.List(ctx(t), metav1.ListOptions{Limit: 2}))
	if first.Continue == "" {
		t.Fatal("no continue token")
	}
	// Move on and compact past the list's revision.
	cm := must[*corev1.ConfigMap](t)(cms.Get(ctx(t), "cm-00", metav1.GetOptions{}))
	cm.Data = map[string]string{"x": "y"}
	must[*corev1.ConfigMap](t)(cms.Update(ctx(t), cm, metav1.UpdateOptions{}))
	e.compact(t)

	_, err := cms.List(ctx(t), metav1.ListOptions{Limit: 2, Continue: first.Continue})
	wantAPIError(t, err, 410, metav1.StatusReasonExpired, "continue")

	t.Run("exact read of a compacted revision", func(t *testing.T) {
		_, err := cms.List(ctx(t), metav1.ListOptions{ResourceVersion: first.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		wantAPIError(t, err, 410, metav1.StatusReasonExpired)
	})
	t.Run("future resourceVersion", func(t *testing.T) {
		rv := strconv.FormatInt(rvNum(t, first.ResourceVersion)+1000, 10)
		_, err := cms.List(ctx(t), metav1.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		wantAPIError(t, err, 504, metav1.StatusReasonTimeout, "Too large resource version")
	})
}
