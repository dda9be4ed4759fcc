package apiserver_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gantry-dev/gantry/internal/apiserver"
)

// typedClient is what every client-go typed resource client offers.
type typedClient[T any] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// crudCase runs the CRUD contract for one resource through one clientset.
type crudCase struct {
	name string
	run  func(t *testing.T, cs kubernetes.Interface, ns string)
}

func newCRUDCase[T interface {
	metav1.Object
	comparable
}](name string, client func(cs kubernetes.Interface, ns string) typedClient[T], newObj func(meta metav1.ObjectMeta) T, mutate func(T), generation bool, deletesAtOnce bool) crudCase {
	return crudCase{name: name, run: func(t *testing.T, cs kubernetes.Interface, ns string) {
		c := client(cs, ns)
		objName := dnsName(name + "-" + t.Name())
		var zero T

		created := must[T](t)(c.Create(ctx(t), newObj(metav1.ObjectMeta{Name: objName, Labels: labelsOf("app", "crud")}), metav1.CreateOptions{}))
		if created.GetUID() == "" {
			t.Error("created object has no uid")
		}
		if ts := created.GetCreationTimestamp(); ts.IsZero() {
			t.Error("created object has no creationTimestamp")
		}
		rv1 := rvNum(t, created.GetResourceVersion())
		if wantGen := int64(map[bool]int{true: 1}[generation]); created.GetGeneration() != wantGen {
			t.Errorf("generation = %d, want %d", created.GetGeneration(), wantGen)
		}

		got := must[T](t)(c.Get(ctx(t), objName, metav1.GetOptions{}))
		if got.GetUID() != created.GetUID() || got.GetResourceVersion() != created.GetResourceVersion() {
			t.Errorf("get = uid %s rv %s, want uid %s rv %s", got.GetUID(), got.GetResourceVersion(), created.GetUID(), created.GetResourceVersion())
		}
		if got.GetLabels()["app"] != "crud" {
			t.Errorf("labels = %v, want app=crud", got.GetLabels())
		}

		_, err := c.Create(ctx(t), newObj(metav1.ObjectMeta{Name: objName}), metav1.CreateOptions{})
		wantAPIError(t, err, 409, metav1.StatusReasonAlreadyExists, "already exists")

		mutate(got)
		updated := must[T](t)(c.Update(ctx(t), got, metav1.UpdateOptions{}))
		rv2 := rvNum(t, updated.GetResourceVersion())
		if rv2 <= rv1 {
			t.Errorf("resourceVersion after update = %d, want > %d", rv2, rv1)
		}
		if updated.GetUID() != created.GetUID() || !updated.GetCreationTimestamp().Time.Equal(created.GetCreationTimestamp().Time) {
			t.Errorf("update changed uid or creationTimestamp")
		}

		// created carries the old resourceVersion: a stale write.
		mutate(created)
		_, err = c.Update(ctx(t), created, metav1.UpdateOptions{})
		wantAPIError(t, err, 409, metav1.StatusReasonConflict, "the object has been modified")

		gen := must[T](t)(c.Create(ctx(t), newObj(metav1.ObjectMeta{GenerateName: "gen-"}), metav1.CreateOptions{}))
		if !strings.HasPrefix(gen.GetName(), "gen-") || len(gen.GetName()) != len("gen-")+5 {
			t.Errorf("generateName gen- gave name %q", gen.GetName())
		}
		if rv := rvNum(t, gen.GetResourceVersion()); rv <= rv2 {
			t.Errorf("resourceVersion of a later create = %d, want > %d", rv, rv2)
		}

		if err := c.Delete(ctx(t), objName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		after, err := c.Get(ctx(t), objName, metav1.GetOptions{})
		if deletesAtOnce {
			wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
		} else if err != nil || after == zero || after.GetDeletionTimestamp() == nil {
			t.Errorf("after delete: %v, %v; want the object with a deletionTimestamp", after, err)
		}
	}}
}

func rvNum(t *testing.T, rv string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n <= 0 {
		t.Fatalf("resourceVersion %q is not a positive integer", rv)
	}
	return n
}

func testDeployment(meta metav1.ObjectMeta) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labelsOf("app", "web")},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labelsOf("app", "web")},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}
}

func testPod(meta metav1.ObjectMeta) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: meta, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
}

func TestCRUD(t *testing.T) {
	c := startCluster(t)
	cases := []crudCase{
		newCRUDCase("configmaps",
			func(cs kubernetes.Interface, ns string) typedClient[*corev1.ConfigMap] {
				return cs.CoreV1().ConfigMaps(ns)
			},
			func(m metav1.ObjectMeta) *corev1.ConfigMap {
				return &corev1.ConfigMap{ObjectMeta: m, Data: map[string]string{"k": "v"}}
			},
			func(o *corev1.ConfigMap) { o.Data = map[string]string{"k": "v2"} }, false, true),
		newCRUDCase("secrets",
			func(cs kubernetes.Interface, ns string) typedClient[*corev1.Secret] { return cs.CoreV1().Secrets(ns) },
			func(m metav1.ObjectMeta) *corev1.Secret {
				return &corev1.Secret{ObjectMeta: m, Data: map[string][]byte{"k": []byte("s3cr3t")}}
			},
			func(o *corev1.Secret) { o.Data = map[string][]byte{"k": []byte("other")} }, false, true),
		newCRUDCase("deployments",
			func(cs kubernetes.Interface, ns string) typedClient[*appsv1.Deployment] {
				return cs.AppsV1().Deployments(ns)
			},
			testDeployment,
			func(o *appsv1.Deployment) { o.Spec.Replicas = ptr.To[int32](3) }, true, true),
		newCRUDCase("services",
			func(cs kubernetes.Interface, ns string) typedClient[*corev1.Service] { return cs.CoreV1().Services(ns) },
			func(m metav1.ObjectMeta) *corev1.Service {
				return &corev1.Service{ObjectMeta: m, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
			},
			func(o *corev1.Service) { o.Spec.Ports[0].Port = 8080 }, false, true),
		newCRUDCase("namespaces",
			func(cs kubernetes.Interface, _ string) typedClient[*corev1.Namespace] {
				return cs.CoreV1().Namespaces()
			},
			func(m metav1.ObjectMeta) *corev1.Namespace { return &corev1.Namespace{ObjectMeta: m} },
			func(o *corev1.Namespace) { o.Labels = labelsOf("changed", "yes") }, false, false),
		newCRUDCase("pods",
			func(cs kubernetes.Interface, ns string) typedClient[*corev1.Pod] { return cs.CoreV1().Pods(ns) },
			testPod,
			func(o *corev1.Pod) { o.Spec.Containers[0].Image = "busybox:2" }, true, true),
	}
	for _, client := range []struct {
		name string
		cs   kubernetes.Interface
	}{{"json", c.Client}, {"protobuf", c.Proto}} {
		t.Run(client.name, func(t *testing.T) {
			ns := c.namespace(t)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, client.cs, ns) })
			}
		})
	}
}

// TestGenerationAndStatus: generation starts at 1 and moves only with the
// spec; the status subresource writes only status, the main resource
// never does.
func TestGenerationAndStatus(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	deps := c.Client.AppsV1().Deployments(ns)
	d := must[*appsv1.Deployment](t)(deps.Create(ctx(t), testDeployment(metav1.ObjectMeta{Name: "web"}), metav1.CreateOptions{}))

	steps := []struct {
		name    string
		write   func(d *appsv1.Deployment) (*appsv1.Deployment, error)
		wantGen int64
		check   func(t *testing.T, d *appsv1.Deployment)
	}{
		{
			name: "create sets generation 1",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				return d, nil
			},
			wantGen: 1,
		},
		{
			name: "label change keeps generation",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				d.Labels = labelsOf("tier", "front")
				d.Annotations = map[string]string{"note": "x"}
				return deps.Update(ctx(t), d, metav1.UpdateOptions{})
			},
			wantGen: 1,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if d.Labels["tier"] != "front" || d.Annotations["note"] != "x" {
					t.Errorf("metadata not updated: %v %v", d.Labels, d.Annotations)
				}
			},
		},
		{
			name: "spec change bumps generation",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				d.Spec.Replicas = ptr.To[int32](5)
				return deps.Update(ctx(t), d, metav1.UpdateOptions{})
			},
			wantGen: 2,
		},
		{
			name: "UpdateStatus changes status only",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				d.Status.Replicas = 4
				d.Status.ObservedGeneration = 2
				d.Spec.Replicas = ptr.To[int32](9) // ignored
				return deps.UpdateStatus(ctx(t), d, metav1.UpdateOptions{})
			},
			wantGen: 2,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if d.Status.Replicas != 4 || d.Status.ObservedGeneration != 2 {
					t.Errorf("status = %+v, want replicas 4 observedGeneration 2", d.Status)
				}
				if *d.Spec.Replicas != 5 {
					t.Errorf("spec.replicas = %d after a status update, want 5", *d.Spec.Replicas)
				}
			},
		},
		{
			name: "Update ignores status",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				d.Status.Replicas = 100
				return deps.Update(ctx(t), d, metav1.UpdateOptions{})
			},
			wantGen: 2,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if d.Status.Replicas != 4 {
					t.Errorf("status.replicas = %d after a main-resource update, want 4", d.Status.Replicas)
				}
			},
		},
		{
			name: "a no-op update writes nothing",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				before := d.ResourceVersion
				out, err := deps.Update(ctx(t), d, metav1.UpdateOptions{})
				if err == nil && out.ResourceVersion != before {
					t.Errorf("no-op update moved resourceVersion %s -> %s", before, out.ResourceVersion)
				}
				return out, err
			},
			wantGen: 2,
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			out, err := st.write(d.DeepCopy())
			if err != nil {
				t.Fatal(err)
			}
			stored := must[*appsv1.Deployment](t)(deps.Get(ctx(t), "web", metav1.GetOptions{}))
			if stored.ResourceVersion != out.ResourceVersion {
				t.Errorf("stored resourceVersion %s, response %s", stored.ResourceVersion, out.ResourceVersion)
			}
			if stored.Generation != st.wantGen {
				t.Errorf("generation = %d, want %d", stored.Generation, st.wantGen)
			}
			if st.check != nil {
				st.check(t, stored)
			}
			d = stored
		})
	}
}

func TestGenerateNameRetriesTakenNames(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	cms := c.Client.CoreV1().ConfigMaps(ns)
	must[*corev1.ConfigMap](t)(cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gen-aaaaa"}}, metav1.CreateOptions{}))

	// The suffix generator collides on its first draws, as random names
	// sometimes do (27^5 names: a 3,000-pod ReplicaSet collides about one
	// run in four).
	var mu sync.Mutex
	draws := []string{"aaaaa", "aaaaa", "bbbbb"}
	restore := apiserver.SetNameSuffix(func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(draws) == 0 {
			return "aaaaa"
		}
		s := draws[0]
		draws = draws[1:]
		return s
	})
	t.Cleanup(restore)

	got := must[*corev1.ConfigMap](t)(cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{}))
	if got.Name != "gen-bbbbb" {
		t.Fatalf("generated name %q, want gen-bbbbb after two taken draws", got.Name)
	}
	// When every attempt collides, the client gets Kubernetes' ServerTimeout (500).
	_, err := cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
	wantAPIError(t, err, 500, metav1.StatusReasonServerTimeout)
}
