package api

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var vtPodsGVR = gvr("", "v1", "pods")

func vtPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "nginx",
				Image: "nginx:1.27",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "prod"}},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "data", MountPath: "/data"},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}},
			}},
			Volumes: []corev1.Volume{{Name: "data"}},
		},
	}
}

func TestPodDefaults(t *testing.T) {
	r := vtResource(t, vtPodsGVR)
	pod := vtPod()
	pod.Spec.Containers[0].Resources.Requests = nil
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "side", Image: "busybox"})
	pod.Spec.Volumes = append(pod.Spec.Volumes,
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: strategyPtr(int32(0400))}}})
	r.Default(pod)
	s := pod.Spec
	if s.RestartPolicy != corev1.RestartPolicyAlways || s.DNSPolicy != corev1.DNSClusterFirst ||
		s.SchedulerName != "default-scheduler" || *s.TerminationGracePeriodSeconds != 30 ||
		s.SecurityContext == nil || !*s.EnableServiceLinks || s.ServiceAccountName != "" {
		t.Fatalf("pod spec defaults wrong: %+v", s)
	}
	c := s.Containers[0]
	if c.ImagePullPolicy != corev1.PullIfNotPresent || s.Containers[1].ImagePullPolicy != corev1.PullAlways {
		t.Errorf("imagePullPolicy = %q, %q", c.ImagePullPolicy, s.Containers[1].ImagePullPolicy)
	}
	if c.TerminationMessagePath != "/dev/termination-log" || c.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
		t.Errorf("termination message defaults wrong: %q %q", c.TerminationMessagePath, c.TerminationMessagePolicy)
	}
	if c.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("port protocol = %q", c.Ports[0].Protocol)
	}
	if q := c.Resources.Requests[corev1.ResourceCPU]; q.String() != "1" {
		t.Errorf("requests not defaulted from limits: %v", c.Resources.Requests)
	}
	p := c.ReadinessProbe
	if p.TimeoutSeconds != 1 || p.PeriodSeconds != 10 || p.SuccessThreshold != 1 || p.FailureThreshold != 3 ||
		p.HTTPGet.Path != "/" || p.HTTPGet.Scheme != corev1.URISchemeHTTP {
		t.Errorf("probe defaults wrong: %+v", p)
	}
	if s.Volumes[0].EmptyDir == nil {
		t.Errorf("volume without source should become emptyDir")
	}
	if *s.Volumes[1].ConfigMap.DefaultMode != 420 || *s.Volumes[2].Secret.DefaultMode != 0400 {
		t.Errorf("defaultMode: %d %d", *s.Volumes[1].ConfigMap.DefaultMode, *s.Volumes[2].Secret.DefaultMode)
	}
	if errs := r.Validate(pod); len(errs) != 0 {
		t.Fatalf("defaulted pod invalid: %v", errs)
	}

	// User values are kept.
	pod = vtPod()
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.DNSPolicy = corev1.DNSDefault
	pod.Spec.TerminationGracePeriodSeconds = strategyPtr(int64(5))
	pod.Spec.EnableServiceLinks = strategyPtr(false)
	pod.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	pod.Spec.DeprecatedServiceAccount = "builder"
	r.Default(pod)
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || pod.Spec.DNSPolicy != corev1.DNSDefault ||
		*pod.Spec.TerminationGracePeriodSeconds != 5 || *pod.Spec.EnableServiceLinks ||
		pod.Spec.Containers[0].ImagePullPolicy != corev1.PullNever || pod.Spec.ServiceAccountName != "builder" {
		t.Errorf("defaults overrode user values: %+v", pod.Spec)
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"nginx":                     corev1.PullAlways,
		"nginx:latest":              corev1.PullAlways,
		"registry:5000/team/app":    corev1.PullAlways,
		"nginx:1.27":                corev1.PullIfNotPresent,
		"registry:5000/team/app:v1": corev1.PullIfNotPresent,
		"nginx@sha256:" + strings.Repeat("a", 64): corev1.PullIfNotPresent,
		"Not/Valid": corev1.PullIfNotPresent,
		"":          corev1.PullIfNotPresent,
	} {
		if got := defaultPullPolicy(image); got != want {
			t.Errorf("defaultPullPolicy(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestValidatePod(t *testing.T) {
	r := vtResource(t, vtPodsGVR)
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []vtErr
	}{
		{"valid", func(*corev1.Pod) {}, nil},
		{"generateName only", func(p *corev1.Pod) { p.Name, p.GenerateName = "", "web-" }, nil},
		{"no name", func(p *corev1.Pod) { p.Name = "" }, []vtErr{vtRequired("metadata.name").with("name or generateName is required")}},
		{"bad name", func(p *corev1.Pod) { p.Name = "Web_1" }, []vtErr{vtInvalid("metadata.name").with("RFC 1123 subdomain")}},
		{"bad generateName", func(p *corev1.Pod) { p.Name, p.GenerateName = "", "Web-" }, []vtErr{vtInvalid("metadata.generateName")}},
		{"no namespace", func(p *corev1.Pod) { p.Namespace = "" }, []vtErr{vtRequired("metadata.namespace")}},
		{"bad namespace", func(p *corev1.Pod) { p.Namespace = "a.b" }, []vtErr{vtInvalid("metadata.namespace")}},
		{"bad label", func(p *corev1.Pod) { p.Labels["a b"] = "x" }, []vtErr{vtInvalid("metadata.labels")}},
		{"bad label value", func(p *corev1.Pod) { p.Labels["app"] = "-x" }, []vtErr{vtInvalid("metadata.labels")}},
		{"bad annotation key", func(p *corev1.Pod) { p.Annotations = map[string]string{"/x": ""} }, []vtErr{vtInvalid("metadata.annotations")}},
		{"annotations too large", func(p *corev1.Pod) { p.Annotations = map[string]string{"a": strings.Repeat("x", 256*1024)} }, []vtErr{vtTooLong("metadata.annotations")}},
		{"bad finalizer", func(p *corev1.Pod) { p.Finalizers = []string{"a/b/c"} }, []vtErr{vtInvalid("metadata.finalizers")}},
		{"owner ref incomplete", func(p *corev1.Pod) { p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet"}} },
			[]vtErr{vtRequired("metadata.ownerReferences[0].apiVersion"), vtRequired("metadata.ownerReferences[0].name"), vtRequired("metadata.ownerReferences[0].uid")}},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil; p.Spec.Volumes = nil }, []vtErr{vtRequired("spec.containers")}},
		{"no image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []vtErr{vtRequired("spec.containers[0].image")}},
		{"image whitespace", func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, []vtErr{vtInvalid("spec.containers[0].image")}},
		{"bad container name", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Nginx" }, []vtErr{vtInvalid("spec.containers[0].name")}},
		{"duplicate container", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "nginx", Image: "x"})
		}, []vtErr{vtDuplicate("spec.containers[1].name")}},
		{"init duplicates regular", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "nginx", Image: "x"}}
		}, []vtErr{vtDuplicate("spec.initContainers[0].name")}},
		{"init probe", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "x", LivenessProbe: &corev1.Probe{}}}
		}, []vtErr{vtForbidden("spec.initContainers[0].livenessProbe")}},
		{"sidecar init", func(p *corev1.Pod) {
			always := corev1.ContainerRestartPolicyAlways
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", Image: "x", RestartPolicy: &always,
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}}}}}
		}, nil},
		{"port out of range", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 },
			[]vtErr{vtInvalid("spec.containers[0].ports[0].containerPort").with("must be between 1 and 65535, inclusive")}},
		{"port missing", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }, []vtErr{vtRequired("spec.containers[0].ports[0].containerPort")}},
		{"bad protocol", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "ICMP" }, []vtErr{vtNotSupported("spec.containers[0].ports[0].protocol")}},
		{"port name too long", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "a-very-long-port-name" },
			[]vtErr{vtInvalid("spec.containers[0].ports[0].name").with("must be no more than 15 characters")}},
		{"duplicate port name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81})
		}, []vtErr{vtDuplicate("spec.containers[0].ports[1].name")}},
		{"host port conflict", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].HostPort = 8080
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "b",
				Ports: []corev1.ContainerPort{{ContainerPort: 81, HostPort: 8080}}})
		}, []vtErr{vtDuplicate("spec.containers[1].ports[0].hostPort")}},
		{"hostNetwork port mismatch", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 8080
		}, []vtErr{vtInvalid("spec.containers[0].ports[0].hostPort")}},
		{"bad env name", func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "A=B" }, []vtErr{vtInvalid("spec.containers[0].env[0].name")}},
		{"empty env name", func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "" }, []vtErr{vtRequired("spec.containers[0].env[0].name")}},
		{"env value and valueFrom", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0].ValueFrom = &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}
		}, []vtErr{vtInvalid("spec.containers[0].env[0].valueFrom").with("may not be specified when `value` is not empty")}},
		{"env fieldRef unsupported", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0] = corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.phase"}}}
		}, []vtErr{vtNotSupported("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")}},
		{"env fieldRef label subscript", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0] = corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}}
		}, nil},
		{"env secret key missing", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0] = corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}
		}, []vtErr{vtRequired("spec.containers[0].env[0].valueFrom.secretKeyRef.key")}},
		{"envFrom empty", func(p *corev1.Pod) { p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{}} },
			[]vtErr{vtInvalid("spec.containers[0].envFrom").with("must specify one of: `configMapRef` or `secretRef`")}},
		{"envFrom no name", func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{}}}
		}, []vtErr{vtRequired("spec.containers[0].envFrom[0].configMapRef.name")}},
		{"mount unknown volume", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "nope" },
			[]vtErr{vtNotFound("spec.containers[0].volumeMounts[0].name")}},
		{"mount path missing", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].MountPath = "" },
			[]vtErr{vtRequired("spec.containers[0].volumeMounts[0].mountPath")}},
		{"subPath escapes", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "../x" },
			[]vtErr{vtInvalid("spec.containers[0].volumeMounts[0].subPath").with("must not contain '..'")}},
		{"duplicate volume", func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data"}) },
			[]vtErr{vtDuplicate("spec.volumes[1].name")}},
		{"volume two sources", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}
		}, []vtErr{vtForbidden("spec.volumes[0].hostPath").with("may not specify more than 1 volume type")}},
		{"bad volume name", func(p *corev1.Pod) {
			p.Spec.Volumes[0].Name = "Data"
			p.Spec.Containers[0].VolumeMounts[0].Name = "Data"
		}, []vtErr{vtInvalid("spec.volumes[0].name")}},
		{"secret volume no name", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}
		}, []vtErr{vtRequired("spec.volumes[0].secret.secretName")}},
		{"configMap bad mode", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, DefaultMode: strategyPtr(int32(01000))}}
		}, []vtErr{vtInvalid("spec.volumes[0].configMap.defaultMode")}},
		{"pvc volume no claim", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}
		}, []vtErr{vtRequired("spec.volumes[0].persistentVolumeClaim.claimName")}},
		{"negative quantity", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("-1")
		}, []vtErr{vtInvalid("spec.containers[0].resources.requests[memory]").with("must be greater than or equal to 0")}},
		{"requests above limits", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2")
		}, []vtErr{vtInvalid("spec.containers[0].resources.requests").with("must be less than or equal to cpu limit of 1")}},
		{"unknown resource", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits["gpu"] = resource.MustParse("1")
		}, []vtErr{ // as in Kubernetes: two messages each, and requests are defaulted from limits
			vtInvalid("spec.containers[0].resources.limits[gpu]").with("must be a standard resource type or fully qualified"),
			vtInvalid("spec.containers[0].resources.limits[gpu]").with("must be a standard resource for containers"),
			vtInvalid("spec.containers[0].resources.requests[gpu]"), vtInvalid("spec.containers[0].resources.requests[gpu]")}},
		{"restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, []vtErr{vtNotSupported("spec.restartPolicy")}},
		{"dnsPolicy", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }, []vtErr{vtNotSupported("spec.dnsPolicy")}},
		{"dnsPolicy None without config", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, []vtErr{vtRequired("spec.dnsConfig")}},
		{"probe two handlers", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}, []vtErr{vtForbidden("spec.containers[0].readinessProbe.httpGet").with("may not specify more than 1 handler type")}},
		{"probe no handler", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe.HTTPGet = nil },
			[]vtErr{vtRequired("spec.containers[0].readinessProbe").with("must specify a handler type")}},
		{"probe negative period", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe.PeriodSeconds = -1 },
			[]vtErr{vtInvalid("spec.containers[0].readinessProbe.periodSeconds")}},
		{"liveness success threshold", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{SuccessThreshold: 2, ProbeHandler: corev1.ProbeHandler{
				Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		}, []vtErr{vtInvalid("spec.containers[0].livenessProbe.successThreshold").with("must be 1")}},
		{"runAsUser negative", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: strategyPtr(int64(-1))}
		},
			[]vtErr{vtInvalid("spec.securityContext.runAsUser")}},
		{"privileged without escalation", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: strategyPtr(true), AllowPrivilegeEscalation: strategyPtr(false)}
		}, []vtErr{vtInvalid("spec.containers[0].securityContext")}},
		{"bad nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" }, []vtErr{vtInvalid("spec.nodeName")}},
		{"activeDeadlineSeconds zero", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = strategyPtr(int64(0)) }, []vtErr{vtInvalid("spec.activeDeadlineSeconds")}},
		{"toleration Exists with value", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}
		}, []vtErr{vtInvalid("spec.tolerations[0].operator")}},
		{"toleration seconds without NoExecute", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, TolerationSeconds: strategyPtr(int64(1))}}
		}, []vtErr{vtInvalid("spec.tolerations[0].effect")}},
		{"ephemeral containers on create", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: "busybox"}}}
		}, []vtErr{vtForbidden("spec.ephemeralContainers")}},
		{"node affinity empty terms", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}, []vtErr{vtRequired("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")}},
		{"pod anti-affinity without topologyKey", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{}}}}
		}, []vtErr{vtRequired("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey")}},
		{"spread maxSkew", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
		}, []vtErr{vtInvalid("spec.topologySpreadConstraints[0].maxSkew")}},
		{"bad nodeSelector", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "fast ssd"} }, []vtErr{vtInvalid("spec.nodeSelector")}},
		{"bad serviceAccountName", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "Builder" }, []vtErr{vtInvalid("spec.serviceAccountName")}},
		{"bad hostname", func(p *corev1.Pod) { p.Spec.Hostname = "a.b" }, []vtErr{vtInvalid("spec.hostname")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := vtPod()
			tt.mutate(pod)
			vtCheck(t, vtCreate(r, pod), tt.want...)
		})
	}
}

func TestValidatePodErrorText(t *testing.T) {
	r := vtResource(t, vtPodsGVR)
	pod := vtPod()
	pod.Spec.Containers[0].Ports[0].ContainerPort = 70000
	errs := vtCreate(r, pod)
	want := "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
	if len(errs) != 1 || errs[0].Error() != want {
		t.Fatalf("got %v, want %q", errs, want)
	}
}

func TestValidatePodUpdate(t *testing.T) {
	r := vtResource(t, vtPodsGVR)
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []vtErr
	}{
		{"unchanged", func(*corev1.Pod) {}, nil},
		{"labels change", func(p *corev1.Pod) { p.Labels["tier"] = "front" }, nil},
		{"image change", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, nil},
		{"image cleared", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []vtErr{vtRequired("spec.containers[0].image")}},
		{"activeDeadlineSeconds set", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = strategyPtr(int64(60)) }, nil},
		{"add toleration", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
		}, nil},
		{"change port", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 81 },
			[]vtErr{vtForbidden("spec").with("pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")}},
		{"change nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "n2" }, []vtErr{vtForbidden("spec")}},
		{"add container", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "b"})
		}, []vtErr{vtForbidden("spec.containers").with("pod updates may not add or remove containers")}},
		{"bad label", func(p *corev1.Pod) { p.Labels["-"] = "" }, []vtErr{vtInvalid("metadata.labels")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := vtPod()
			old.Spec.NodeName = "n1"
			old.ResourceVersion = "5"
			r.Default(old)
			pod := old.DeepCopy()
			tt.mutate(pod)
			vtCheck(t, vtUpdate(r, pod, old), tt.want...)
		})
	}

	// Raising activeDeadlineSeconds is rejected, lowering is allowed.
	old := vtPod()
	old.Spec.ActiveDeadlineSeconds = strategyPtr(int64(60))
	r.Default(old)
	up := old.DeepCopy()
	up.Spec.ActiveDeadlineSeconds = strategyPtr(int64(120))
	vtCheck(t, vtUpdate(r, up, old), vtInvalid("spec.activeDeadlineSeconds").with("must be less than or equal to previous value"))
	down := old.DeepCopy()
	down.Spec.ActiveDeadlineSeconds = strategyPtr(int64(30))
	vtCheck(t, vtUpdate(r, down, old))

	// Finalizers cannot be added while deleting.
	old = vtPod()
	now := metav1.Now()
	old.DeletionTimestamp = &now
	r.Default(old)
	fin := old.DeepCopy()
	fin.Finalizers = []string{"example.com/hold"}
	vtCheck(t, vtUpdate(r, fin, old), vtForbidden("metadata.finalizers"))
}
