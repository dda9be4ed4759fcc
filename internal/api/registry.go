package api

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Registry is the immutable set of served resources.
type Registry struct {
	byGVR    map[schema.GroupVersionResource]*Resource
	ordered  []*Resource
	versions []schema.GroupVersion // served group/versions, preferred first within a group
}

// NewRegistry returns the registry of every resource Gantry serves, with
// defaulting, validation, field selectors and tables attached.
func NewRegistry() *Registry {
	reg := &Registry{byGVR: map[schema.GroupVersionResource]*Resource{}}
	for _, r := range builtin() {
		reg.byGVR[r.GVR] = r
		reg.ordered = append(reg.ordered, r)
	}
	seen := map[schema.GroupVersion]bool{}
	for _, r := range reg.ordered {
		gv := r.GVR.GroupVersion()
		if !seen[gv] {
			seen[gv] = true
			reg.versions = append(reg.versions, gv)
		}
	}
	return reg
}

// Get returns the resource for gvr, or nil when it is not served.
func (r *Registry) Get(gvr schema.GroupVersionResource) *Resource { return r.byGVR[gvr] }

// All returns every served resource in registration order.
func (r *Registry) All() []*Resource { return r.ordered }

// GroupVersions returns every served group/version; within a group the
// preferred version comes first.
func (r *Registry) GroupVersions() []schema.GroupVersion { return r.versions }

// Groups returns the served API group names (without the core group ""), sorted.
func (r *Registry) Groups() []string {
	set := map[string]bool{}
	for _, gv := range r.versions {
		if gv.Group != "" {
			set[gv.Group] = true
		}
	}
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// ForKind returns the resource serving gvk, or nil.
func (r *Registry) ForKind(gvk schema.GroupVersionKind) *Resource {
	for _, res := range r.ordered {
		if res.GroupVersionKind() == gvk {
			return res
		}
	}
	return nil
}

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// res builds a Resource with its constructors; hooks are attached by attach().
func res[T any, PT interface {
	*T
	runtime.Object
}, L any, PL interface {
	*L
	runtime.Object
}](g schema.GroupVersionResource, kind string, namespaced bool, opts ...func(*Resource)) *Resource {
	r := &Resource{
		GVR:        g,
		Kind:       kind,
		Namespaced: namespaced,
		New:        func() runtime.Object { return PT(new(T)) },
		NewList:    func() runtime.Object { return PL(new(L)) },
	}
	for _, o := range opts {
		o(r)
	}
	attach(r)
	return r
}

func short(names ...string) func(*Resource) { return func(r *Resource) { r.ShortNames = names } }
func inAll(r *Resource)                     { r.Categories = []string{"all"} }
func withGeneration(r *Resource)            { r.Generation = true }
func subs(s ...string) func(*Resource)      { return func(r *Resource) { r.Subresources = s } }

const (
	namespaced = true
	cluster    = false
)

func builtin() []*Resource {
	hpaV2 := gvr("autoscaling", "v2", "horizontalpodautoscalers")
	coreEvents := gvr("", "v1", "events")
	return []*Resource{
		// core/v1
		res[corev1.Namespace, *corev1.Namespace, corev1.NamespaceList, *corev1.NamespaceList](gvr("", "v1", "namespaces"), "Namespace", cluster, short("ns"), subs(SubStatus)),
		res[corev1.Pod, *corev1.Pod, corev1.PodList, *corev1.PodList](gvr("", "v1", "pods"), "Pod", namespaced, short("po"), inAll, withGeneration, subs(SubStatus, SubBinding, SubEviction, SubEphemeralContainers, "log", "exec", "attach", "portforward")),
		res[corev1.Service, *corev1.Service, corev1.ServiceList, *corev1.ServiceList](gvr("", "v1", "services"), "Service", namespaced, short("svc"), inAll, subs(SubStatus)),
		res[corev1.Endpoints, *corev1.Endpoints, corev1.EndpointsList, *corev1.EndpointsList](gvr("", "v1", "endpoints"), "Endpoints", namespaced, short("ep")),
		res[corev1.ConfigMap, *corev1.ConfigMap, corev1.ConfigMapList, *corev1.ConfigMapList](gvr("", "v1", "configmaps"), "ConfigMap", namespaced, short("cm")),
		res[corev1.Secret, *corev1.Secret, corev1.SecretList, *corev1.SecretList](gvr("", "v1", "secrets"), "Secret", namespaced),
		res[corev1.Node, *corev1.Node, corev1.NodeList, *corev1.NodeList](gvr("", "v1", "nodes"), "Node", cluster, short("no"), subs(SubStatus)),
		res[corev1.Event, *corev1.Event, corev1.EventList, *corev1.EventList](coreEvents, "Event", namespaced, short("ev")),
		res[corev1.ServiceAccount, *corev1.ServiceAccount, corev1.ServiceAccountList, *corev1.ServiceAccountList](gvr("", "v1", "serviceaccounts"), "ServiceAccount", namespaced, short("sa"), subs(SubToken)),
		res[corev1.ResourceQuota, *corev1.ResourceQuota, corev1.ResourceQuotaList, *corev1.ResourceQuotaList](gvr("", "v1", "resourcequotas"), "ResourceQuota", namespaced, short("quota"), subs(SubStatus)),
		res[corev1.LimitRange, *corev1.LimitRange, corev1.LimitRangeList, *corev1.LimitRangeList](gvr("", "v1", "limitranges"), "LimitRange", namespaced, short("limits")),
		res[corev1.PersistentVolume, *corev1.PersistentVolume, corev1.PersistentVolumeList, *corev1.PersistentVolumeList](gvr("", "v1", "persistentvolumes"), "PersistentVolume", cluster, short("pv"), subs(SubStatus)),
		res[corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaim, corev1.PersistentVolumeClaimList, *corev1.PersistentVolumeClaimList](gvr("", "v1", "persistentvolumeclaims"), "PersistentVolumeClaim", namespaced, short("pvc"), subs(SubStatus)),

		// apps/v1
		res[appsv1.Deployment, *appsv1.Deployment, appsv1.DeploymentList, *appsv1.DeploymentList](gvr("apps", "v1", "deployments"), "Deployment", namespaced, short("deploy"), inAll, withGeneration, subs(SubStatus, SubScale)),
		res[appsv1.ReplicaSet, *appsv1.ReplicaSet, appsv1.ReplicaSetList, *appsv1.ReplicaSetList](gvr("apps", "v1", "replicasets"), "ReplicaSet", namespaced, short("rs"), inAll, withGeneration, subs(SubStatus, SubScale)),
		res[appsv1.DaemonSet, *appsv1.DaemonSet, appsv1.DaemonSetList, *appsv1.DaemonSetList](gvr("apps", "v1", "daemonsets"), "DaemonSet", namespaced, short("ds"), inAll, withGeneration, subs(SubStatus)),
		res[appsv1.StatefulSet, *appsv1.StatefulSet, appsv1.StatefulSetList, *appsv1.StatefulSetList](gvr("apps", "v1", "statefulsets"), "StatefulSet", namespaced, short("sts"), inAll, withGeneration, subs(SubStatus, SubScale)),
		res[appsv1.ControllerRevision, *appsv1.ControllerRevision, appsv1.ControllerRevisionList, *appsv1.ControllerRevisionList](gvr("apps", "v1", "controllerrevisions"), "ControllerRevision", namespaced),

		// batch/v1
		res[batchv1.Job, *batchv1.Job, batchv1.JobList, *batchv1.JobList](gvr("batch", "v1", "jobs"), "Job", namespaced, inAll, withGeneration, subs(SubStatus)),
		res[batchv1.CronJob, *batchv1.CronJob, batchv1.CronJobList, *batchv1.CronJobList](gvr("batch", "v1", "cronjobs"), "CronJob", namespaced, short("cj"), inAll, withGeneration, subs(SubStatus)),

		// autoscaling: v2 and v1 are both served from v2 storage, as in
		// Kubernetes (conversion_autoscaling.go).
		res[autoscalingv2.HorizontalPodAutoscaler, *autoscalingv2.HorizontalPodAutoscaler, autoscalingv2.HorizontalPodAutoscalerList, *autoscalingv2.HorizontalPodAutoscalerList](hpaV2, "HorizontalPodAutoscaler", namespaced, short("hpa"), inAll, withGeneration, subs(SubStatus)),
		res[autoscalingv1.HorizontalPodAutoscaler, *autoscalingv1.HorizontalPodAutoscaler, autoscalingv1.HorizontalPodAutoscalerList, *autoscalingv1.HorizontalPodAutoscalerList](gvr("autoscaling", "v1", "horizontalpodautoscalers"), "HorizontalPodAutoscaler", namespaced, short("hpa"), inAll, withGeneration, subs(SubStatus),
			storedAs(hpaV2, convertHPAV1ToV2Storage, convertHPAV2ToV1)),

		// networking.k8s.io/v1
		res[networkingv1.Ingress, *networkingv1.Ingress, networkingv1.IngressList, *networkingv1.IngressList](gvr("networking.k8s.io", "v1", "ingresses"), "Ingress", namespaced, short("ing"), withGeneration, subs(SubStatus)),
		res[networkingv1.IngressClass, *networkingv1.IngressClass, networkingv1.IngressClassList, *networkingv1.IngressClassList](gvr("networking.k8s.io", "v1", "ingressclasses"), "IngressClass", cluster),
		res[networkingv1.NetworkPolicy, *networkingv1.NetworkPolicy, networkingv1.NetworkPolicyList, *networkingv1.NetworkPolicyList](gvr("networking.k8s.io", "v1", "networkpolicies"), "NetworkPolicy", namespaced, short("netpol"), withGeneration),

		// discovery.k8s.io/v1, coordination.k8s.io/v1
		res[discoveryv1.EndpointSlice, *discoveryv1.EndpointSlice, discoveryv1.EndpointSliceList, *discoveryv1.EndpointSliceList](gvr("discovery.k8s.io", "v1", "endpointslices"), "EndpointSlice", namespaced),
		res[coordinationv1.Lease, *coordinationv1.Lease, coordinationv1.LeaseList, *coordinationv1.LeaseList](gvr("coordination.k8s.io", "v1", "leases"), "Lease", namespaced),

		// rbac.authorization.k8s.io/v1
		res[rbacv1.Role, *rbacv1.Role, rbacv1.RoleList, *rbacv1.RoleList](gvr("rbac.authorization.k8s.io", "v1", "roles"), "Role", namespaced),
		res[rbacv1.RoleBinding, *rbacv1.RoleBinding, rbacv1.RoleBindingList, *rbacv1.RoleBindingList](gvr("rbac.authorization.k8s.io", "v1", "rolebindings"), "RoleBinding", namespaced),
		res[rbacv1.ClusterRole, *rbacv1.ClusterRole, rbacv1.ClusterRoleList, *rbacv1.ClusterRoleList](gvr("rbac.authorization.k8s.io", "v1", "clusterroles"), "ClusterRole", cluster),
		res[rbacv1.ClusterRoleBinding, *rbacv1.ClusterRoleBinding, rbacv1.ClusterRoleBindingList, *rbacv1.ClusterRoleBindingList](gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"), "ClusterRoleBinding", cluster),

		// events.k8s.io/v1 events are stored as core/v1 events, as in
		// Kubernetes (conversion_events.go).
		res[eventsv1.Event, *eventsv1.Event, eventsv1.EventList, *eventsv1.EventList](gvr("events.k8s.io", "v1", "events"), "Event", namespaced, short("ev"),
			storedAs(coreEvents, convertEventsV1ToCore, convertCoreEventToEventsV1)),

		res[storagev1.StorageClass, *storagev1.StorageClass, storagev1.StorageClassList, *storagev1.StorageClassList](gvr("storage.k8s.io", "v1", "storageclasses"), "StorageClass", cluster, short("sc")),
		res[schedulingv1.PriorityClass, *schedulingv1.PriorityClass, schedulingv1.PriorityClassList, *schedulingv1.PriorityClassList](gvr("scheduling.k8s.io", "v1", "priorityclasses"), "PriorityClass", cluster, short("pc")),
		res[policyv1.PodDisruptionBudget, *policyv1.PodDisruptionBudget, policyv1.PodDisruptionBudgetList, *policyv1.PodDisruptionBudgetList](gvr("policy", "v1", "poddisruptionbudgets"), "PodDisruptionBudget", namespaced, short("pdb"), withGeneration, subs(SubStatus)),
	}
}
