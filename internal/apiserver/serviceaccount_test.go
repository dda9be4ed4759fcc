package apiserver_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/gantry-dev/gantry/internal/testcluster"
)

// tokenClient is a client that authenticates with token only.
func tokenClient(t *testing.T, c *testcluster.Cluster, token string) kubernetes.Interface {
	t.Helper()
	cfg := &rest.Config{Host: c.Config.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: c.Config.CAData}}
	if len(cfg.TLSClientConfig.CAData) == 0 {
		cfg.TLSClientConfig.CAFile = c.Config.CAFile
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestTokenRequest covers serviceaccounts/token and authentication with
// the tokens it issues, as kube-apiserver serves them.
func TestTokenRequest(t *testing.T) {
	c := testcluster.Start(t)
	cl := &cluster{Cluster: c}
	ns := cl.namespace(t)
	sas := c.Client.CoreV1().ServiceAccounts(ns)
	sa, err := sas.Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("defaults and use", func(t *testing.T) {
		tr, err := sas.CreateToken(ctx(t), "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tr.Status.Token == "" || *tr.Spec.ExpirationSeconds != 3600 || !slices.Equal(tr.Spec.Audiences, []string{"https://kubernetes.default.svc.cluster.local"}) {
			t.Fatalf("token request %+v", tr.Spec)
		}
		if d := time.Until(tr.Status.ExpirationTimestamp.Time); d < 59*time.Minute || d > 61*time.Minute {
			t.Fatalf("expires in %v", d)
		}
		if _, err := tokenClient(t, c, tr.Status.Token).CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{}); err != nil {
			t.Fatalf("request with the token: %v", err)
		}
		if _, err := tokenClient(t, c, tr.Status.Token+"x").CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{}); !apierrors.IsUnauthorized(err) {
			t.Fatalf("request with a broken token: %v, want 401", err)
		}
	})

	t.Run("invalid requests", func(t *testing.T) {
		_, err := sas.CreateToken(ctx(t), "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](60)}}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes") {
			t.Fatalf("short expiry: %v", err)
		}
		_, err = sas.CreateToken(ctx(t), "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `serviceaccounts "nobody" not found`) {
			t.Fatalf("missing account: %v", err)
		}
		_, err = sas.CreateToken(ctx(t), "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "ConfigMap", APIVersion: "v1", Name: "x"},
		}}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.boundObjectRef.kind") {
			t.Fatalf("bound to a ConfigMap: %v", err)
		}
	})

	t.Run("bound to a pod", func(t *testing.T) {
		pods := c.Client.CoreV1().Pods(ns)
		pod, err := pods.Create(ctx(t), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "holder"},
			Spec:       corev1.PodSpec{ServiceAccountName: "robot", Containers: []corev1.Container{{Name: "c", Image: "app:1"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bind := func(uid string) (*authenticationv1.TokenRequest, error) {
			return sas.CreateToken(ctx(t), "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
				Audiences:      []string{"https://kubernetes.default.svc.cluster.local", "vault"},
				BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "holder", UID: types.UID(uid)},
			}}, metav1.CreateOptions{})
		}
		if _, err := bind("not-the-uid"); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "does not match the UID in record") {
			t.Fatalf("wrong UID: %v", err)
		}
		tr, err := bind(string(pod.UID))
		if err != nil {
			t.Fatal(err)
		}
		client := tokenClient(t, c, tr.Status.Token)
		if _, err := client.CoreV1().Pods(ns).Get(ctx(t), "holder", metav1.GetOptions{}); err != nil {
			t.Fatalf("while the pod exists: %v", err)
		}
		if err := pods.Delete(ctx(t), "holder", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "pod gone", func() (bool, error) {
			_, err := pods.Get(ctx(t), "holder", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if _, err := client.CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{}); !apierrors.IsUnauthorized(err) {
			t.Fatalf("after the pod is deleted: %v, want 401", err)
		}
	})

	t.Run("account recreated", func(t *testing.T) {
		tr, err := sas.CreateToken(ctx(t), "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := sas.Delete(ctx(t), "robot", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := sas.Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := tokenClient(t, c, tr.Status.Token).CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{}); !apierrors.IsUnauthorized(err) {
			t.Fatalf("token of the deleted account (uid %s): %v, want 401", sa.UID, err)
		}
	})

	t.Run("discovery", func(t *testing.T) {
		list, err := c.Client.Discovery().ServerResourcesForGroupVersion("v1")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.APIResources {
			if r.Name == "serviceaccounts/token" {
				if r.Group != "authentication.k8s.io" || r.Version != "v1" || r.Kind != "TokenRequest" || !slices.Equal(r.Verbs, []string{"create"}) {
					t.Fatalf("serviceaccounts/token: %+v", r)
				}
				return
			}
		}
		t.Fatal("serviceaccounts/token not in discovery")
	})
}

// TestServiceAccountAdmission covers the token volume mounted into new
// pods and the check that their account exists.
func TestServiceAccountAdmission(t *testing.T) {
	c := testcluster.Start(t)
	cl := &cluster{Cluster: c}
	ns := cl.namespace(t) // created just now: its default account may not exist yet
	pods := c.Client.CoreV1().Pods(ns)
	newPod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "app:1"}},
			Containers:     []corev1.Container{{Name: "a", Image: "app:1"}, {Name: "b", Image: "app:1"}},
		}}
	}
	tokenVolume := func(p *corev1.Pod) string {
		for _, v := range p.Spec.Volumes {
			if strings.HasPrefix(v.Name, "kube-api-access-") {
				return v.Name
			}
		}
		return ""
	}

	t.Run("mounted", func(t *testing.T) {
		p, err := pods.Create(ctx(t), newPod("mounted"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.ServiceAccountName != "default" {
			t.Fatalf("serviceAccountName %q", p.Spec.ServiceAccountName)
		}
		name := tokenVolume(p)
		if len(name) != len("kube-api-access-")+5 {
			t.Fatalf("volumes %+v", p.Spec.Volumes)
		}
		v := p.Spec.Volumes[len(p.Spec.Volumes)-1]
		src := v.Projected.Sources
		if len(src) != 3 || src[0].ServiceAccountToken == nil || src[0].ServiceAccountToken.Path != "token" || *src[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
			src[1].ConfigMap == nil || src[1].ConfigMap.Name != "kube-root-ca.crt" || src[1].ConfigMap.Items[0].Path != "ca.crt" ||
			src[2].DownwardAPI == nil || src[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" {
			t.Fatalf("volume %+v", v.Projected)
		}
		for _, ctr := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			if !slices.ContainsFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool {
				return m.Name == name && m.ReadOnly && m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount"
			}) {
				t.Fatalf("container %s mounts %+v", ctr.Name, ctr.VolumeMounts)
			}
		}
	})

	t.Run("automount off", func(t *testing.T) {
		p := newPod("pod-off")
		p.Spec.AutomountServiceAccountToken = ptr.To(false)
		got, err := pods.Create(ctx(t), p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tokenVolume(got) != "" || len(got.Spec.Containers[0].VolumeMounts) != 0 {
			t.Fatalf("pod with automount off got %+v", got.Spec.Volumes)
		}
		if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "quiet"}, AutomountServiceAccountToken: ptr.To(false)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p = newPod("sa-off")
		p.Spec.ServiceAccountName = "quiet"
		if got, err = pods.Create(ctx(t), p, metav1.CreateOptions{}); err != nil || tokenVolume(got) != "" {
			t.Fatalf("account with automount off: %v %+v", err, got.Spec.Volumes)
		}
		p = newPod("pod-overrides")
		p.Spec.ServiceAccountName = "quiet"
		p.Spec.AutomountServiceAccountToken = ptr.To(true)
		if got, err = pods.Create(ctx(t), p, metav1.CreateOptions{}); err != nil || tokenVolume(got) == "" {
			t.Fatalf("pod turning automount on: %v %+v", err, got.Spec.Volumes)
		}
	})

	t.Run("own mount kept", func(t *testing.T) {
		p := newPod("own-mount")
		p.Spec.Volumes = []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}
		got, err := pods.Create(ctx(t), p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if m := got.Spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].Name != "mine" {
			t.Fatalf("container a mounts %+v", m)
		}
		if m := got.Spec.Containers[1].VolumeMounts; len(m) != 1 || m[0].Name != tokenVolume(got) {
			t.Fatalf("container b mounts %+v", m)
		}
	})

	t.Run("missing account", func(t *testing.T) {
		p := newPod("orphan")
		p.Spec.ServiceAccountName = "missing"
		_, err := pods.Create(ctx(t), p, metav1.CreateOptions{})
		want := `error looking up service account ` + ns + `/missing: serviceaccounts "missing" not found`
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
			t.Fatalf("pod of a missing account: %v, want 403 %q", err, want)
		}
	})
}
