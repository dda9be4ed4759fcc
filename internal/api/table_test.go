package api

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func tablePtr[T any](v T) *T { return &v }

// tableColumnNames returns the upper-cased column names kubectl prints;
// wide includes priority-1 columns.
func tableColumnNames(tc *TableConvertor, wide bool) string {
	var names []string
	for _, c := range tc.Columns {
		if c.Priority == 0 || wide {
			names = append(names, strings.ToUpper(c.Name))
		}
	}
	return strings.Join(names, " ")
}

// TestHeaders pins the headers kubectl prints for the common resources.
func TestHeaders(t *testing.T) {
	reg := NewRegistry()
	tests := []struct {
		group, resource string
		version         string
		normal, wide    string
	}{
		{"", "pods", "v1", "NAME READY STATUS RESTARTS AGE", "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"},
		{"apps", "deployments", "v1", "NAME READY UP-TO-DATE AVAILABLE AGE", "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR"},
		{"apps", "replicasets", "v1", "NAME DESIRED CURRENT READY AGE", "NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR"},
		{"apps", "daemonsets", "v1", "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE", ""},
		{"apps", "statefulsets", "v1", "NAME READY AGE", "NAME READY AGE CONTAINERS IMAGES"},
		{"", "services", "v1", "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR"},
		{"", "endpoints", "v1", "NAME ENDPOINTS AGE", ""},
		{"", "configmaps", "v1", "NAME DATA AGE", ""},
		{"", "secrets", "v1", "NAME TYPE DATA AGE", ""},
		{"", "namespaces", "v1", "NAME STATUS AGE", ""},
		{"", "nodes", "v1", "NAME STATUS ROLES AGE VERSION", "NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME"},
		{"", "events", "v1", "LAST SEEN TYPE REASON OBJECT MESSAGE", "LAST SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST SEEN COUNT NAME"},
		{"events.k8s.io", "events", "v1", "LAST SEEN TYPE REASON OBJECT MESSAGE", ""},
		{"", "serviceaccounts", "v1", "NAME SECRETS AGE", ""},
		{"", "resourcequotas", "v1", "NAME REQUEST LIMIT AGE", ""},
		{"", "limitranges", "v1", "NAME CREATED AT", ""},
		{"", "persistentvolumes", "v1", "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE", ""},
		{"", "persistentvolumeclaims", "v1", "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE", ""},
		{"batch", "jobs", "v1", "NAME STATUS COMPLETIONS DURATION AGE", ""},
		{"batch", "cronjobs", "v1", "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE", ""},
		{"autoscaling", "horizontalpodautoscalers", "v2", "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE", ""},
		{"autoscaling", "horizontalpodautoscalers", "v1", "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE", ""},
		{"networking.k8s.io", "ingresses", "v1", "NAME CLASS HOSTS ADDRESS PORTS AGE", ""},
		{"networking.k8s.io", "ingressclasses", "v1", "NAME CONTROLLER PARAMETERS AGE", ""},
		{"networking.k8s.io", "networkpolicies", "v1", "NAME POD-SELECTOR AGE", ""},
		{"discovery.k8s.io", "endpointslices", "v1", "NAME ADDRESSTYPE PORTS ENDPOINTS AGE", ""},
		{"coordination.k8s.io", "leases", "v1", "NAME HOLDER AGE", ""},
		{"rbac.authorization.k8s.io", "roles", "v1", "NAME CREATED AT", ""},
		{"rbac.authorization.k8s.io", "clusterroles", "v1", "NAME CREATED AT", ""},
		{"rbac.authorization.k8s.io", "rolebindings", "v1", "NAME ROLE AGE", "NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS"},
		{"rbac.authorization.k8s.io", "clusterrolebindings", "v1", "NAME ROLE AGE", "NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS"},
		{"storage.k8s.io", "storageclasses", "v1", "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE", ""},
		{"scheduling.k8s.io", "priorityclasses", "v1", "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY", ""},
		{"policy", "poddisruptionbudgets", "v1", "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE", ""},
		{"apps", "controllerrevisions", "v1", "NAME CONTROLLER REVISION AGE", ""},
	}
	for _, tt := range tests {
		t.Run(tt.resource+"."+tt.group+"/"+tt.version, func(t *testing.T) {
			r := reg.Get(gvr(tt.group, tt.version, tt.resource))
			if r == nil {
				t.Fatal("not served")
			}
			if got := tableColumnNames(r.Table, false); got != tt.normal {
				t.Errorf("headers = %q\nwant      %q", got, tt.normal)
			}
			if tt.wide != "" {
				if got := tableColumnNames(r.Table, true); got != tt.wide {
					t.Errorf("wide headers = %q\nwant           %q", got, tt.wide)
				}
			}
		})
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"}, // tolerated clock skew
		{-5 * time.Second, "<invalid>"},
		{45 * time.Second, "45s"},
		{119 * time.Second, "119s"},
		{5*time.Minute + 30*time.Second, "5m30s"},
		{7 * time.Minute, "7m"},
		{42 * time.Minute, "42m"},
		{2*time.Hour + 59*time.Minute, "179m"},
		{3*time.Hour + 10*time.Minute, "3h10m"},
		{5 * time.Hour, "5h"},
		{30 * time.Hour, "30h"},
		{3*24*time.Hour + 4*time.Hour, "3d4h"},
		{45 * 24 * time.Hour, "45d"},
		{3*365*24*time.Hour + 10*24*time.Hour, "3y10d"},
		{10 * 365 * 24 * time.Hour, "10y"},
	}
	for _, tt := range tests {
		if got := printAge(tableAgo(tt.ago), tableNow); got != tt.want {
			t.Errorf("printAge(now-%v) = %q, want %q", tt.ago, got, tt.want)
		}
	}
	if got := printAge(metav1.Time{}, tableNow); got != "<unknown>" {
		t.Errorf("printAge(zero) = %q, want <unknown>", got)
	}
}

func TestDeploymentRow(t *testing.T) {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: tableAgo(26 * time.Hour)},
		Spec: appsv1.DeploymentSpec{
			Replicas: tablePtr[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "nginx", Image: "nginx:1.27"}, {Name: "exporter", Image: "prom/exporter"},
			}}},
		},
		Status: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 1},
	}
	got := printDeploymentTable().Row(d, tableNow)
	want := []interface{}{"web", "2/3", int64(3), int64(1), "26h", "nginx,exporter", "nginx:1.27,prom/exporter", "app=web"}
	if !tableCellsEqual(got, want) {
		t.Errorf("row = %#v\nwant %#v", got, want)
	}
}

func TestServiceRow(t *testing.T) {
	tcp := corev1.ProtocolTCP
	tests := []struct {
		name                string
		svc                 corev1.Service
		clusterIP, external string
		ports, selector     string
	}{
		{
			name: "cluster IP",
			svc: corev1.Service{Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
				Ports:    []corev1.ServicePort{{Port: 80, Protocol: tcp}, {Port: 53, Protocol: corev1.ProtocolUDP}},
				Selector: map[string]string{"app": "web"},
			}},
			clusterIP: "10.96.0.10", external: "<none>", ports: "80/TCP,53/UDP", selector: "app=web",
		},
		{
			name: "headless without ports",
			svc: corev1.Service{Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ClusterIPs: []string{"None"},
			}},
			clusterIP: "None", external: "<none>", ports: "<none>", selector: "<none>",
		},
		{
			name: "node port",
			svc: corev1.Service{Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.96.1.1"},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: tcp}},
			}},
			clusterIP: "10.96.1.1", external: "<none>", ports: "80:30080/TCP", selector: "<none>",
		},
		{
			name: "load balancer pending",
			svc: corev1.Service{Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.1.2"},
				Ports: []corev1.ServicePort{{Port: 443, NodePort: 31443, Protocol: tcp}},
			}},
			clusterIP: "10.96.1.2", external: "<pending>", ports: "443:31443/TCP", selector: "<none>",
		},
		{
			name: "load balancer with ingress points and external IPs",
			svc: corev1.Service{
				Spec: corev1.ServiceSpec{
					Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.1.3"}, ExternalIPs: []string{"192.0.2.9"},
					Ports: []corev1.ServicePort{{Port: 80, NodePort: 30001, Protocol: tcp}},
				},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
					{IP: "203.0.113.7"}, {Hostname: "lb.example.com"}, {IP: "203.0.113.7"},
				}}},
			},
			clusterIP: "10.96.1.3", external: "203.0.113.7,lb.example.com,192.0.2.9", ports: "80:30001/TCP", selector: "<none>",
		},
		{
			name: "external name",
			svc: corev1.Service{Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com",
			}},
			clusterIP: "<none>", external: "db.example.com", ports: "<none>", selector: "<none>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.svc
			svc.Name = "svc"
			svc.CreationTimestamp = tableAgo(3 * time.Minute)
			got := printServiceTable().Row(&svc, tableNow)
			want := []interface{}{"svc", string(svc.Spec.Type), tt.clusterIP, tt.external, tt.ports, "3m", tt.selector}
			if !tableCellsEqual(got, want) {
				t.Errorf("row = %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestNodeRow(t *testing.T) {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: tableAgo(50 * time.Hour), Labels: map[string]string{
			"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "", "kubernetes.io/role": "edge",
		}},
		Spec: corev1.NodeSpec{Unschedulable: true},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionFalse}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "172.18.0.2"}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2-gantry", OSImage: "Debian 13", KernelVersion: "6.12", ContainerRuntimeVersion: "docker://28.1"},
		},
	}
	got := printNodeTable().Row(node, tableNow)
	want := []interface{}{"n1", "NotReady,SchedulingDisabled", "control-plane,edge,worker", "2d2h", "v1.37.2-gantry",
		"172.18.0.2", "<none>", "Debian 13", "6.12", "docker://28.1"}
	if !tableCellsEqual(got, want) {
		t.Errorf("row = %#v\nwant %#v", got, want)
	}
}

func TestJobRow(t *testing.T) {
	start := tableAgo(10 * time.Minute)
	done := tableAgo(7 * time.Minute)
	tests := []struct {
		name                         string
		job                          batchv1.Job
		status, completions, elapsed string
	}{
		{"not started", batchv1.Job{Spec: batchv1.JobSpec{Completions: tablePtr[int32](3)}}, "Running", "0/3", ""},
		{"running", batchv1.Job{
			Spec:   batchv1.JobSpec{Completions: tablePtr[int32](3)},
			Status: batchv1.JobStatus{Succeeded: 1, StartTime: &start},
		}, "Running", "1/3", "10m"},
		{"complete", batchv1.Job{
			Spec: batchv1.JobSpec{Completions: tablePtr[int32](1)},
			Status: batchv1.JobStatus{Succeeded: 1, StartTime: &start, CompletionTime: &done,
				Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}},
		}, "Complete", "1/1", "3m"},
		{"failed work queue", batchv1.Job{
			Spec:   batchv1.JobSpec{Parallelism: tablePtr[int32](4)},
			Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}},
		}, "Failed", "0/1 of 4", ""},
		{"suspended", batchv1.Job{
			Spec:   batchv1.JobSpec{Completions: tablePtr[int32](2)},
			Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue}}},
		}, "Suspended", "0/2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := printJobRow(&tt.job, tableNow)
			if got := []interface{}{row[1], row[2], row[3]}; !tableCellsEqual(got, []interface{}{tt.status, tt.completions, tt.elapsed}) {
				t.Errorf("STATUS COMPLETIONS DURATION = %q, want %q %q %q", got, tt.status, tt.completions, tt.elapsed)
			}
		})
	}
}

func TestCronJobRow(t *testing.T) {
	last := tableAgo(90 * time.Second)
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", CreationTimestamp: tableAgo(time.Hour)},
		Spec:       batchv1.CronJobSpec{Schedule: "*/5 * * * *", TimeZone: tablePtr("Etc/UTC"), Suspend: tablePtr(false)},
		Status:     batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "backup-1"}}, LastScheduleTime: &last},
	}
	got := printCronJobTable().Row(cj, tableNow)[:7]
	want := []interface{}{"backup", "*/5 * * * *", "Etc/UTC", "False", int64(1), "90s", "60m"}
	if !tableCellsEqual(got, want) {
		t.Errorf("row = %#v\nwant %#v", got, want)
	}
}

func TestEventRow(t *testing.T) {
	core := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.17a", CreationTimestamp: tableAgo(time.Hour)},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
		Reason:         "BackOff", Type: corev1.EventTypeWarning, Message: "Back-off restarting failed container\n",
		Source:         corev1.EventSource{Component: "kubelet", Host: "n1"},
		FirstTimestamp: tableAgo(10 * time.Minute), LastTimestamp: tableAgo(30 * time.Second), Count: 7,
	}
	got := printCoreEventTable().Row(core, tableNow)
	want := []interface{}{"30s", "Warning", "BackOff", "pod/web", "spec.containers{app}", "kubelet, n1",
		"Back-off restarting failed container", "10m", int64(7), "web.17a"}
	if !tableCellsEqual(got, want) {
		t.Errorf("core row = %#v\nwant %#v", got, want)
	}

	// A new-API event: eventTime and series, no deprecated fields.
	v1 := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web.17b"},
		EventTime:  metav1.NewMicroTime(tableNow.Add(-4 * time.Minute)),
		Series:     &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(tableNow.Add(-20 * time.Second))},
		Regarding:  corev1.ObjectReference{Kind: "Deployment", Name: "web"},
		Reason:     "ScalingReplicaSet", Type: corev1.EventTypeNormal, Note: "Scaled up",
		ReportingController: "gantry-controller-manager",
	}
	got = printEventsV1Table().Row(v1, tableNow)
	want = []interface{}{"20s", "Normal", "ScalingReplicaSet", "deployment/web", "", "gantry-controller-manager",
		"Scaled up", "4m", int64(3), "web.17b"}
	if !tableCellsEqual(got, want) {
		t.Errorf("events.k8s.io row = %#v\nwant %#v", got, want)
	}
}

func TestHPARow(t *testing.T) {
	q := resource.MustParse
	v2 := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: tableAgo(5 * time.Minute)},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			MinReplicas:    tablePtr[int32](2), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: tablePtr[int32](80)}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: tablePtr(q("200Mi"))}}},
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: tablePtr(q("1k"))}}},
			},
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			CurrentReplicas: 3,
			CurrentMetrics: []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
				Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: tablePtr[int32](42)}}}},
		},
	}
	got := printHPAV2Table().Row(v2, tableNow)
	want := []interface{}{"web", "Deployment/web", "cpu: 42%/80%, memory: <unknown>/200Mi + 1 more...", "2", int64(10), int64(3), "5m"}
	if !tableCellsEqual(got, want) {
		t.Errorf("v2 row = %#v\nwant %#v", got, want)
	}

	v1 := &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "api", CreationTimestamp: tableAgo(time.Minute)},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "api"},
			MaxReplicas:    4, TargetCPUUtilizationPercentage: tablePtr[int32](50),
		},
		Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentReplicas: 1, CurrentCPUUtilizationPercentage: tablePtr[int32](7)},
	}
	got = printHPAV1Table().Row(v1, tableNow)
	want = []interface{}{"api", "Deployment/api", "cpu: 7%/50%", "<unset>", int64(4), int64(1), "60s"}
	if !tableCellsEqual(got, want) {
		t.Errorf("v1 row = %#v\nwant %#v", got, want)
	}

	// Metrics autoscaling/v1 cannot express travel in an annotation.
	v1.Annotations = map[string]string{
		printHPAMetricSpecsAnnotation:    `[{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}}]`,
		printHPAMetricStatusesAnnotation: `[{"type":"Pods","pods":{"metricName":"qps","currentAverageValue":"4"}}]`,
	}
	if got := printHPAV1Table().Row(v1, tableNow)[2]; got != "4/10, cpu: 7%/50%" {
		t.Errorf("v1 TARGETS with annotation metrics = %q", got)
	}
}

func TestEndpointsCell(t *testing.T) {
	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}}, Ports: []corev1.EndpointPort{{Port: 8080}}},
		{Addresses: []corev1.EndpointAddress{{IP: "fd00::3"}, {IP: "10.0.0.4"}}, Ports: []corev1.EndpointPort{{Port: 80}}},
	}}
	if got, want := printEndpointAddresses(ep), "10.0.0.1:8080,10.0.0.2:8080,[fd00::3]:80 + 1 more..."; got != want {
		t.Errorf("ENDPOINTS = %q, want %q", got, want)
	}
	headless := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}}}}}
	if got := printEndpointAddresses(headless); got != "10.0.0.1" {
		t.Errorf("headless ENDPOINTS = %q", got)
	}
}

func TestMiscRows(t *testing.T) {
	created := tableAgo(4 * time.Hour)
	tests := []struct {
		name  string
		table *TableConvertor
		obj   runtime.Object
		want  []interface{}
	}{
		{
			name:  "resource quota",
			table: printResourceQuotaTable(),
			obj: &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", CreationTimestamp: created}, Status: corev1.ResourceQuotaStatus{
				Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("2"), "limits.memory": resource.MustParse("1Gi")},
				Used: corev1.ResourceList{"pods": resource.MustParse("3"), "requests.cpu": resource.MustParse("500m")},
			}},
			want: []interface{}{"q", "pods: 3/10, requests.cpu: 500m/2", "limits.memory: 0/1Gi", "4h"},
		},
		{
			name:  "role binding",
			table: printRoleBindingTable(),
			obj: &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "rb", CreationTimestamp: created},
				RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
				Subjects: []rbacv1.Subject{
					{Kind: "User", Name: "alice"}, {Kind: "Group", Name: "devs"}, {Kind: "User", Name: "bob"},
					{Kind: "ServiceAccount", Namespace: "ci", Name: "runner"},
				},
			},
			want: []interface{}{"rb", "ClusterRole/view", "4h", "alice, bob", "devs", "ci/runner"},
		},
		{
			name:  "ingress",
			table: printIngressTable(),
			obj: &networkingv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Name: "ing", CreationTimestamp: created},
				Spec: networkingv1.IngressSpec{
					IngressClassName: tablePtr("gantry"),
					TLS:              []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}},
					Rules:            []networkingv1.IngressRule{{Host: "a.example.com"}, {Host: "b.example.com"}, {}, {Host: "c.example.com"}, {Host: "d.example.com"}},
				},
				Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.1"}}}},
			},
			want: []interface{}{"ing", "gantry", "a.example.com,b.example.com,c.example.com + 2 more...", "192.0.2.1", "80, 443", "4h"},
		},
		{
			name:  "controller revision",
			table: printControllerRevisionTable(),
			obj: &appsv1.ControllerRevision{
				ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f", CreationTimestamp: created, OwnerReferences: []metav1.OwnerReference{
					{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Controller: tablePtr(true)},
				}},
				Revision: 2,
			},
			want: []interface{}{"web-5d8f", "statefulset.apps/web", int64(2), "4h"},
		},
		{
			name:  "pod disruption budget",
			table: printPodDisruptionBudgetTable(),
			obj: &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "pdb", CreationTimestamp: created},
				Spec:   policyv1.PodDisruptionBudgetSpec{MinAvailable: tablePtr(intstr.FromString("50%"))},
				Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}},
			want: []interface{}{"pdb", "50%", "N/A", int64(1), "4h"},
		},
		{
			name:  "persistent volume",
			table: printPersistentVolumeTable(),
			obj: &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Name: "pv1", CreationTimestamp: created},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOnce},
					ClaimRef:    &corev1.ObjectReference{Namespace: "db", Name: "data"}, StorageClassName: "local",
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
			},
			want: []interface{}{"pv1", "5Gi", "RWO,RWX", "Retain", "Bound", "db/data", "local", "<unset>", "", "4h", "<unset>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.table.Row(tt.obj, tableNow); !tableCellsEqual(got, tt.want) {
				t.Errorf("row = %#v\nwant %#v", got, tt.want)
			}
		})
	}
}
