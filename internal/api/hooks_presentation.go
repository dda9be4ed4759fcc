package api

import "k8s.io/apimachinery/pkg/runtime/schema"

// attachPresentation sets r.Fields and r.Table: the field-selector fields
// (fields_*.go) and the server-side table (table_*.go) Kubernetes has for
// r's kind. Every served resource gets a table; resources Kubernetes prints
// with its default NAME / CREATED AT table (roles, cluster roles, limit
// ranges) get that one explicitly.
func attachPresentation(r *Resource) {
	if spec := fieldsSpecFor(r.GVR); spec.set != nil {
		r.Fields = spec.set
	}
	r.Table = presentationTable(r.GVR)
}

// presentationTable returns the table of g. Resources Kubernetes has no
// printer for get its default table.
func presentationTable(g schema.GroupVersionResource) *TableConvertor {
	switch g {
	case gvr("", "v1", "pods"):
		return printPodTable()
	case gvr("", "v1", "services"):
		return printServiceTable()
	case gvr("", "v1", "endpoints"):
		return printEndpointsTable()
	case gvr("", "v1", "configmaps"):
		return printConfigMapTable()
	case gvr("", "v1", "secrets"):
		return printSecretTable()
	case gvr("", "v1", "namespaces"):
		return printNamespaceTable()
	case gvr("", "v1", "nodes"):
		return printNodeTable()
	case gvr("", "v1", "events"):
		return printCoreEventTable()
	case gvr("", "v1", "serviceaccounts"):
		return printServiceAccountTable()
	case gvr("", "v1", "resourcequotas"):
		return printResourceQuotaTable()
	case gvr("", "v1", "persistentvolumes"):
		return printPersistentVolumeTable()
	case gvr("", "v1", "persistentvolumeclaims"):
		return printPersistentVolumeClaimTable()
	case gvr("apps", "v1", "deployments"):
		return printDeploymentTable()
	case gvr("apps", "v1", "replicasets"):
		return printReplicaSetTable()
	case gvr("apps", "v1", "daemonsets"):
		return printDaemonSetTable()
	case gvr("apps", "v1", "statefulsets"):
		return printStatefulSetTable()
	case gvr("apps", "v1", "controllerrevisions"):
		return printControllerRevisionTable()
	case gvr("batch", "v1", "jobs"):
		return printJobTable()
	case gvr("batch", "v1", "cronjobs"):
		return printCronJobTable()
	case gvr("autoscaling", "v2", "horizontalpodautoscalers"):
		return printHPAV2Table()
	case gvr("autoscaling", "v1", "horizontalpodautoscalers"):
		return printHPAV1Table()
	case gvr("networking.k8s.io", "v1", "ingresses"):
		return printIngressTable()
	case gvr("networking.k8s.io", "v1", "ingressclasses"):
		return printIngressClassTable()
	case gvr("networking.k8s.io", "v1", "networkpolicies"):
		return printNetworkPolicyTable()
	case gvr("discovery.k8s.io", "v1", "endpointslices"):
		return printEndpointSliceTable()
	case gvr("coordination.k8s.io", "v1", "leases"):
		return printLeaseTable()
	case gvr("rbac.authorization.k8s.io", "v1", "rolebindings"):
		return printRoleBindingTable()
	case gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"):
		return printClusterRoleBindingTable()
	case gvr("events.k8s.io", "v1", "events"):
		return printEventsV1Table()
	case gvr("storage.k8s.io", "v1", "storageclasses"):
		return printStorageClassTable()
	case gvr("scheduling.k8s.io", "v1", "priorityclasses"):
		return printPriorityClassTable()
	case gvr("policy", "v1", "poddisruptionbudgets"):
		return printPodDisruptionBudgetTable()
	case gvr("rbac.authorization.k8s.io", "v1", "roles"),
		gvr("rbac.authorization.k8s.io", "v1", "clusterroles"),
		gvr("", "v1", "limitranges"):
		return printDefaultTable()
	}
	// A resource missing here fails TestEveryResourceHasTable.
	return nil
}
