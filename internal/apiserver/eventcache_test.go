package apiserver_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// TestWatchSharedEncodings runs several watches of one namespace at once,
// in JSON and protobuf, with and without a selector, so that they send the
// same stored changes: the server encodes an event once per form and
// shares it (eventCache), and every watch must still see its own event
// type for each change (a watcher whose selector the object leaves sees
// DELETED where the others see MODIFIED).
func TestWatchSharedEncodings(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	type watcher struct {
		name     string
		w        watch.Interface
		selected bool
	}
	var ws []watcher
	for _, client := range []struct {
		name string
		cs   kubernetes.Interface
	}{{"json", c.Client}, {"protobuf", c.Proto}} {
		for i := range 3 {
			for _, sel := range []string{"", "app=web"} {
				w := must[watch.Interface](t)(client.cs.CoreV1().ConfigMaps(ns).Watch(ctx(t), metav1.ListOptions{LabelSelector: sel}))
				t.Cleanup(w.Stop)
				ws = append(ws, watcher{name: client.name + "/" + sel + "/" + string(rune('a'+i)), w: w, selected: sel != ""})
			}
		}
	}
	cms := c.Client.CoreV1().ConfigMaps(ns)
	cm := must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("a", "1", map[string]string{"app": "web"}), metav1.CreateOptions{}))
	cm.Data["v"], cm.Labels = "2", nil
	must[*corev1.ConfigMap](t)(cms.Update(ctx(t), cm, metav1.UpdateOptions{}))
	must[struct{}](t)(struct{}{}, cms.Delete(ctx(t), "a", metav1.DeleteOptions{}))

	for _, w := range ws {
		t.Run(w.name, func(t *testing.T) {
			if w.selected {
				// The update takes the label away: the selected watch sees
				// the object leave, with its new state, and no deletion.
				wantSeen(t, w.w, seen{watch.Added, "a", "1"}, seen{watch.Deleted, "a", "2"})
				wantQuiet(t, w.w)
				return
			}
			wantSeen(t, w.w, seen{watch.Added, "a", "1"}, seen{watch.Modified, "a", "2"}, seen{watch.Deleted, "a", "2"})
		})
	}
}
