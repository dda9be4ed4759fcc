package api

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	appsv1beta1 "k8s.io/api/apps/v1beta1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Tables of apps/v1 resources. Descriptions come from the same (older) API
// versions' docs Kubernetes' printers use, so they match it word for word.

func printDeploymentTable() *TableConvertor {
	status := extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Ready", "string", "Number of the pod with ready state"),
			printCol("Up-to-date", "string", status["updatedReplicas"]),
			printCol("Available", "string", status["availableReplicas"]),
			printAgeColumn(),
			printWideCol("Containers", "string", printContainersDoc),
			printWideCol("Images", "string", printImagesDoc),
			printWideCol("Selector", "string", extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()["selector"]),
		},
		func(d *appsv1.Deployment, now time.Time) []interface{} {
			selector := "<invalid>"
			if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
				selector = s.String()
			}
			names, images := printContainers(d.Spec.Template.Spec.Containers)
			return []interface{}{
				d.Name,
				fmt.Sprintf("%d/%d", int64(d.Status.ReadyReplicas), int64(printReplicas(d.Spec.Replicas))),
				int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas),
				printAge(d.CreationTimestamp, now),
				names, images, selector,
			}
		},
	)
}

// printReplicas reads an optional replica count; unset prints as 0, as the
// internal (non-pointer) field Kubernetes prints from would be.
func printReplicas(r *int32) int32 {
	if r == nil {
		return 0
	}
	return *r
}

func printReplicaSetTable() *TableConvertor {
	spec := extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()
	status := extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Desired", "integer", spec["replicas"]),
			printCol("Current", "integer", status["replicas"]),
			printCol("Ready", "integer", status["readyReplicas"]),
			printAgeColumn(),
			printWideCol("Containers", "string", printContainersDoc),
			printWideCol("Images", "string", printImagesDoc),
			printWideCol("Selector", "string", spec["selector"]),
		},
		func(rs *appsv1.ReplicaSet, now time.Time) []interface{} {
			names, images := printContainers(rs.Spec.Template.Spec.Containers)
			return []interface{}{
				rs.Name, int64(printReplicas(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
				printAge(rs.CreationTimestamp, now),
				names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
			}
		},
	)
}

func printDaemonSetTable() *TableConvertor {
	status := extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Desired", "integer", status["desiredNumberScheduled"]),
			printCol("Current", "integer", status["currentNumberScheduled"]),
			printCol("Ready", "integer", status["numberReady"]),
			printCol("Up-to-date", "integer", status["updatedNumberScheduled"]),
			printCol("Available", "integer", status["numberAvailable"]),
			printCol("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
			printAgeColumn(),
			printWideCol("Containers", "string", printContainersDoc),
			printWideCol("Images", "string", printImagesDoc),
			printWideCol("Selector", "string", extensionsv1beta1.DaemonSetSpec{}.SwaggerDoc()["selector"]),
		},
		func(ds *appsv1.DaemonSet, now time.Time) []interface{} {
			names, images := printContainers(ds.Spec.Template.Spec.Containers)
			s := ds.Status
			return []interface{}{
				ds.Name, int64(s.DesiredNumberScheduled), int64(s.CurrentNumberScheduled), int64(s.NumberReady),
				int64(s.UpdatedNumberScheduled), int64(s.NumberAvailable),
				labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector), printAge(ds.CreationTimestamp, now),
				names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
			}
		},
	)
}

func printStatefulSetTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Ready", "string", "Number of the pod with ready state"),
			printAgeColumn(),
			printWideCol("Containers", "string", printContainersDoc),
			printWideCol("Images", "string", printImagesDoc),
		},
		func(ss *appsv1.StatefulSet, now time.Time) []interface{} {
			names, images := printContainers(ss.Spec.Template.Spec.Containers)
			return []interface{}{
				ss.Name,
				fmt.Sprintf("%d/%d", int64(ss.Status.ReadyReplicas), int64(printReplicas(ss.Spec.Replicas))),
				printAge(ss.CreationTimestamp, now),
				names, images,
			}
		},
	)
}

func printControllerRevisionTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Controller", "string", "Controller of the object"),
			printCol("Revision", "string", appsv1beta1.ControllerRevision{}.SwaggerDoc()["revision"]),
			printAgeColumn(),
		},
		func(cr *appsv1.ControllerRevision, now time.Time) []interface{} {
			controller := "<none>"
			if ref := metav1.GetControllerOf(cr); ref != nil {
				controller = printKindName(ref.APIVersion, ref.Kind, ref.Name)
			}
			return []interface{}{cr.Name, controller, cr.Revision, printAge(cr.CreationTimestamp, now)}
		},
	)
}

// printKindName renders "<kind>.<group>/<name>" in lower case (the group is
// left out for the core group), e.g. "daemonset.apps/fluentd".
func printKindName(apiVersion, kind, name string) string {
	gk := schema.GroupKind{Kind: kind}
	if gv, err := schema.ParseGroupVersion(apiVersion); err == nil {
		gk.Group = gv.Group
	}
	if gk.Empty() {
		return name
	}
	return strings.ToLower(gk.String()) + "/" + name
}
