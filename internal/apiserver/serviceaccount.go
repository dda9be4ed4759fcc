package apiserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gantry-dev/gantry/internal/admission"
)

// defaultServiceAccountAttempts is how often a pod create looks for its
// namespace's "default" account before it is refused: the service account
// controller creates it just after the namespace appears, and a pod may
// come first. kube-apiserver's admission tries 10 times too.
const defaultServiceAccountAttempts = 10

// admitServiceAccount is the ServiceAccount admission of a new pod
// (Config.ServiceAccountAdmission): its account must exist, and its token
// is mounted unless automount is off (admission.ServiceAccountToken).
func (s *Server) admitServiceAccount(ctx context.Context, pod *corev1.Pod) error {
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
		pod.Spec.DeprecatedServiceAccount = "default"
	}
	sa, err := s.serviceAccountFor(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return apierrors.NewForbidden(podsGVR.GroupResource(), pod.Name,
			fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err))
	}
	admission.ServiceAccountToken(pod, sa)
	return nil
}

// serviceAccountFor reads an account; "default" is looked for again for a
// while when missing.
func (s *Server) serviceAccountFor(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	attempts := 1
	if name == "default" {
		attempts = defaultServiceAccountAttempts
	}
	for i := 0; ; i++ {
		obj, err := s.getObject(ctx, saGVR, ns, name)
		if err == nil {
			return obj.(*corev1.ServiceAccount), nil
		}
		if !apierrors.IsNotFound(err) || i+1 >= attempts {
			return nil, err
		}
		t := time.NewTimer(time.Duration(100+rand.IntN(100)) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}
