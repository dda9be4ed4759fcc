package apiserver_test

import (
	"bytes"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

// TestListEncoding checks that lists, which the server encodes one item at
// a time, come out byte for byte as encoding the whole list at once would
// produce them (encoding/json's Encoder, as apimachinery's JSON serializer
// uses it, and apimachinery's protobuf serializer), with characters JSON
// escapes, an empty list, a paged list, selectors, and lists answered from
// the item cache before and after one of the items changed.
func TestListEncoding(t *testing.T) {
	c := startCluster(t)
	full, empty := c.namespace(t), c.namespace(t)
	for _, name := range []string{"a", "b", "c"} {
		pod := testPod(metav1.ObjectMeta{Name: name, Labels: labelsOf("app", "web"), Annotations: map[string]string{
			"note": `<b>"quoted" & more</b> é ✓ ` + "\u2028",
		}})
		pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A<B&C>", Value: "x"}}
		must[*corev1.Pod](t)(c.Client.CoreV1().Pods(full).Create(ctx(t), pod, metav1.CreateOptions{}))
	}
	pb := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	tests := []struct {
		name, path, limit, selector string
		items                       int
		changed                     int // items labelled changed=yes
		before                      func(t *testing.T)
	}{
		{name: "three pods", path: "/api/v1/namespaces/" + full + "/pods", limit: "0", items: 3},
		// Listed again: now every item comes from the server's item cache.
		{name: "three pods again", path: "/api/v1/namespaces/" + full + "/pods", limit: "0", items: 3},
		{name: "no pods", path: "/api/v1/namespaces/" + empty + "/pods", limit: "0", items: 0},
		{name: "a page of a list", path: "/api/v1/namespaces/" + full + "/pods", limit: "2", items: 2},
		{name: "with a selector", path: "/api/v1/namespaces/" + full + "/pods", limit: "0", selector: "app=web", items: 3},
		{name: "after an update", path: "/api/v1/namespaces/" + full + "/pods", limit: "0", selector: "changed=yes", items: 1, changed: 1, before: func(t *testing.T) {
			pod := must[*corev1.Pod](t)(c.Client.CoreV1().Pods(full).Get(ctx(t), "b", metav1.GetOptions{}))
			pod.Labels["changed"] = "yes"
			must[*corev1.Pod](t)(c.Client.CoreV1().Pods(full).Update(ctx(t), pod, metav1.UpdateOptions{}))
		}},
		{name: "all after an update", path: "/api/v1/namespaces/" + full + "/pods", limit: "0", items: 3, changed: 1},
	}
	for _, tt := range tests {
		if tt.before != nil {
			tt.before(t)
		}
		t.Run(tt.name+"/json", func(t *testing.T) {
			body := must[[]byte](t)(c.Client.CoreV1().RESTClient().Get().AbsPath(tt.path).Param("limit", tt.limit).Param("labelSelector", tt.selector).SetHeader("Accept", "application/json").DoRaw(ctx(t)))
			var list corev1.PodList
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != tt.items {
				t.Fatalf("%d items, want %d", len(list.Items), tt.items)
			}
			if n := countChanged(list.Items); n != tt.changed {
				t.Fatalf("%d items labelled changed=yes, want %d (a stale item?)", n, tt.changed)
			}
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(&list); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, want.Bytes()) {
				t.Errorf("list body differs from the whole-list encoding:\n got %s\nwant %s", body, want.Bytes())
			}
		})
		t.Run(tt.name+"/protobuf", func(t *testing.T) {
			body := must[[]byte](t)(c.Proto.CoreV1().RESTClient().Get().AbsPath(tt.path).Param("limit", tt.limit).Param("labelSelector", tt.selector).SetHeader("Accept", "application/vnd.kubernetes.protobuf").DoRaw(ctx(t)))
			obj, _, err := pb.Decode(body, nil, &corev1.PodList{})
			if err != nil {
				t.Fatal(err)
			}
			list := obj.(*corev1.PodList)
			if len(list.Items) != tt.items {
				t.Fatalf("%d items, want %d", len(list.Items), tt.items)
			}
			if n := countChanged(list.Items); n != tt.changed {
				t.Fatalf("%d items labelled changed=yes, want %d (a stale item?)", n, tt.changed)
			}
			list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
			var want bytes.Buffer
			if err := pb.Encode(list, &want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, want.Bytes()) {
				t.Errorf("list body (%d bytes) differs from the whole-list encoding (%d bytes)", len(body), want.Len())
			}
		})
	}
}

func countChanged(pods []corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if p.Labels["changed"] == "yes" {
			n++
		}
	}
	return n
}
