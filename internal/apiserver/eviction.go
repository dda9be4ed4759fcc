package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/storage"
)

// The eviction subresource (POST pods/{name}/eviction) as Kubernetes'
// EvictionREST implements it (pkg/registry/core/pod/storage/eviction.go):
//
//	pod terminal, Pending or already terminating ─► delete, no budget check
//	matching PodDisruptionBudgets (same namespace, selector matches)
//	  ├─ none ─► delete
//	  ├─ more than one ─► 500 (not supported, as in Kubernetes)
//	  └─ one:
//	      pod not Ready and (policy AlwaysAllow, or currentHealthy ≥
//	        desiredHealthy > 0) ─► delete guarded by the pod's resourceVersion
//	      status stale (observedGeneration < generation) ─► 429
//	      disruptionsAllowed == 0 ─► 429
//	      else decrement, record status.disruptedPods[pod] (CAS write of
//	        the budget's status; a conflict re-reads and re-checks) ─► delete
//
// The disruption controller (internal/controller/disruption) recomputes the
// budget's status from the pods and drops disruptedPods entries the pods of
// which did not go within its timeout.

// evictionRetries bounds the re-reads after write conflicts, as
// Kubernetes' EvictionsRetry (20 steps).
const evictionRetries = 20

// maxDisruptedPods is Kubernetes' MaxDisruptedPodSize: beyond it the
// controller is assumed to lag and evictions are refused.
const maxDisruptedPods = 2000

// Pod condition the eviction adds before deleting (PodDisruptionConditions).
const (
	disruptionTargetReason  = "EvictionByEvictionAPI"
	disruptionTargetMessage = "Eviction API: evicting"
)

// evictionBudgetMessage is Kubernetes' message for a refused eviction.
const evictionBudgetMessage = "Cannot evict pod as it would violate the pod's disruption budget."

var pdbGVR = policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets")

// evictionDeleteOptions merges the dryRun query parameter into the
// Eviction's DeleteOptions as Kubernetes' propagateDryRun does.
func evictionDeleteOptions(ev *policyv1.Eviction, query []string) (*metav1.DeleteOptions, error) {
	for _, v := range query {
		if v != metav1.DryRunAll {
			return nil, badRequest("Invalid dry run value: %q", v)
		}
	}
	if ev.DeleteOptions == nil {
		return &metav1.DeleteOptions{DryRun: query}, nil
	}
	opts := ev.DeleteOptions.DeepCopy()
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return nil, badRequest("Invalid dry run value: %q", v)
		}
	}
	switch {
	case len(opts.DryRun) == 0:
		opts.DryRun = query
	case len(query) > 0 && !reflect.DeepEqual(query, opts.DryRun):
		return nil, badRequest("Non-matching dry-run options in request and content: %v and %v", query, opts.DryRun)
	}
	return opts, nil
}

// canIgnoreBudget: a finished, not yet running or already terminating pod
// is deleted without looking at budgets (Kubernetes' canIgnorePDB).
func canIgnoreBudget(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

// enforceResourceVersion: deleting a pod that may turn ready meanwhile is
// guarded by its resourceVersion (Kubernetes' shouldEnforceResourceVersion).
func enforceResourceVersion(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return false
	}
	return pod.DeletionTimestamp == nil
}

func rvUnset(opts *metav1.DeleteOptions) bool {
	return opts.Preconditions == nil || opts.Preconditions.ResourceVersion == nil
}

func withRVPrecondition(opts *metav1.DeleteOptions, rv string) *metav1.DeleteOptions {
	out := opts.DeepCopy()
	if out.Preconditions == nil {
		out.Preconditions = &metav1.Preconditions{}
	}
	out.Preconditions.ResourceVersion = &rv
	return out
}

func podIsReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// evict runs one eviction; it returns nil once the pod is deleted (or
// would be, with dryRun).
func (s *Server) evict(ctx context.Context, podReq *request, opts *metav1.DeleteOptions) error {
	dryRun := len(opts.DryRun) > 0
	var pod *corev1.Pod
	deleted := false
	for attempt := 0; ; attempt++ {
		obj, err := podReq.store.get(ctx, podReq.namespace, podReq.name)
		if err != nil {
			return err
		}
		pod = obj.(*corev1.Pod)
		if !canIgnoreBudget(pod) {
			break
		}
		delOpts := opts
		if enforceResourceVersion(pod) && rvUnset(opts) {
			delOpts = withRVPrecondition(opts, pod.ResourceVersion)
		}
		err = s.markAndDeletePod(ctx, podReq, delOpts, dryRun)
		if apierrors.IsConflict(err) && rvUnset(opts) && attempt < evictionRetries {
			continue // the pod changed: look again
		}
		if err != nil {
			return err
		}
		deleted = true
		break
	}
	if deleted {
		return nil
	}

	budgets, err := s.matchingBudgets(ctx, pod)
	if err != nil {
		return err
	}
	if len(budgets) > 1 {
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusInternalServerError,
			Message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
		}}
	}
	guarded := false
	if len(budgets) == 1 {
		pdb := budgets[0]
		unhealthyOK := false
		if !podIsReady(pod) {
			if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil && *p == policyv1.AlwaysAllow {
				unhealthyOK = true
			} else if pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
				// The application is not disrupted now; removing an
				// unready pod does not disrupt it.
				unhealthyOK = true
			}
		}
		if unhealthyOK {
			guarded = true
		} else if err := s.checkAndDecrement(ctx, pod, pdb, dryRun); err != nil {
			return err
		}
	}

	delOpts := opts
	if guarded {
		// The pod must not have turned ready since it was judged.
		delOpts = withRVPrecondition(opts, pod.ResourceVersion)
	}
	err = s.markAndDeletePod(ctx, podReq, delOpts, dryRun)
	if apierrors.IsConflict(err) && guarded && rvUnset(opts) {
		return budgetTooManyRequests(budgets[0].Name)
	}
	return err
}

// matchingBudgets lists the PodDisruptionBudgets of the pod's namespace
// whose selector matches it (in policy/v1 an empty selector matches every
// pod, a missing one none).
func (s *Server) matchingBudgets(ctx context.Context, pod *corev1.Pod) ([]*policyv1.PodDisruptionBudget, error) {
	res := s.cfg.Registry.Get(pdbGVR)
	if res == nil {
		return nil, nil
	}
	store := s.objectStore(res)
	list, err := s.cfg.Storage.List(ctx, store.prefix(pod.Namespace), storage.ListOptions{})
	if err != nil {
		return nil, storageError(err, res.GVR.GroupResource(), "")
	}
	var out []*policyv1.PodDisruptionBudget
	for _, kv := range list.Items {
		obj, err := store.decode(kv)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		pdb := obj.(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb)
	}
	return out, nil
}

// checkAndDecrement takes one disruption from pdb for pod, re-reading the
// budget after a conflicting write; it returns 429 when none is allowed.
func (s *Server) checkAndDecrement(ctx context.Context, pod *corev1.Pod, pdb *policyv1.PodDisruptionBudget, dryRun bool) error {
	res := s.cfg.Registry.Get(pdbGVR)
	pdbReq := &request{
		requestInfo: requestInfo{resourceRequest: true, verb: "update", gv: res.GVR.GroupVersion(), namespace: pdb.Namespace, resource: res.GVR.Resource, name: pdb.Name, subresource: api.SubStatus},
		res:         res,
		store:       s.objectStore(res),
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			obj, err := pdbReq.store.get(ctx, pdb.Namespace, pdb.Name)
			if err != nil {
				return err
			}
			pdb = obj.(*policyv1.PodDisruptionBudget)
		}
		next, err := decrementBudget(pdb, pod.Name, time.Now())
		if err != nil {
			return err
		}
		if dryRun {
			return nil
		}
		_, err = s.update(ctx, pdbReq, rvOf(pdb), writeOptions{}, func(current runtime.Object) (runtime.Object, error) {
			return next, s.applyUpdate(pdbReq, next, current, "gantry-eviction")
		})
		if apierrors.IsConflict(err) && attempt < evictionRetries {
			continue
		}
		if apierrors.IsConflict(err) {
			return apierrors.NewTimeoutError(fmt.Sprintf("couldn't update PodDisruptionBudget %q due to conflicts", pdb.Name), 10)
		}
		return err
	}
}

// decrementBudget returns pdb with one disruption taken for podName at
// now, or the error Kubernetes' checkAndDecrement answers with.
func decrementBudget(pdb *policyv1.PodDisruptionBudget, podName string, now time.Time) (*policyv1.PodDisruptionBudget, error) {
	pdbResource := policyv1.Resource("poddisruptionbudget")
	if pdb.Status.ObservedGeneration < pdb.Generation {
		return nil, budgetTooManyRequests(pdb.Name)
	}
	if pdb.Status.DisruptionsAllowed < 0 {
		return nil, apierrors.NewForbidden(pdbResource, pdb.Name, errors.New("pdb disruptions allowed is negative"))
	}
	if len(pdb.Status.DisruptedPods) > maxDisruptedPods {
		return nil, apierrors.NewForbidden(pdbResource, pdb.Name, errors.New("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
	}
	if pdb.Status.DisruptionsAllowed == 0 {
		err := apierrors.NewTooManyRequests(evictionBudgetMessage, 0)
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    policyv1.DisruptionBudgetCause,
			Message: fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy),
		})
		return nil, err
	}
	next := pdb.DeepCopy()
	next.Status.DisruptionsAllowed--
	if next.Status.DisruptionsAllowed == 0 {
		apimeta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{
			Type:               policyv1.DisruptionAllowedCondition,
			Status:             metav1.ConditionFalse,
			Reason:             policyv1.InsufficientPodsReason,
			ObservedGeneration: next.Status.ObservedGeneration,
		})
	}
	if next.Status.DisruptedPods == nil {
		next.Status.DisruptedPods = map[string]metav1.Time{}
	}
	next.Status.DisruptedPods[podName] = metav1.NewTime(now)
	return next, nil
}

// budgetTooManyRequests is Kubernetes' answer while a budget's status is
// stale (createTooManyRequestsError).
func budgetTooManyRequests(name string) error {
	err := apierrors.NewTooManyRequests(evictionBudgetMessage, 10)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    policyv1.DisruptionBudgetCause,
		Message: fmt.Sprintf("The disruption budget %s is still being processed by the server.", name),
	})
	return err
}

var errPodTerminating = errors.New("apiserver: pod is terminating")

// markAndDeletePod adds the DisruptionTarget condition to the pod (unless
// dry run) and deletes it with opts.
func (s *Server) markAndDeletePod(ctx context.Context, podReq *request, opts *metav1.DeleteOptions, dryRun bool) error {
	if !dryRun {
		statusReq := *podReq
		statusReq.subresource = api.SubStatus
		out, err := s.update(ctx, &statusReq, 0, writeOptions{}, func(current runtime.Object) (runtime.Object, error) {
			pod := current.DeepCopyObject().(*corev1.Pod)
			if p := opts.Preconditions; p != nil {
				if p.UID != nil && *p.UID != "" && *p.UID != pod.UID {
					return nil, apierrors.NewConflict(podReq.groupResource(), pod.Name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, pod.UID))
				}
				if p.ResourceVersion != nil && *p.ResourceVersion != "" && *p.ResourceVersion != pod.ResourceVersion {
					return nil, apierrors.NewConflict(podReq.groupResource(), pod.Name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, pod.ResourceVersion))
				}
			}
			if pod.DeletionTimestamp != nil {
				// Terminating already: nothing to mark, and an update of a
				// deleting pod would complete its deletion.
				return nil, errPodTerminating
			}
			setDisruptionTarget(pod)
			return pod, nil
		})
		switch {
		case errors.Is(err, errPodTerminating):
		case err != nil:
			return err
		case !rvUnset(opts):
			// This write moved the resourceVersion the caller pinned.
			opts = withRVPrecondition(opts, objectMeta(out).GetResourceVersion())
		}
	}
	_, _, err := s.delete(ctx, podReq, podReq.name, opts)
	return err
}

func setDisruptionTarget(pod *corev1.Pod) {
	c := corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: disruptionTargetReason, Message: disruptionTargetMessage,
	}
	for i := range pod.Status.Conditions {
		cur := &pod.Status.Conditions[i]
		if cur.Type != c.Type {
			continue
		}
		if cur.Status != c.Status {
			cur.LastTransitionTime = metav1.Now().Rfc3339Copy()
		}
		cur.Status, cur.Reason, cur.Message = c.Status, c.Reason, c.Message
		return
	}
	c.LastTransitionTime = metav1.Now().Rfc3339Copy()
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}
