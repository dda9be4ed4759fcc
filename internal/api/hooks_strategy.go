package api

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// attachStrategy sets r.Default, r.Validate and r.ValidateUpdate.
//
// Contract with the API server (what Kubernetes' generic registry does
// around these hooks, and which the hooks therefore do not do):
//   - Default runs on every decoded create and update body, before
//     Validate/ValidateUpdate (defaulting happens on decode in Kubernetes).
//   - metadata.uid, name (from generateName) and namespace (from the URL)
//     are filled before Default on create; Job selector generation needs uid.
//   - status is reset on create and copied from the stored object on spec
//     updates; immutability of name/namespace/uid/creationTimestamp and the
//     resourceVersion/generation rules are enforced by the API server.
func attachStrategy(r *Resource) {
	switch r.GVR {
	// core/v1
	case gvr("", "v1", "namespaces"):
		setStrategy(r, defaultNamespace, validateNamespace, validateNamespaceUpdate)
	case gvr("", "v1", "pods"):
		setStrategy(r, defaultPod, validatePod, validatePodUpdate)
	case gvr("", "v1", "services"):
		setStrategy(r, defaultService, validateService, validateServiceUpdate)
	case gvr("", "v1", "endpoints"):
		setStrategy(r, defaultEndpoints, validateEndpoints, validateEndpointsUpdate)
	case gvr("", "v1", "configmaps"):
		setStrategy(r, defaultConfigMap, validateConfigMap, validateConfigMapUpdate)
	case gvr("", "v1", "secrets"):
		setStrategy(r, defaultSecret, validateSecret, validateSecretUpdate)
	case gvr("", "v1", "nodes"):
		setStrategy(r, defaultNode, validateNode, validateNodeUpdate)
	case gvr("", "v1", "events"):
		setStrategy(r, nil, validateCoreEvent, validateCoreEventUpdate)
	case gvr("", "v1", "serviceaccounts"):
		setStrategy(r, nil, validateServiceAccount, validateServiceAccountUpdate)
	case gvr("", "v1", "resourcequotas"):
		setStrategy(r, defaultResourceQuota, validateResourceQuota, validateResourceQuotaUpdate)
	case gvr("", "v1", "limitranges"):
		setStrategy(r, defaultLimitRange, validateLimitRange, validateLimitRangeUpdate)
	case gvr("", "v1", "persistentvolumes"):
		setStrategy(r, defaultPV, validatePV, validatePVUpdate)
	case gvr("", "v1", "persistentvolumeclaims"):
		setStrategy(r, defaultPVC, validatePVC, validatePVCUpdate)

	// apps/v1
	case gvr("apps", "v1", "deployments"):
		setStrategy(r, defaultDeployment, validateDeployment, validateDeploymentUpdate)
	case gvr("apps", "v1", "replicasets"):
		setStrategy(r, defaultReplicaSet, validateReplicaSet, validateReplicaSetUpdate)
	case gvr("apps", "v1", "daemonsets"):
		setStrategy(r, defaultDaemonSet, validateDaemonSet, validateDaemonSetUpdate)
	case gvr("apps", "v1", "statefulsets"):
		setStrategy(r, defaultStatefulSet, validateStatefulSet, validateStatefulSetUpdate)
	case gvr("apps", "v1", "controllerrevisions"):
		setStrategy(r, nil, validateControllerRevision, validateControllerRevisionUpdate)

	// batch/v1
	case gvr("batch", "v1", "jobs"):
		setStrategy(r, defaultJob, validateJob, validateJobUpdate)
	case gvr("batch", "v1", "cronjobs"):
		setStrategy(r, defaultCronJob, validateCronJob, validateCronJobUpdate)

	// autoscaling
	case gvr("autoscaling", "v2", "horizontalpodautoscalers"):
		setStrategy(r, defaultHPAv2, validateHPAv2, validateHPAv2Update)
	case gvr("autoscaling", "v1", "horizontalpodautoscalers"):
		setStrategy(r, defaultHPAv1, validateHPAv1, validateHPAv1Update)

	// networking.k8s.io/v1
	case gvr("networking.k8s.io", "v1", "ingresses"):
		setStrategy(r, nil, validateIngress, validateIngressUpdate)
	case gvr("networking.k8s.io", "v1", "ingressclasses"):
		setStrategy(r, defaultIngressClass, validateIngressClass, validateIngressClassUpdate)
	case gvr("networking.k8s.io", "v1", "networkpolicies"):
		setStrategy(r, defaultNetworkPolicy, validateNetworkPolicy, validateNetworkPolicyUpdate)

	// discovery.k8s.io/v1, coordination.k8s.io/v1
	case gvr("discovery.k8s.io", "v1", "endpointslices"):
		setStrategy(r, defaultEndpointSlice, validateEndpointSlice, validateEndpointSliceUpdate)
	case gvr("coordination.k8s.io", "v1", "leases"):
		setStrategy(r, nil, validateLease, validateLeaseUpdate)

	// rbac.authorization.k8s.io/v1
	case gvr("rbac.authorization.k8s.io", "v1", "roles"):
		setStrategy(r, nil, validateRole, validateRoleUpdate)
	case gvr("rbac.authorization.k8s.io", "v1", "rolebindings"):
		setStrategy(r, defaultRoleBinding, validateRoleBinding, validateRoleBindingUpdate)
	case gvr("rbac.authorization.k8s.io", "v1", "clusterroles"):
		setStrategy(r, nil, validateClusterRole, validateClusterRoleUpdate)
	case gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"):
		setStrategy(r, defaultClusterRoleBinding, validateClusterRoleBinding, validateClusterRoleBindingUpdate)

	// events.k8s.io/v1
	case gvr("events.k8s.io", "v1", "events"):
		setStrategy(r, nil, validateEventsV1, validateEventsV1Update)

	// storage.k8s.io/v1
	case gvr("storage.k8s.io", "v1", "storageclasses"):
		setStrategy(r, defaultStorageClass, validateStorageClass, validateStorageClassUpdate)

	// scheduling.k8s.io/v1, policy/v1
	case gvr("scheduling.k8s.io", "v1", "priorityclasses"):
		setStrategy(r, defaultPriorityClass, validatePriorityClass, validatePriorityClassUpdate)
	case gvr("policy", "v1", "poddisruptionbudgets"):
		setStrategy(r, nil, validatePDB, validatePDBUpdate)
	}
	if r.Default != nil && !r.Namespaced {
		// Kubernetes clears metadata.namespace of cluster-scoped objects
		// before validation instead of rejecting it.
		def := r.Default
		r.Default = func(obj runtime.Object) {
			if m, ok := obj.(interface{ SetNamespace(string) }); ok {
				m.SetNamespace("")
			}
			def(obj)
		}
	}
}

// setStrategy adapts typed hooks to the Resource's runtime.Object hooks.
// A nil function leaves that hook unset (validation of metadata is part of
// every validate function, so validate functions are never nil here).
func setStrategy[T runtime.Object](r *Resource, def func(T), validate func(T) field.ErrorList, validateUpdate func(obj, old T) field.ErrorList) {
	if def != nil {
		r.Default = func(obj runtime.Object) {
			if o, ok := obj.(T); ok {
				def(o)
			}
		}
	} else {
		r.Default = func(runtime.Object) {}
	}
	r.Validate = func(obj runtime.Object) field.ErrorList {
		o, ok := obj.(T)
		if !ok {
			return field.ErrorList{field.InternalError(nil, fmt.Errorf("%s: unexpected object type %T", r.Kind, obj))}
		}
		return dedupeErrors(validate(o))
	}
	r.ValidateUpdate = func(obj, old runtime.Object) field.ErrorList {
		o, ok := obj.(T)
		p, okOld := old.(T)
		if !ok || !okOld {
			return field.ErrorList{field.InternalError(nil, fmt.Errorf("%s: unexpected object types %T, %T", r.Kind, obj, old))}
		}
		return dedupeErrors(validateUpdate(o, p))
	}
}

// dedupeErrors drops errors identical to an earlier one (the same rule can
// be reached from both the spec check and the update check).
func dedupeErrors(errs field.ErrorList) field.ErrorList {
	if len(errs) < 2 {
		return errs
	}
	seen := make(map[string]bool, len(errs))
	out := errs[:0:0]
	for _, e := range errs {
		k := e.Error()
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}
