package deployment_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/gantry-dev/gantry/internal/controller/deployment"
	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

const scenarioTimeout = 90 * time.Second

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, scenarioTimeout, what, cond)
}

// kubectl runs the real kubectl in-process against c.
func kubectl(t *testing.T, c *testcluster.Cluster, args ...string) (string, error) {
	t.Helper()
	return c.Kubectl(t, args...)
}

func mustKubectl(t *testing.T, c *testcluster.Cluster, args ...string) string {
	t.Helper()
	out, err := kubectl(t, c, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
	return out
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

// updateDeployment changes a Deployment with retries on conflicts.
func updateDeployment(t *testing.T, cs kubernetes.Interface, ns, name string, change func(*appsv1.Deployment)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(d)
		_, err = cs.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func condition(d *appsv1.Deployment, ct appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == ct {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// rolledOut checks that the Deployment's current generation is fully rolled
// out, with every status counter and both conditions as Kubernetes reports
// them then.
func rolledOut(cs kubernetes.Interface, ns, name string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		r, s := *d.Spec.Replicas, d.Status
		if s.ObservedGeneration != d.Generation || s.Replicas != r || s.UpdatedReplicas != r || s.ReadyReplicas != r ||
			s.AvailableReplicas != r || s.UnavailableReplicas != 0 {
			return fmt.Sprintf("generation %d status %+v", d.Generation, s), nil
		}
		if c := condition(d, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue || c.Reason != "MinimumReplicasAvailable" {
			return fmt.Sprintf("Available condition %+v", c), nil
		}
		if c := condition(d, appsv1.DeploymentProgressing); c == nil || c.Status != corev1.ConditionTrue || c.Reason != "NewReplicaSetAvailable" {
			return fmt.Sprintf("Progressing condition %+v", c), nil
		}
		// The new ReplicaSet is named after the template's hash.
		hash := deployment.ComputeHash(&d.Spec.Template, d.Status.CollisionCount)
		rs, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, name+"-"+hash, metav1.GetOptions{})
		if err != nil {
			return fmt.Sprintf("new replica set %s-%s: %v", name, hash, err), nil
		}
		if rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
			rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
			return fmt.Sprintf("replica set %s lacks the hash label in labels, selector or template", rs.Name), nil
		}
		if rs.Annotations[deployment.RevisionAnnotation] != d.Annotations[deployment.RevisionAnnotation] {
			return fmt.Sprintf("revision of the deployment %q, of its new replica set %q", d.Annotations[deployment.RevisionAnnotation], rs.Annotations[deployment.RevisionAnnotation]), nil
		}
		return "", nil
	}
}

// observer watches the pods and ReplicaSets of a namespace and checks an
// invariant on the state after every single event.
type observer struct {
	mu     sync.Mutex
	pods   map[string]*corev1.Pod
	rss    map[string]*appsv1.ReplicaSet
	events int
	armed  bool
	check  func(o *observer) string // "" when the state is fine
	faults []string
}

func observe(t *testing.T, cs kubernetes.Interface, ns string, check func(o *observer) string) *observer {
	t.Helper()
	o := &observer{pods: map[string]*corev1.Pod{}, rss: map[string]*appsv1.ReplicaSet{}, check: check}
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	podInf, rsInf := f.Core().V1().Pods().Informer(), f.Apps().V1().ReplicaSets().Informer()
	handler := func(set func(key string, obj any)) cache.ResourceEventHandlerFuncs {
		apply := func(obj any, deleted bool) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			key, _ := cache.MetaNamespaceKeyFunc(obj)
			o.mu.Lock()
			defer o.mu.Unlock()
			if deleted {
				set(key, nil)
			} else {
				set(key, obj)
			}
			o.events++
			if o.armed {
				if msg := o.check(o); msg != "" {
					o.faults = append(o.faults, msg)
				}
			}
		}
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { apply(obj, false) },
			UpdateFunc: func(_, obj any) { apply(obj, false) },
			DeleteFunc: func(obj any) { apply(obj, true) },
		}
	}
	if _, err := podInf.AddEventHandler(handler(func(k string, obj any) {
		if obj == nil {
			delete(o.pods, k)
		} else {
			o.pods[k] = obj.(*corev1.Pod)
		}
	})); err != nil {
		t.Fatal(err)
	}
	if _, err := rsInf.AddEventHandler(handler(func(k string, obj any) {
		if obj == nil {
			delete(o.rss, k)
		} else {
			o.rss[k] = obj.(*appsv1.ReplicaSet)
		}
	})); err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	t.Cleanup(func() { cancel(); f.Shutdown() })
	return o
}

// arm starts checking (and checks the current state once).
func (o *observer) arm() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.armed = true
	if msg := o.check(o); msg != "" {
		o.faults = append(o.faults, msg)
	}
}

// disarm stops checking and returns the faults seen and the events.
func (o *observer) disarm() ([]string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.armed = false
	faults := o.faults
	o.faults = nil
	return faults, o.events
}

// availablePods counts pods that are ready and not being deleted
// (minReadySeconds is 0 in these scenarios).
func (o *observer) availablePods() int {
	n := 0
	for _, p := range o.pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

func (o *observer) specTotal() int32 {
	var n int32
	for _, rs := range o.rss {
		n += *rs.Spec.Replicas
	}
	return n
}

// images returns the images of the pods not being deleted.
func images(ctx context.Context, cs kubernetes.Interface, ns, selector string) (map[string]int, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out[p.Spec.Containers[0].Image]++
		}
	}
	return out, nil
}
