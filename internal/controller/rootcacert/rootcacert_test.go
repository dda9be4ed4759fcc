package rootcacert

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/fixture"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"

func configMap(data, annotations, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: "a", Annotations: annotations, Labels: labels},
		Data:       data,
	}
}

func TestNewWithoutCA(t *testing.T) {
	if _, err := New(DefaultConfig(), fake.NewClientset(), nil, nil); !errors.Is(err, ErrNoCACert) {
		t.Fatalf("New without a CA: err = %v, want %v", err, ErrNoCACert)
	}
}

func TestReconcile(t *testing.T) {
	now := metav1.NewTime(time.Now())
	active := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	terminating := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "a", DeletionTimestamp: &now},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
	wantData := map[string]string{DataKey: testCA}
	described := map[string]string{DescriptionAnnotation: Description}
	tests := []struct {
		name     string
		ns       *corev1.Namespace
		existing *corev1.ConfigMap
		// want is the ConfigMap afterwards, nil for none; only its data,
		// annotations and labels are compared.
		want *corev1.ConfigMap
		// writes is whether the controller creates or updates anything.
		writes bool
	}{
		{
			name:   "active namespace gets one",
			ns:     active,
			want:   configMap(wantData, described, nil),
			writes: true,
		},
		{
			name:     "correct one is left alone",
			ns:       active,
			existing: configMap(wantData, map[string]string{DescriptionAnnotation: Description, "team": "x"}, map[string]string{"l": "v"}),
			want:     configMap(wantData, map[string]string{DescriptionAnnotation: Description, "team": "x"}, map[string]string{"l": "v"}),
		},
		{
			name:     "wrong certificate is fixed",
			ns:       active,
			existing: configMap(map[string]string{DataKey: "tampered"}, described, nil),
			want:     configMap(wantData, described, nil),
			writes:   true,
		},
		{
			name:     "extra data key is removed",
			ns:       active,
			existing: configMap(map[string]string{DataKey: testCA, "extra": "x"}, described, nil),
			want:     configMap(wantData, described, nil),
			writes:   true,
		},
		{
			name:     "missing data is filled in",
			ns:       active,
			existing: configMap(nil, described, nil),
			want:     configMap(wantData, described, nil),
			writes:   true,
		},
		{
			name:     "missing annotation is added, other annotations and labels kept",
			ns:       active,
			existing: configMap(wantData, map[string]string{"team": "x"}, map[string]string{"l": "v"}),
			want:     configMap(wantData, map[string]string{DescriptionAnnotation: Description, "team": "x"}, map[string]string{"l": "v"}),
			writes:   true,
		},
		{
			name:     "different annotation is kept",
			ns:       active,
			existing: configMap(wantData, map[string]string{DescriptionAnnotation: "mine"}, nil),
			want:     configMap(wantData, map[string]string{DescriptionAnnotation: "mine"}, nil),
			writes:   false,
		},
		{
			name: "terminating namespace gets none",
			ns:   terminating,
		},
		{
			name:     "terminating namespace's one is left alone",
			ns:       terminating,
			existing: configMap(map[string]string{DataKey: "tampered"}, nil, nil),
			want:     configMap(map[string]string{DataKey: "tampered"}, nil, nil),
		},
		{
			name: "missing namespace gets none",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			if tt.ns != nil {
				objs = append(objs, tt.ns)
			}
			if tt.existing != nil {
				objs = append(objs, tt.existing)
			}
			kube := fake.NewClientset(objs...)
			cfg := DefaultConfig()
			cfg.CACert = []byte(testCA)
			c, err := New(cfg, kube, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			c.factory.Start(ctx.Done())
			go c.configMaps.RunWithContext(ctx)
			defer c.factory.Shutdown() // after cancel: Shutdown waits for the informers
			defer cancel()
			if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
				t.Fatal("caches not synced")
			}
			kube.ClearActions()
			if _, err := c.Reconcile(t.Context(), "a"); err != nil {
				t.Fatal(err)
			}

			got, err := kube.CoreV1().ConfigMaps("a").Get(t.Context(), ConfigMapName, metav1.GetOptions{})
			switch {
			case tt.want == nil && apierrors.IsNotFound(err):
			case tt.want == nil && err == nil:
				t.Fatalf("ConfigMap exists: %+v", got)
			case err != nil:
				t.Fatal(err)
			default:
				if !maps.Equal(got.Data, tt.want.Data) {
					t.Errorf("data = %v, want %v", got.Data, tt.want.Data)
				}
				if !maps.Equal(got.Annotations, tt.want.Annotations) {
					t.Errorf("annotations = %v, want %v", got.Annotations, tt.want.Annotations)
				}
				if !maps.Equal(got.Labels, tt.want.Labels) {
					t.Errorf("labels = %v, want %v", got.Labels, tt.want.Labels)
				}
			}
			var writes []string
			for _, a := range kube.Actions() {
				if a.GetVerb() == "create" || a.GetVerb() == "update" {
					writes = append(writes, a.GetVerb())
				}
			}
			if (len(writes) > 0) != tt.writes {
				t.Errorf("writes = %v, want some: %v", writes, tt.writes)
			}
		})
	}
}

// TestRunRestoresTamperedConfigMap: a change to the ConfigMap alone, with
// no namespace event, brings it back to the published certificate.
func TestRunRestoresTamperedConfigMap(t *testing.T) {
	kube := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}})
	cfg := DefaultConfig()
	cfg.CACert = []byte(testCA)
	c, err := New(cfg, kube, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	published := func(ctx context.Context) (string, error) {
		cm, err := kube.CoreV1().ConfigMaps("a").Get(ctx, ConfigMapName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "no ConfigMap", nil
		}
		if err != nil {
			return "", err
		}
		if !maps.Equal(cm.Data, map[string]string{DataKey: testCA}) {
			return fmt.Sprintf("data %v", cm.Data), nil
		}
		return "", nil
	}
	fixture.Await(t, 10*time.Second, "ConfigMap published", published)

	cm, err := kube.CoreV1().ConfigMaps("a").Get(t.Context(), ConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{DataKey: "tampered"}
	if _, err := kube.CoreV1().ConfigMaps("a").Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fixture.Await(t, 10*time.Second, "tampered ConfigMap restored", published)
}
