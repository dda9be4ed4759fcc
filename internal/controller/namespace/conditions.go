package namespace

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// conditionsFor returns the deletion conditions Kubernetes' namespace
// controller reports for a pass that found ct.
func conditionsFor(ct content) []corev1.NamespaceCondition {
	conds := []corev1.NamespaceCondition{
		{Type: corev1.NamespaceDeletionDiscoveryFailure, Status: corev1.ConditionFalse, Reason: "ResourcesDiscovered", Message: "All resources successfully discovered"},
		{Type: corev1.NamespaceDeletionGVParsingFailure, Status: corev1.ConditionFalse, Reason: "ParsedGroupVersions", Message: "All legacy kube types successfully parsed"},
	}
	if len(ct.failures) > 0 {
		conds = append(conds, corev1.NamespaceCondition{
			Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionTrue, Reason: "ContentDeletionFailed",
			Message: fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(ct.failures), errors.Join(ct.failures...)),
		})
	} else {
		conds = append(conds, corev1.NamespaceCondition{
			Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionFalse, Reason: "ContentDeleted",
			Message: "All content successfully deleted, may be waiting on finalization",
		})
	}
	if len(ct.remaining) > 0 {
		conds = append(conds, corev1.NamespaceCondition{
			Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain",
			Message: "Some resources are remaining: " + ct.remainingMessage(),
		})
	} else {
		conds = append(conds, corev1.NamespaceCondition{
			Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionFalse, Reason: "ContentRemoved",
			Message: "All content successfully removed",
		})
	}
	if len(ct.finalizers) > 0 {
		conds = append(conds, corev1.NamespaceCondition{
			Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionTrue, Reason: "SomeFinalizersRemain",
			Message: "Some content in the namespace has finalizers remaining: " + ct.finalizersMessage(),
		})
	} else {
		conds = append(conds, corev1.NamespaceCondition{
			Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionFalse, Reason: "ContentHasNoFinalizers",
			Message: "All content-preserving finalizers finished",
		})
	}
	return conds
}

// mergeConditions sets want on have, keeping lastTransitionTime for
// conditions whose status did not change. It reports whether anything changed.
func mergeConditions(have []corev1.NamespaceCondition, want []corev1.NamespaceCondition, now metav1.Time) ([]corev1.NamespaceCondition, bool) {
	out := append([]corev1.NamespaceCondition(nil), have...)
	changed := false
	for _, w := range want {
		i := -1
		for j := range out {
			if out[j].Type == w.Type {
				i = j
				break
			}
		}
		switch {
		case i < 0:
			w.LastTransitionTime = now
			out = append(out, w)
			changed = true
		case out[i].Status != w.Status:
			w.LastTransitionTime = now
			out[i] = w
			changed = true
		case out[i].Reason != w.Reason || out[i].Message != w.Message:
			w.LastTransitionTime = out[i].LastTransitionTime
			out[i] = w
			changed = true
		}
	}
	return out, changed
}

// updateConditions writes the conditions for ct to the namespace status if
// they changed and returns the namespace as last stored.
func (c *Controller) updateConditions(ctx context.Context, cached *corev1.Namespace, ct content) (*corev1.Namespace, error) {
	conds, changed := mergeConditions(cached.Status.Conditions, conditionsFor(ct), metav1.Now().Rfc3339Copy())
	if !changed {
		return cached, nil
	}
	next := cached.DeepCopy()
	next.Status.Conditions = conds
	return c.kube.CoreV1().Namespaces().UpdateStatus(ctx, next, metav1.UpdateOptions{})
}
