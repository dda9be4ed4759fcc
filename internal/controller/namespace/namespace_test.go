package namespace_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/controller/namespace"
)

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func ns(name string, terminating bool, finalizers ...corev1.FinalizerName) *corev1.Namespace {
	n := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Spec:       corev1.NamespaceSpec{Finalizers: finalizers},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	if terminating {
		now := metav1.Now()
		n.DeletionTimestamp = &now
		n.Status.Phase = corev1.NamespaceTerminating
	}
	return n
}

func obj(apiVersion, kind, namespace, name string, finalizers ...string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	u.SetFinalizers(finalizers)
	return u
}

// fakeCluster wires fake clients that behave like the API server where the
// controller depends on it: DeleteCollection deletes (or, for objects with
// finalizers, marks deleting) and finalize removes a namespace whose last
// finalizer goes.
type fakeCluster struct {
	kube      *kubefake.Clientset
	dyn       *dynamicfake.FakeDynamicClient
	kinds     map[schema.GroupVersionResource]string
	finalized []string // namespaces passed to Finalize
}

func newFakeCluster(t *testing.T, reg *api.Registry, namespaces []runtime.Object, objects ...runtime.Object) *fakeCluster {
	t.Helper()
	fc := &fakeCluster{kube: kubefake.NewClientset(namespaces...), kinds: map[schema.GroupVersionResource]string{}}
	listKinds := map[schema.GroupVersionResource]string{}
	for _, r := range reg.All() {
		listKinds[r.GVR] = r.Kind + "List"
		fc.kinds[r.GVR] = r.Kind
	}
	fc.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, objects...)
	fc.dyn.PrependReactor("delete-collection", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		gvr, namespace := action.GetResource(), action.GetNamespace()
		gvk := gvr.GroupVersion().WithKind(fc.kinds[gvr])
		list, err := fc.dyn.Tracker().List(gvr, gvk, namespace)
		if err != nil {
			return true, nil, err
		}
		items := list.(*unstructured.UnstructuredList).Items
		for i := range items {
			item := &items[i]
			if len(item.GetFinalizers()) == 0 {
				if err := fc.dyn.Tracker().Delete(gvr, namespace, item.GetName()); err != nil {
					return true, nil, err
				}
				continue
			}
			if item.GetDeletionTimestamp() == nil {
				now := metav1.Now()
				item.SetDeletionTimestamp(&now)
				if err := fc.dyn.Tracker().Update(gvr, item, namespace); err != nil {
					return true, nil, err
				}
			}
		}
		return true, nil, nil
	})
	fc.kube.PrependReactor("create", "namespaces", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "finalize" {
			return false, nil, nil
		}
		n := action.(clienttesting.CreateAction).GetObject().(*corev1.Namespace)
		fc.finalized = append(fc.finalized, n.Name)
		gvr := corev1.SchemeGroupVersion.WithResource("namespaces")
		if n.DeletionTimestamp != nil && len(n.Spec.Finalizers) == 0 {
			return true, n, fc.kube.Tracker().Delete(gvr, "", n.Name)
		}
		return true, n, fc.kube.Tracker().Update(gvr, n, "")
	})
	return fc
}

func TestNamespaceController(t *testing.T) {
	reg := api.NewRegistry()
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	tests := []struct {
		name       string
		namespaces []runtime.Object
		objects    []runtime.Object
		// act runs once the first expectations hold; nil: none.
		act func(t *testing.T, fc *fakeCluster)
		// want is checked until it returns "" (then after act, wantAfter).
		want, wantAfter func(ctx context.Context, fc *fakeCluster) string
	}{
		{
			name:       "terminating namespace is emptied and finalized",
			namespaces: []runtime.Object{ns("doomed", true, corev1.FinalizerKubernetes), ns("other", false, corev1.FinalizerKubernetes)},
			objects: []runtime.Object{
				obj("v1", "ConfigMap", "doomed", "cm"),
				obj("v1", "Secret", "doomed", "s"),
				obj("apps/v1", "Deployment", "doomed", "d"),
				obj("v1", "ConfigMap", "other", "keep"),
			},
			want: func(ctx context.Context, fc *fakeCluster) string {
				if msg := nsGone(ctx, fc, "doomed"); msg != "" {
					return msg
				}
				for _, o := range []struct {
					gvr      schema.GroupVersionResource
					ns, name string
				}{{cmGVR, "doomed", "cm"}, {schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "doomed", "s"}, {schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "doomed", "d"}} {
					if _, err := fc.dyn.Resource(o.gvr).Namespace(o.ns).Get(ctx, o.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
						return fmt.Sprintf("%s %s/%s still there (%v)", o.gvr.Resource, o.ns, o.name, err)
					}
				}
				if _, err := fc.dyn.Resource(cmGVR).Namespace("other").Get(ctx, "keep", metav1.GetOptions{}); err != nil {
					return "configmap in a live namespace: " + err.Error()
				}
				if _, err := fc.kube.CoreV1().Namespaces().Get(ctx, "other", metav1.GetOptions{}); err != nil {
					return "live namespace: " + err.Error()
				}
				return ""
			},
		},
		{
			name:       "content with finalizers holds the namespace and is reported",
			namespaces: []runtime.Object{ns("stuck", true, corev1.FinalizerKubernetes)},
			objects:    []runtime.Object{obj("v1", "ConfigMap", "stuck", "held", "example.com/hold"), obj("v1", "ConfigMap", "stuck", "free")},
			want: func(ctx context.Context, fc *fakeCluster) string {
				n, err := fc.kube.CoreV1().Namespaces().Get(ctx, "stuck", metav1.GetOptions{})
				if err != nil {
					return err.Error()
				}
				if slices.Contains(fc.finalized, "stuck") {
					return "finalized while content remains"
				}
				for _, want := range []corev1.NamespaceCondition{
					{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain", Message: "Some resources are remaining: configmaps has 1 resource instances"},
					{Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionTrue, Reason: "SomeFinalizersRemain", Message: "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"},
					{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionFalse, Reason: "ContentDeleted"},
				} {
					if msg := hasCondition(n, want); msg != "" {
						return msg
					}
				}
				if _, err := fc.dyn.Resource(cmGVR).Namespace("stuck").Get(ctx, "free", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					return "configmap without finalizers still there"
				}
				return ""
			},
			act: func(t *testing.T, fc *fakeCluster) {
				// The finalizer's owner finishes: the object goes.
				if err := fc.dyn.Tracker().Delete(cmGVR, "stuck", "held"); err != nil {
					t.Fatal(err)
				}
			},
			wantAfter: func(ctx context.Context, fc *fakeCluster) string { return nsGone(ctx, fc, "stuck") },
		},
		{
			name:       "other spec finalizers are kept",
			namespaces: []runtime.Object{ns("shared", true, corev1.FinalizerKubernetes, "example.com/x")},
			want: func(ctx context.Context, fc *fakeCluster) string {
				n, err := fc.kube.CoreV1().Namespaces().Get(ctx, "shared", metav1.GetOptions{})
				if err != nil {
					return err.Error()
				}
				if !slices.Equal(n.Spec.Finalizers, []corev1.FinalizerName{"example.com/x"}) {
					return fmt.Sprintf("spec.finalizers = %v", n.Spec.Finalizers)
				}
				return hasCondition(n, corev1.NamespaceCondition{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionFalse, Reason: "ContentRemoved"})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := newFakeCluster(t, reg, tt.namespaces, tt.objects...)
			cfg := namespace.DefaultConfig()
			cfg.ContentRecheck = 20 * time.Millisecond
			c, err := namespace.New(cfg, fc.kube, fc.dyn, reg, nil, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			defer func() {
				cancel()
				<-done
			}()
			poll(t, fc, tt.want)
			if tt.act != nil {
				tt.act(t, fc)
				poll(t, fc, tt.wantAfter)
			}
		})
	}
}

func poll(t *testing.T, fc *fakeCluster, cond func(context.Context, *fakeCluster) string) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		last = cond(ctx, fc)
		return last == "", nil
	})
	if err != nil {
		t.Fatalf("%s: %v", last, err)
	}
}

func nsGone(ctx context.Context, fc *fakeCluster, name string) string {
	_, err := fc.kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		return fmt.Sprintf("namespace %s not gone (%v)", name, err)
	}
	return ""
}

// hasCondition checks type, status, reason and (if set) message.
func hasCondition(n *corev1.Namespace, want corev1.NamespaceCondition) string {
	for _, c := range n.Status.Conditions {
		if c.Type != want.Type {
			continue
		}
		if c.Status != want.Status || c.Reason != want.Reason || (want.Message != "" && c.Message != want.Message) {
			return fmt.Sprintf("condition %s = %s/%s %q, want %s/%s %q", c.Type, c.Status, c.Reason, c.Message, want.Status, want.Reason, want.Message)
		}
		return ""
	}
	return fmt.Sprintf("no condition %s in %v", want.Type, n.Status.Conditions)
}
