package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/gantry-dev/gantry/internal/auth"
)

// The serviceaccounts/token subresource (POST, an authentication.k8s.io/v1
// TokenRequest in and out) as kube-apiserver's TokenREST serves it
// (pkg/registry/core/serviceaccount/storage/token.go): a JWT for the
// account, optionally bound to a Pod, Secret or Node that must exist with
// the given UID, for the requested audiences (default: the API server's)
// and lifetime (default 1 h, at least 10 min). A bound token stops
// authenticating when its object is deleted; every token stops when its
// account is deleted or recreated (validateServiceAccountClaims).
//
// Unlike kube-apiserver, a pod-bound token of 3607 s (the kubelet's
// request) is not extended to a year: it lives as long as asked and the
// node agent refreshes it.

// Limits on TokenRequest.spec.expirationSeconds, as Kubernetes validates.
const (
	minTokenSeconds     = 10 * 60
	maxTokenSeconds     = 1 << 32
	defaultTokenSeconds = 60 * 60
)

var (
	podsGVR    = corev1.SchemeGroupVersion.WithResource("pods")
	secretsGVR = corev1.SchemeGroupVersion.WithResource("secrets")
	nodesGVR   = corev1.SchemeGroupVersion.WithResource("nodes")
	saGVR      = corev1.SchemeGroupVersion.WithResource("serviceaccounts")
)

func (s *Server) handleTokenRequest(w http.ResponseWriter, r *http.Request, req *request) error {
	issuer := s.cfg.ServiceAccountTokens
	if issuer == nil {
		return notFound()
	}
	tr := &authenticationv1.TokenRequest{}
	if err := s.decodeBody(r, tr, authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")); err != nil {
		return err
	}
	if tr.Name != "" && tr.Name != req.name {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", tr.Name, req.name)
	}
	if tr.Namespace != "" && tr.Namespace != req.namespace {
		return badRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if _, err := parseWriteOptions(r); err != nil {
		return err
	}
	if tr.Spec.ExpirationSeconds == nil {
		tr.Spec.ExpirationSeconds = ptr.To[int64](defaultTokenSeconds)
	}
	if len(tr.Spec.Audiences) == 0 {
		tr.Spec.Audiences = issuer.Audiences()
	}
	if errs := validateTokenRequest(tr); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: authenticationv1.GroupName, Kind: "TokenRequest"}, req.name, errs)
	}

	ctx := r.Context()
	saObj, err := s.getObject(ctx, saGVR, req.namespace, req.name)
	if err != nil {
		return err
	}
	sa := saObj.(*corev1.ServiceAccount)
	claims := auth.ServiceAccountClaims{
		Namespace: sa.Namespace, Name: sa.Name, UID: string(sa.UID),
		Audiences: tr.Spec.Audiences,
		IssuedAt:  time.Now(),
	}
	claims.Expiry = claims.IssuedAt.Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second)
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		if err := s.bindToken(ctx, req.namespace, ref, &claims); err != nil {
			return err
		}
	}
	token, err := issuer.Issue(claims)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	out := tr.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{APIVersion: authenticationv1.SchemeGroupVersion.String(), Kind: "TokenRequest"}
	out.Name, out.Namespace = sa.Name, sa.Namespace
	out.CreationTimestamp = metav1.NewTime(claims.IssuedAt.Truncate(time.Second))
	out.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(claims.Expiry)}
	s.writeRaw(w, r, http.StatusCreated, out, authenticationv1.SchemeGroupVersion)
	return nil
}

func validateTokenRequest(tr *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	switch exp := *tr.Spec.ExpirationSeconds; {
	case exp < minTokenSeconds:
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), exp, "may not specify a duration less than 10 minutes"))
	case exp > maxTokenSeconds:
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), exp, "may not specify a duration larger than 2^32 seconds"))
	}
	for i, a := range tr.Spec.Audiences {
		if a == "" {
			errs = append(errs, field.Invalid(spec.Child("audiences").Index(i), a, "must not be empty"))
		}
	}
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		p := spec.Child("boundObjectRef")
		if ref.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if ref.APIVersion != "" && ref.APIVersion != "v1" {
			errs = append(errs, field.NotSupported(p.Child("apiVersion"), ref.APIVersion, []string{"v1"}))
		}
		switch ref.Kind {
		case "Pod", "Secret", "Node":
		default:
			errs = append(errs, field.NotSupported(p.Child("kind"), ref.Kind, []string{"Pod", "Secret", "Node"}))
		}
	}
	return errs
}

// bindToken checks the object a token is to be bound to and records it
// (and, for a pod, its node) in c.
func (s *Server) bindToken(ctx context.Context, namespace string, ref *authenticationv1.BoundObjectReference, c *auth.ServiceAccountClaims) error {
	var (
		gvr schema.GroupVersionResource
		ns  = namespace
	)
	switch ref.Kind {
	case "Pod":
		gvr = podsGVR
	case "Secret":
		gvr = secretsGVR
	case "Node":
		gvr, ns = nodesGVR, ""
	}
	obj, err := s.getObject(ctx, gvr, ns, ref.Name)
	if err != nil {
		return err
	}
	m := objectMeta(obj)
	if ref.UID != "" && ref.UID != m.GetUID() {
		return apierrors.NewConflict(gvr.GroupResource(), ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	bound := &auth.BoundObject{Name: m.GetName(), UID: string(m.GetUID())}
	switch ref.Kind {
	case "Pod":
		c.Pod = bound
		if node := obj.(*corev1.Pod).Spec.NodeName; node != "" {
			if n, err := s.getObject(ctx, nodesGVR, "", node); err == nil {
				c.Node = &auth.BoundObject{Name: node, UID: string(objectMeta(n).GetUID())}
			}
		}
	case "Secret":
		c.Secret = bound
	case "Node":
		c.Node = bound
	}
	return nil
}

// validateServiceAccountClaims checks that the account of a verified
// token still exists with the token's UID, and so does every object the
// token is bound to (a pod or secret whose deletion deadline passed more
// than a minute ago counts as gone, as in Kubernetes).
func (s *Server) validateServiceAccountClaims(ctx context.Context, c *auth.ServiceAccountClaims) error {
	if err := s.checkBound(ctx, saGVR, c.Namespace, c.Name, c.UID, "service account", false); err != nil {
		return err
	}
	if c.Pod != nil {
		if err := s.checkBound(ctx, podsGVR, c.Namespace, c.Pod.Name, c.Pod.UID, "pod", true); err != nil {
			return err
		}
	}
	if c.Secret != nil {
		if err := s.checkBound(ctx, secretsGVR, c.Namespace, c.Secret.Name, c.Secret.UID, "secret", true); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) checkBound(ctx context.Context, gvr schema.GroupVersionResource, ns, name, uid, what string, deleting bool) error {
	obj, err := s.getObject(ctx, gvr, ns, name)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %s/%s has been deleted", what, ns, name)
	}
	if err != nil {
		return err
	}
	m := objectMeta(obj)
	if string(m.GetUID()) != uid {
		return fmt.Errorf("%s UID (%s) does not match claim (%s)", what, m.GetUID(), uid)
	}
	// A pod's token outlives its deletion deadline by a minute, as in
	// Kubernetes, so preStop hooks and graceful shutdown can still use it.
	if dt := m.GetDeletionTimestamp(); deleting && dt != nil && dt.Time.Before(time.Now().Add(-time.Minute)) {
		return fmt.Errorf("%s %s/%s has been deleted", what, ns, name)
	}
	return nil
}

// getObject reads one object of a served resource from storage.
func (s *Server) getObject(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (runtime.Object, error) {
	res := s.cfg.Registry.Get(gvr)
	if res == nil {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
	}
	return s.objectStore(res).get(ctx, ns, name)
}
