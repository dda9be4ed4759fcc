package api

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func vtPodTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "nginx", Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{ContainerPort: 80}},
		}}},
	}
}

func vtSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
}

func vtDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       appsv1.DeploymentSpec{Selector: vtSelector(), Template: vtPodTemplate()},
	}
}

func TestDeploymentDefaults(t *testing.T) {
	r := vtResource(t, gvr("apps", "v1", "deployments"))
	d := vtDeployment()
	r.Default(d)
	s := d.Spec
	if *s.Replicas != 1 || s.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		s.Strategy.RollingUpdate.MaxUnavailable.String() != "25%" || s.Strategy.RollingUpdate.MaxSurge.String() != "25%" ||
		*s.RevisionHistoryLimit != 10 || *s.ProgressDeadlineSeconds != 600 {
		t.Fatalf("deployment defaults wrong: %+v", s)
	}
	ps := s.Template.Spec
	if ps.RestartPolicy != corev1.RestartPolicyAlways || ps.DNSPolicy != corev1.DNSClusterFirst ||
		ps.Containers[0].Ports[0].Protocol != corev1.ProtocolTCP || ps.EnableServiceLinks != nil {
		t.Fatalf("template defaults wrong (enableServiceLinks is a Pod-only default): %+v", ps)
	}

	d = vtDeployment()
	d.Spec.Replicas = strategyPtr(int32(0))
	d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
	r.Default(d)
	if *d.Spec.Replicas != 0 || d.Spec.Strategy.RollingUpdate != nil {
		t.Fatalf("defaults overrode user values: %+v", d.Spec)
	}
	vtCheck(t, r.Validate(d))

	// A template's limits do not become requests (a Pod-only default).
	d = vtDeployment()
	d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	r.Default(d)
	if d.Spec.Template.Spec.Containers[0].Resources.Requests != nil {
		t.Errorf("template requests defaulted: %v", d.Spec.Template.Spec.Containers[0].Resources.Requests)
	}
}

func TestValidateDeployment(t *testing.T) {
	r := vtResource(t, gvr("apps", "v1", "deployments"))
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []vtErr
	}{
		{"valid", func(*appsv1.Deployment) {}, nil},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = strategyPtr(int32(-1)) },
			[]vtErr{vtInvalid("spec.replicas").with("spec.replicas: Invalid value: -1: must be greater than or equal to 0")}},
		{"no selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			[]vtErr{vtRequired("spec.selector"), vtInvalid("spec.template.metadata.labels")}},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			[]vtErr{vtInvalid("spec.selector").with("empty selector is invalid for deployment")}},
		{"selector mismatch", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "db"} },
			[]vtErr{vtInvalid("spec.template.metadata.labels").with("`selector` does not match template `labels`")}},
		{"restartPolicy Never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			[]vtErr{vtNotSupported("spec.template.spec.restartPolicy").with(`supported values: "Always"`)}},
		{"template container invalid", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			[]vtErr{vtRequired("spec.template.spec.containers[0].image")}},
		{"template bad label", func(d *appsv1.Deployment) {
			d.Spec.Template.Labels["bad key!"] = "x"
		}, []vtErr{vtInvalid("spec.template.metadata.labels")}},
		{"both zero", func(d *appsv1.Deployment) {
			zero := intstr.FromInt32(0)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &zero}
		}, []vtErr{vtInvalid("spec.strategy.rollingUpdate.maxUnavailable").with("may not be 0 when `maxSurge` is 0")}},
		{"maxUnavailable over 100%", func(d *appsv1.Deployment) {
			v := intstr.FromString("150%")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: &v}
		}, []vtErr{vtInvalid("spec.strategy.rollingUpdate.maxUnavailable").with("must not be greater than 100%")}},
		{"bad percent", func(d *appsv1.Deployment) {
			v := intstr.FromString("abc")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &v}
		}, []vtErr{vtInvalid("spec.strategy.rollingUpdate.maxSurge")}},
		{"recreate with rollingUpdate", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}, []vtErr{vtForbidden("spec.strategy.rollingUpdate")}},
		{"bad strategy", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" }, []vtErr{vtNotSupported("spec.strategy")}},
		{"progress deadline not above minReady", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 700
		}, []vtErr{vtInvalid("spec.progressDeadlineSeconds").with("must be greater than minReadySeconds")}},
		{"bad name", func(d *appsv1.Deployment) { d.Name = "Web" }, []vtErr{vtInvalid("metadata.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := vtDeployment()
			tt.mutate(d)
			vtCheck(t, vtCreate(r, d), tt.want...)
		})
	}
}

func TestValidateDeploymentUpdate(t *testing.T) {
	r := vtResource(t, gvr("apps", "v1", "deployments"))
	old := vtDeployment()
	r.Default(old)

	scaled := old.DeepCopy()
	scaled.Spec.Replicas = strategyPtr(int32(5))
	scaled.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	vtCheck(t, vtUpdate(r, scaled, old))

	moved := old.DeepCopy()
	moved.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
	moved.Spec.Template.Labels["v"] = "2"
	vtCheck(t, vtUpdate(r, moved, old), vtInvalid("spec.selector").with("field is immutable"))
}

func TestReplicaSetAndDaemonSet(t *testing.T) {
	rs := vtResource(t, gvr("apps", "v1", "replicasets"))
	set := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{Selector: vtSelector(), Template: vtPodTemplate()}}
	vtCheck(t, vtCreate(rs, set))
	if *set.Spec.Replicas != 1 {
		t.Errorf("replicaset replicas default = %d", *set.Spec.Replicas)
	}
	bad := set.DeepCopy()
	bad.Spec.Replicas = strategyPtr(int32(-2))
	bad.Spec.Template.Spec.ActiveDeadlineSeconds = strategyPtr(int64(5))
	vtCheck(t, vtCreate(rs, bad), vtInvalid("spec.replicas"), vtForbidden("spec.template.spec.activeDeadlineSeconds"))

	dsr := vtResource(t, gvr("apps", "v1", "daemonsets"))
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{Selector: vtSelector(), Template: vtPodTemplate()}}
	vtCheck(t, vtCreate(dsr, ds))
	us := ds.Spec.UpdateStrategy
	if us.Type != appsv1.RollingUpdateDaemonSetStrategyType || us.RollingUpdate.MaxUnavailable.IntValue() != 1 ||
		us.RollingUpdate.MaxSurge.IntValue() != 0 || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("daemonset defaults wrong: %+v", ds.Spec)
	}
	both := ds.DeepCopy()
	one := intstr.FromInt32(1)
	both.Spec.UpdateStrategy.RollingUpdate.MaxSurge = &one
	vtCheck(t, vtCreate(dsr, both), vtInvalid("spec.updateStrategy.rollingUpdate.maxSurge"))
	mismatch := ds.DeepCopy()
	mismatch.Spec.Template.Labels = nil
	vtCheck(t, vtCreate(dsr, mismatch), vtInvalid("spec.template.metadata.labels"))
	empty := ds.DeepCopy()
	empty.Spec.Selector = &metav1.LabelSelector{}
	vtCheck(t, vtCreate(dsr, empty), vtInvalid("spec.selector").with("empty selector is invalid for daemonset"))
	changed := ds.DeepCopy()
	changed.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
	changed.Spec.Template.Labels["x"] = "y"
	vtCheck(t, vtUpdate(dsr, changed, ds), vtInvalid("spec.selector"))
}

func vtStatefulSet() *appsv1.StatefulSet {
	t := vtPodTemplate()
	t.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			Selector: vtSelector(), Template: t, ServiceName: "db",
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func TestStatefulSet(t *testing.T) {
	r := vtResource(t, gvr("apps", "v1", "statefulsets"))
	ss := vtStatefulSet()
	vtCheck(t, vtCreate(r, ss))
	s := ss.Spec
	if s.PodManagementPolicy != appsv1.OrderedReadyPodManagement || s.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType ||
		*s.UpdateStrategy.RollingUpdate.Partition != 0 || *s.RevisionHistoryLimit != 10 || *s.Replicas != 1 ||
		s.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		s.PersistentVolumeClaimRetentionPolicy.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		*s.VolumeClaimTemplates[0].Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Fatalf("statefulset defaults wrong: %+v", s)
	}

	tests := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		want   []vtErr
	}{
		{"bad pod management", func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }, []vtErr{vtInvalid("spec.podManagementPolicy")}},
		{"claim without storage", func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests = nil },
			[]vtErr{vtRequired("spec.volumeClaimTemplates[0].spec.resources[storage]")}},
		{"mount of unknown volume", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].VolumeMounts[0].Name = "logs" },
			[]vtErr{vtNotFound("spec.template.spec.containers[0].volumeMounts[0].name")}},
		{"bad retention", func(s *appsv1.StatefulSet) {
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: "Keep", WhenScaled: "Retain"}
		}, []vtErr{vtNotSupported("spec.persistentVolumeClaimRetentionPolicy.whenDeleted")}},
		{"negative partition", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: strategyPtr(int32(-1))}}
		}, []vtErr{vtInvalid("spec.updateStrategy.rollingUpdate.partition")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := vtStatefulSet()
			tt.mutate(s)
			vtCheck(t, vtCreate(r, s), tt.want...)
		})
	}

	old := vtStatefulSet()
	r.Default(old)
	scaled := old.DeepCopy()
	scaled.Spec.Replicas = strategyPtr(int32(3))
	vtCheck(t, vtUpdate(r, scaled, old))
	renamed := old.DeepCopy()
	renamed.Spec.ServiceName = "other"
	vtCheck(t, vtUpdate(r, renamed, old), vtForbidden("spec").with("updates to statefulset spec for fields other than"))
}

func TestControllerRevision(t *testing.T) {
	r := vtResource(t, gvr("apps", "v1", "controllerrevisions"))
	cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"},
		Data: runtime.RawExtension{Raw: []byte(`{"a":1}`)}, Revision: 1}
	vtCheck(t, vtCreate(r, cr))
	bad := cr.DeepCopy()
	bad.Data = runtime.RawExtension{}
	bad.Revision = -1
	vtCheck(t, vtCreate(r, bad), vtRequired("data"), vtInvalid("revision"))
	changed := cr.DeepCopy()
	changed.Data.Raw = []byte(`{"a":2}`)
	vtCheck(t, vtUpdate(r, changed, cr), vtInvalid("data").with("field is immutable"))
}

func TestInvalidStatusMessage(t *testing.T) {
	r := vtResource(t, gvr("apps", "v1", "deployments"))
	d := vtDeployment()
	d.Spec.Replicas = strategyPtr(int32(-1))
	d.Spec.Template.Labels = map[string]string{"app": "db"}
	errs := vtCreate(r, d)
	got := apierrors.NewInvalid(r.GroupVersionKind().GroupKind(), d.Name, errs).Error()
	want := `Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, ` +
		`spec.template.metadata.labels: Invalid value: {"app":"db"}: ` + "`selector` does not match template `labels`]"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
