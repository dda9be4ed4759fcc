package api

import (
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Tables of the cluster-policy resources: leases, RBAC bindings, storage
// classes, priority classes and disruption budgets.

func printLeaseTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
			printAgeColumn(),
		},
		func(l *coordinationv1.Lease, now time.Time) []interface{} {
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			return []interface{}{l.Name, holder, printAge(l.CreationTimestamp, now)}
		},
	)
}

// printBindingColumns are the columns of role and cluster role bindings;
// kind is "roleBinding" or "clusterRoleBinding" for the descriptions.
func printBindingColumns(roleDoc, kind string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		printNameColumn(),
		printCol("Role", "string", roleDoc),
		printAgeColumn(),
		printWideCol("Users", "string", "Users in the "+kind),
		printWideCol("Groups", "string", "Groups in the "+kind),
		printWideCol("ServiceAccounts", "string", "ServiceAccounts in the "+kind),
	}
}

func printRoleBindingTable() *TableConvertor {
	return printTableFor(
		printBindingColumns(rbacv1beta1.RoleBinding{}.SwaggerDoc()["roleRef"], "roleBinding"),
		func(b *rbacv1.RoleBinding, now time.Time) []interface{} {
			return printBindingRow(b.Name, b.RoleRef, b.Subjects, b.CreationTimestamp, now)
		},
	)
}

func printClusterRoleBindingTable() *TableConvertor {
	return printTableFor(
		printBindingColumns(rbacv1beta1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"], "clusterRoleBinding"),
		func(b *rbacv1.ClusterRoleBinding, now time.Time) []interface{} {
			return printBindingRow(b.Name, b.RoleRef, b.Subjects, b.CreationTimestamp, now)
		},
	)
}

// printBindingRow renders ROLE as "<Kind>/<name>" and the subjects by kind;
// service accounts as "<namespace>/<name>".
func printBindingRow(name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, created metav1.Time, now time.Time) []interface{} {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			sas = append(sas, fmt.Sprintf("%s/%s", s.Namespace, s.Name))
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		}
	}
	return []interface{}{
		name, fmt.Sprintf("%s/%s", ref.Kind, ref.Name), printAge(created, now),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", "),
	}
}

// Annotations marking the default storage class.
const (
	printDefaultStorageClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	printBetaDefaultStorageClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

func printStorageClassTable() *TableConvertor {
	doc := storagev1.StorageClass{}.SwaggerDoc()
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Provisioner", "string", doc["provisioner"]),
			printCol("ReclaimPolicy", "string", doc["reclaimPolicy"]),
			printCol("VolumeBindingMode", "string", doc["volumeBindingMode"]),
			printCol("AllowVolumeExpansion", "string", doc["allowVolumeExpansion"]),
			printAgeColumn(),
		},
		func(sc *storagev1.StorageClass, now time.Time) []interface{} {
			name := sc.Name
			if sc.Annotations[printDefaultStorageClassAnnotation] == "true" || sc.Annotations[printBetaDefaultStorageClassAnnotation] == "true" {
				name += " (default)"
			}
			reclaim := string(corev1.PersistentVolumeReclaimDelete)
			if sc.ReclaimPolicy != nil {
				reclaim = string(*sc.ReclaimPolicy)
			}
			binding := string(storagev1.VolumeBindingImmediate)
			if sc.VolumeBindingMode != nil {
				binding = string(*sc.VolumeBindingMode)
			}
			expansion := sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
			return []interface{}{name, sc.Provisioner, reclaim, binding, expansion, printAge(sc.CreationTimestamp, now)}
		},
	)
}

func printPriorityClassTable() *TableConvertor {
	doc := schedulingv1.PriorityClass{}.SwaggerDoc()
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Value", "integer", doc["value"]),
			printCol("Global-Default", "boolean", doc["globalDefault"]),
			printAgeColumn(),
			// Priority 0 in Kubernetes too: kubectl shows it by default.
			printCol("PreemptionPolicy", "string", doc["preemptionPolicy"]),
		},
		func(pc *schedulingv1.PriorityClass, now time.Time) []interface{} {
			policy := ""
			if pc.PreemptionPolicy != nil {
				policy = string(*pc.PreemptionPolicy)
			}
			return []interface{}{pc.Name, int64(pc.Value), pc.GlobalDefault, printAge(pc.CreationTimestamp, now), policy}
		},
	)
}

func printPodDisruptionBudgetTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Min Available", "string", "The minimum number of pods that must be available."),
			printCol("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
			printCol("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
			printAgeColumn(),
		},
		func(pdb *policyv1.PodDisruptionBudget, now time.Time) []interface{} {
			minAvailable, maxUnavailable := "N/A", "N/A"
			if pdb.Spec.MinAvailable != nil {
				minAvailable = pdb.Spec.MinAvailable.String()
			}
			if pdb.Spec.MaxUnavailable != nil {
				maxUnavailable = pdb.Spec.MaxUnavailable.String()
			}
			return []interface{}{
				pdb.Name, minAvailable, maxUnavailable, int64(pdb.Status.DisruptionsAllowed),
				printAge(pdb.CreationTimestamp, now),
			}
		},
	)
}
