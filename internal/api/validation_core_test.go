package api

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEveryResourceHasStrategy(t *testing.T) {
	for _, r := range NewRegistry().All() {
		if r.Default == nil || r.Validate == nil || r.ValidateUpdate == nil {
			t.Errorf("%v: missing strategy hooks", r.GVR)
			continue
		}
		// An empty object is rejected (at least for its missing name), never accepted silently.
		obj := r.New()
		r.Default(obj)
		if errs := r.Validate(obj); len(errs) == 0 {
			t.Errorf("%v: empty object passed validation", r.GVR)
		}
	}
}

func TestClusterScopedNamespaceCleared(t *testing.T) {
	r := vtResource(t, gvr("", "v1", "namespaces"))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Namespace: "default"}}
	vtCheck(t, vtCreate(r, ns))
	if ns.Namespace != "" || ns.Labels[corev1.LabelMetadataName] != "team-a" || ns.Status.Phase != corev1.NamespaceActive {
		t.Fatalf("namespace defaults wrong: %+v", ns)
	}
	bad := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team.a"}}
	vtCheck(t, vtCreate(r, bad), vtInvalid("metadata.name").with("must not contain dots"))
	fin := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"custom"}}}
	vtCheck(t, vtCreate(r, fin), vtInvalid("spec.finalizers").with("name is neither a standard finalizer name nor is it fully qualified"))
}

func TestConfigMapAndSecret(t *testing.T) {
	cmr := vtResource(t, gvr("", "v1", "configmaps"))
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"},
		Data: map[string]string{"app.properties": "a=b"}}
	vtCheck(t, vtCreate(cmr, cm))
	bad := cm.DeepCopy()
	bad.Data["bad key"] = "x"
	vtCheck(t, vtCreate(cmr, bad), vtInvalid("data[bad key]").with("a valid config key must consist of alphanumeric characters, '-', '_' or '.'"))
	dup := cm.DeepCopy()
	dup.BinaryData = map[string][]byte{"app.properties": nil}
	vtCheck(t, vtCreate(cmr, dup), vtInvalid("data[app.properties]"))
	big := cm.DeepCopy()
	big.Data["big"] = strings.Repeat("x", maxSecretSize)
	vtCheck(t, vtCreate(cmr, big), vtTooLong("[]").with("[]: Too long: may not be more than 1048576 bytes"))

	frozen := cm.DeepCopy()
	frozen.Immutable = strategyPtr(true)
	changed := frozen.DeepCopy()
	changed.Data["app.properties"] = "a=c"
	vtCheck(t, vtUpdate(cmr, changed, frozen), vtForbidden("data").with("field is immutable when `immutable` is set"))
	thawed := frozen.DeepCopy()
	thawed.Immutable = nil
	vtCheck(t, vtUpdate(cmr, thawed, frozen), vtForbidden("immutable"))
	relabel := frozen.DeepCopy()
	relabel.Labels = map[string]string{"a": "b"}
	vtCheck(t, vtUpdate(cmr, relabel, frozen))

	sr := vtResource(t, gvr("", "v1", "secrets"))
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "default"},
		StringData: map[string]string{"password": "hunter2"}}
	vtCheck(t, vtCreate(sr, s))
	if s.Type != corev1.SecretTypeOpaque || string(s.Data["password"]) != "hunter2" || s.StringData != nil {
		t.Fatalf("secret defaults wrong: %+v", s)
	}
	retyped := s.DeepCopy()
	retyped.Type = corev1.SecretTypeBasicAuth
	vtCheck(t, vtUpdate(sr, retyped, s), vtInvalid("type").with("field is immutable"))
	tls := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "default"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": []byte("x")}}
	vtCheck(t, vtCreate(sr, tls), vtRequired("data[tls.key]"))
	docker := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pull", Namespace: "default"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{".dockerconfigjson": []byte("{")}}
	vtCheck(t, vtCreate(sr, docker), vtInvalid("data[.dockerconfigjson]"))
	frozenSecret := s.DeepCopy()
	frozenSecret.Immutable = strategyPtr(true)
	edited := frozenSecret.DeepCopy()
	edited.Data = map[string][]byte{"password": []byte("x")}
	vtCheck(t, vtUpdate(sr, edited, frozenSecret), vtForbidden("data"))
}

func TestServiceAccountEndpointsNode(t *testing.T) {
	sar := vtResource(t, gvr("", "v1", "serviceaccounts"))
	vtCheck(t, vtCreate(sar, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "ci"}}))
	vtCheck(t, vtCreate(sar, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "Builder", Namespace: "ci"}}), vtInvalid("metadata.name"))

	epr := vtResource(t, gvr("", "v1", "endpoints"))
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.1.0.5"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}}
	vtCheck(t, vtCreate(epr, ep))
	if ep.Subsets[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("endpoint port protocol not defaulted")
	}
	badEP := ep.DeepCopy()
	badEP.Subsets[0].Addresses[0].IP = "127.0.0.1"
	badEP.Subsets = append(badEP.Subsets, corev1.EndpointSubset{})
	vtCheck(t, vtCreate(epr, badEP), vtInvalid("subsets[0].addresses[0].ip").with("loopback"), vtRequired("subsets[1]"))

	nr := vtResource(t, gvr("", "v1", "nodes"))
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24"},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}
	vtCheck(t, vtCreate(nr, node))
	if len(node.Spec.PodCIDRs) != 1 || node.Status.Allocatable.Cpu().String() != "2" {
		t.Fatalf("node defaults wrong: %+v", node)
	}
	tainted := node.DeepCopy()
	tainted.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}, {Key: "k", Effect: corev1.TaintEffectNoSchedule}, {Key: "x"}}
	vtCheck(t, vtCreate(nr, tainted), vtDuplicate("spec.taints[1]").with("taints must be unique by key and effect pair"), vtRequired("spec.taints[2].effect"))
	recidr := node.DeepCopy()
	recidr.Spec.PodCIDR, recidr.Spec.PodCIDRs = "10.244.2.0/24", []string{"10.244.2.0/24"}
	vtCheck(t, vtUpdate(nr, recidr, node), vtForbidden("spec.podCIDRs"))
}

func TestEvents(t *testing.T) {
	r := vtResource(t, gvr("", "v1", "events"))
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", Namespace: "default"}, Reason: "Started", Type: "Normal"}
	vtCheck(t, vtCreate(r, ev))
	other := ev.DeepCopy()
	other.InvolvedObject.Namespace = "kube-system"
	vtCheck(t, vtCreate(r, other), vtInvalid("involvedObject.namespace").with("does not match event.namespace"))

	r2 := vtResource(t, gvr("events.k8s.io", "v1", "events"))
	ev2 := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.2", Namespace: "default"},
		EventTime: metav1.NewMicroTime(time.Now()), ReportingController: "gantry.dev/scheduler", ReportingInstance: "s-1",
		Action: "Binding", Reason: "Scheduled", Type: "Normal", Regarding: corev1.ObjectReference{Kind: "Pod", Name: "web", Namespace: "default"}}
	vtCheck(t, vtCreate(r2, ev2))
	bad := ev2.DeepCopy()
	bad.EventTime = metav1.MicroTime{}
	bad.Type = "Info"
	bad.Action = ""
	vtCheck(t, vtCreate(r2, bad), vtRequired("eventTime"), vtInvalid("type"), vtRequired("action"))
	renote := ev2.DeepCopy()
	renote.Note = "changed"
	vtCheck(t, vtUpdate(r2, renote, ev2), vtInvalid("note").with("field is immutable"))
}

func TestQuotaAndLimitRange(t *testing.T) {
	qr := vtResource(t, gvr("", "v1", "resourcequotas"))
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "default"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("4")}}}
	vtCheck(t, vtCreate(qr, q))
	bad := q.DeepCopy()
	bad.Spec.Hard["pods"] = resource.MustParse("1.5")
	bad.Spec.Hard["widgets"] = resource.MustParse("1")
	bad.Spec.Scopes = []corev1.ResourceQuotaScope{"Sometimes"}
	vtCheck(t, vtCreate(qr, bad), vtInvalid("spec.hard[pods]").with("must be an integer"),
		vtInvalid("spec.hard[widgets]"), vtNotSupported("spec.scopes"))

	lr := vtResource(t, gvr("", "v1", "limitranges"))
	l := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "l", Namespace: "default"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
			Max: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			Min: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}
	vtCheck(t, vtCreate(lr, l))
	item := l.Spec.Limits[0]
	if item.Default.Memory().String() != "1Gi" || item.DefaultRequest.Memory().String() != "1Gi" || item.DefaultRequest.Cpu().String() != "100m" {
		t.Fatalf("limit range defaults wrong: %+v", item)
	}
	inverted := l.DeepCopy()
	inverted.Spec.Limits[0].Min[corev1.ResourceMemory] = resource.MustParse("2Gi")
	vtCheck(t, lr.Validate(inverted), vtInvalid("spec.limits[0].min[memory]").with("min value 2Gi is greater than max value 1Gi"),
		vtInvalid("spec.limits[0].defaultRequest[memory]"), vtInvalid("spec.limits[0].default[memory]"))
}

func vtPVC() *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		}}
}

func TestStorageKinds(t *testing.T) {
	pvcr := vtResource(t, gvr("", "v1", "persistentvolumeclaims"))
	pvc := vtPVC()
	vtCheck(t, vtCreate(pvcr, pvc))
	if *pvc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || pvc.Status.Phase != corev1.ClaimPending {
		t.Fatalf("pvc defaults wrong: %+v", pvc)
	}
	bad := vtPVC()
	bad.Spec.AccessModes = nil
	bad.Spec.Resources.Requests = nil
	vtCheck(t, vtCreate(pvcr, bad), vtRequired("spec.accessModes").with("at least 1 access mode is required"), vtRequired("spec.resources[storage]"))
	grown := pvc.DeepCopy()
	grown.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	vtCheck(t, vtUpdate(pvcr, grown, pvc))
	remode := pvc.DeepCopy()
	remode.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	vtCheck(t, vtUpdate(pvcr, remode, pvc), vtForbidden("spec"))

	pvr := vtResource(t, gvr("", "v1", "persistentvolumes"))
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-1"}, Spec: corev1.PersistentVolumeSpec{
		AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/pv-1"}}}}
	vtCheck(t, vtCreate(pvr, pv))
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || pv.Status.Phase != corev1.VolumePending {
		t.Fatalf("pv defaults wrong: %+v", pv)
	}
	nosrc := pv.DeepCopy()
	nosrc.Spec.HostPath = nil
	nosrc.Spec.Capacity = nil
	vtCheck(t, vtCreate(pvr, nosrc), vtRequired("spec"), vtRequired("spec.capacity"), vtNotSupported("spec.capacity"))

	scr := vtResource(t, gvr("storage.k8s.io", "v1", "storageclasses"))
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local"}, Provisioner: "gantry.dev/hostpath",
		Parameters: map[string]string{"root": "/srv"}}
	vtCheck(t, vtCreate(scr, sc))
	if *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || *sc.VolumeBindingMode != storagev1.VolumeBindingImmediate {
		t.Fatalf("storageclass defaults wrong: %+v", sc)
	}
	vtCheck(t, vtCreate(scr, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "x"}}), vtRequired("provisioner"))
	reparam := sc.DeepCopy()
	reparam.Parameters["root"] = "/data"
	vtCheck(t, vtUpdate(scr, reparam, sc), vtForbidden("parameters").with("updates to parameters are forbidden."))
}
