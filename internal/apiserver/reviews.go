package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantry-dev/gantry/internal/auth"
)

// The review APIs, as kube-apiserver serves them: create-only resources
// that store nothing and answer a question about the request.
//
//	authentication.k8s.io/v1 selfsubjectreviews         who am I (kubectl auth whoami)
//	authentication.k8s.io/v1 tokenreviews               who is this bearer token (webhook token authentication)
//	authorization.k8s.io/v1  selfsubjectaccessreviews   may I (kubectl auth can-i)
//	authorization.k8s.io/v1  selfsubjectrulesreviews    what may I do here (kubectl auth can-i --list)
//	authorization.k8s.io/v1  subjectaccessreviews       may this user (webhook authorization)
//	authorization.k8s.io/v1  localsubjectaccessreviews  the same, within one namespace
//
// The access reviews answer with authorize and rulesFor (authorize.go),
// the rule the server enforces. Each answers 201 Created with the request
// object and its status, and honours dryRun (there is nothing to write).

// reviewKind is one review resource.
type reviewKind struct {
	gv         schema.GroupVersion
	resource   string
	kind       string
	namespaced bool
	// handle decodes the review from r, answers it and writes the
	// response; namespace is the request's (namespaced kinds only).
	handle func(s *Server, w http.ResponseWriter, r *http.Request, namespace string) error
}

var reviewKinds = []reviewKind{
	{authenticationv1.SchemeGroupVersion, "selfsubjectreviews", "SelfSubjectReview", false, (*Server).handleSelfSubjectReview},
	{authenticationv1.SchemeGroupVersion, "tokenreviews", "TokenReview", false, (*Server).handleTokenReview},
	{authorizationv1.SchemeGroupVersion, "localsubjectaccessreviews", "LocalSubjectAccessReview", true, (*Server).handleLocalSubjectAccessReview},
	{authorizationv1.SchemeGroupVersion, "selfsubjectaccessreviews", "SelfSubjectAccessReview", false, (*Server).handleSelfSubjectAccessReview},
	{authorizationv1.SchemeGroupVersion, "selfsubjectrulesreviews", "SelfSubjectRulesReview", false, (*Server).handleSelfSubjectRulesReview},
	{authorizationv1.SchemeGroupVersion, "subjectaccessreviews", "SubjectAccessReview", false, (*Server).handleSubjectAccessReview},
}

// reviewGroupVersions are the group versions of reviewKinds, in their
// order, as discovery lists them.
var reviewGroupVersions = func() []schema.GroupVersion {
	var gvs []schema.GroupVersion
	for _, k := range reviewKinds {
		if !slices.Contains(gvs, k.gv) {
			gvs = append(gvs, k.gv)
		}
	}
	return gvs
}()

// reviewFor returns the review kind a resource request names, or nil.
func reviewFor(info requestInfo) *reviewKind {
	for i := range reviewKinds {
		if k := &reviewKinds[i]; k.gv == info.gv && k.resource == info.resource {
			return k
		}
	}
	return nil
}

// reviewResourceList is the discovery document of gv's review resources.
func reviewResourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{GroupVersion: gv.String()}
	for _, k := range reviewKinds {
		if k.gv == gv {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: k.resource, Namespaced: k.namespaced, Kind: k.kind, Verbs: verbsCreate,
			})
		}
	}
	return list
}

// serveReview serves a request for a review resource: POST to the
// collection, nothing else.
func (s *Server) serveReview(w http.ResponseWriter, r *http.Request, info requestInfo, k *reviewKind) error {
	gr := schema.GroupResource{Group: k.gv.Group, Resource: k.resource}
	switch {
	case k.namespaced != (info.namespace != ""):
		return notFound()
	case info.verb != "create" || info.name != "" || info.subresource != "":
		return apierrors.NewMethodNotSupported(gr, r.Method)
	}
	if _, err := parseWriteOptions(r); err != nil {
		return err
	}
	return k.handle(s, w, r, info.namespace)
}

// writeReview answers a review: 201 with obj, whose kind it sets.
func (s *Server) writeReview(w http.ResponseWriter, r *http.Request, obj runtime.Object, gvk schema.GroupVersionKind) {
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	s.writeRaw(w, r, http.StatusCreated, obj, gvk.GroupVersion())
}

func requestUser(r *http.Request) *auth.User {
	if u, ok := auth.UserFrom(r.Context()); ok {
		return u
	}
	return &auth.User{} // serveHTTP authenticates every review request
}

func userInfo(u *auth.User) authenticationv1.UserInfo {
	return authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: slices.Clone(u.Groups), Extra: copyExtra[authenticationv1.ExtraValue](u.Extra)}
}

// copyExtra deep-copies a user's extra values from one API's type to
// another's; nil or empty gives nil.
func copyExtra[Out, In ~[]string](m map[string]In) map[string]Out {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]Out, len(m))
	for k, v := range m {
		out[k] = Out(slices.Clone(v))
	}
	return out
}

func (s *Server) handleSelfSubjectReview(w http.ResponseWriter, r *http.Request, _ string) error {
	gvk := authenticationv1.SchemeGroupVersion.WithKind("SelfSubjectReview")
	if err := s.decodeBody(r, &authenticationv1.SelfSubjectReview{}, gvk); err != nil {
		return err
	}
	out := &authenticationv1.SelfSubjectReview{
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Now()},
		Status:     authenticationv1.SelfSubjectReviewStatus{UserInfo: userInfo(requestUser(r))},
	}
	s.writeReview(w, r, out, gvk)
	return nil
}

func (s *Server) handleTokenReview(w http.ResponseWriter, r *http.Request, _ string) error {
	gvk := authenticationv1.SchemeGroupVersion.WithKind("TokenReview")
	tr := &authenticationv1.TokenReview{}
	if err := s.decodeBody(r, tr, gvk); err != nil {
		return err
	}
	if tr.Spec.Token == "" {
		return badRequest("token is required for TokenReview in %s", authenticationv1.GroupName)
	}
	u, audiences, err := s.reviewToken(r.Context(), tr.Spec.Token, tr.Spec.Audiences)
	tr.Status = authenticationv1.TokenReviewStatus{Authenticated: u != nil, Audiences: audiences}
	if u != nil {
		tr.Status.User = userInfo(u)
	}
	if err != nil {
		tr.Status.Error = err.Error()
	}
	s.writeReview(w, r, tr, gvk)
	return nil
}

// apiAudiences are the audiences of the API server's own credentials:
// those of the service account issuer, if there is one.
func (s *Server) apiAudiences() []string {
	if s.cfg.ServiceAccountTokens == nil {
		return nil
	}
	return s.cfg.ServiceAccountTokens.Audiences()
}

// reviewToken authenticates a bearer token for a TokenReview asking for
// audiences (none: the API server's), as kube-apiserver does: a service
// account token counts when made for one of them; any other token (the
// static ones of the token file) is a credential of the API server, which
// counts only when the API server is among them. It returns the user
// (nil: not authenticated), the audiences the token is valid for among
// those asked, and why it did not authenticate, if known.
func (s *Server) reviewToken(ctx context.Context, token string, audiences []string) (*auth.User, []string, error) {
	api := s.apiAudiences()
	if len(audiences) == 0 {
		audiences = api
	}
	if issuer := s.cfg.ServiceAccountTokens; issuer != nil {
		claims, err := issuer.VerifyFor(token, audiences)
		switch {
		case err == nil:
			if err := s.validateServiceAccountClaims(ctx, claims); err != nil {
				return nil, nil, fmt.Errorf("%w: service account token: %w", auth.ErrInvalidCredentials, err)
			}
			return claims.User(), intersect(claims.Audiences, audiences), nil
		case !errors.Is(err, auth.ErrUnauthenticated):
			return nil, nil, err
		}
	}
	var valid []string
	if len(api) > 0 {
		if valid = intersect(audiences, api); len(valid) == 0 {
			return nil, nil, nil // not an API server credential for these audiences
		}
	}
	// Only the token: no client certificate can authenticate this request.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	u, err := s.cfg.Authenticator.Authenticate(req)
	if err != nil || u == nil {
		return nil, nil, err
	}
	return u, valid, nil
}

// intersect returns the members of a that are in b, in a's order.
func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func (s *Server) handleSelfSubjectAccessReview(w http.ResponseWriter, r *http.Request, _ string) error {
	gvk := authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview")
	sar := &authorizationv1.SelfSubjectAccessReview{}
	if err := s.decodeBody(r, sar, gvk); err != nil {
		return err
	}
	errs := validateAccessAttributes(sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes)
	if !apiequality.Semantic.DeepEqual(metav1.ObjectMeta{}, sar.ObjectMeta) {
		errs = append(errs, field.Invalid(field.NewPath("metadata"), sar.ObjectMeta, "must be empty"))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(gvk.GroupKind(), "", errs)
	}
	sar.Status = accessStatus(requestUser(r), sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes)
	s.writeReview(w, r, sar, gvk)
	return nil
}

func (s *Server) handleSubjectAccessReview(w http.ResponseWriter, r *http.Request, _ string) error {
	gvk := authorizationv1.SchemeGroupVersion.WithKind("SubjectAccessReview")
	sar := &authorizationv1.SubjectAccessReview{}
	if err := s.decodeBody(r, sar, gvk); err != nil {
		return err
	}
	errs := validateSubjectAccessReviewSpec(&sar.Spec)
	if !apiequality.Semantic.DeepEqual(metav1.ObjectMeta{}, sar.ObjectMeta) {
		errs = append(errs, field.Invalid(field.NewPath("metadata"), sar.ObjectMeta, "must be empty"))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(gvk.GroupKind(), "", errs)
	}
	sar.Status = accessStatus(specUser(&sar.Spec), sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes)
	s.writeReview(w, r, sar, gvk)
	return nil
}

func (s *Server) handleLocalSubjectAccessReview(w http.ResponseWriter, r *http.Request, namespace string) error {
	gvk := authorizationv1.SchemeGroupVersion.WithKind("LocalSubjectAccessReview")
	sar := &authorizationv1.LocalSubjectAccessReview{}
	if err := s.decodeBody(r, sar, gvk); err != nil {
		return err
	}
	if sar.Namespace == "" {
		sar.Namespace = namespace
	}
	errs := validateSubjectAccessReviewSpec(&sar.Spec)
	meta := sar.ObjectMeta
	meta.Namespace, meta.ManagedFields = "", nil
	if !apiequality.Semantic.DeepEqual(metav1.ObjectMeta{}, meta) {
		errs = append(errs, field.Invalid(field.NewPath("metadata"), sar.ObjectMeta, "must be empty except for namespace"))
	}
	if sar.Spec.NonResourceAttributes != nil {
		errs = append(errs, field.Invalid(field.NewPath("spec", "nonResourceAttributes"), sar.Spec.NonResourceAttributes, "disallowed on this kind of request"))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(gvk.GroupKind(), "", errs)
	}
	if sar.Namespace != namespace {
		return badRequest("spec.resourceAttributes.namespace must match namespace: %v", namespace)
	}
	sar.Status = accessStatus(specUser(&sar.Spec), sar.Spec.ResourceAttributes, nil)
	s.writeReview(w, r, sar, gvk)
	return nil
}

func (s *Server) handleSelfSubjectRulesReview(w http.ResponseWriter, r *http.Request, _ string) error {
	gvk := authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectRulesReview")
	in := &authorizationv1.SelfSubjectRulesReview{}
	if err := s.decodeBody(r, in, gvk); err != nil {
		return err
	}
	if in.Spec.Namespace == "" {
		return badRequest("no namespace on request")
	}
	resourceRules, nonResourceRules := rulesFor(requestUser(r))
	out := &authorizationv1.SelfSubjectRulesReview{
		Spec: in.Spec,
		Status: authorizationv1.SubjectRulesReviewStatus{
			ResourceRules:    resourceRules,
			NonResourceRules: nonResourceRules,
		},
	}
	s.writeReview(w, r, out, gvk)
	return nil
}

// validateAccessAttributes checks that exactly one kind of attributes is
// given, with Kubernetes' messages.
func validateAccessAttributes(ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if ra != nil && nra != nil {
		errs = append(errs, field.Invalid(spec.Child("nonResourceAttributes"), nra, "cannot be specified in combination with resourceAttributes"))
	}
	if ra == nil && nra == nil {
		errs = append(errs, field.Invalid(spec.Child("resourceAttributes"), nra, "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
	}
	return errs
}

func validateSubjectAccessReviewSpec(spec *authorizationv1.SubjectAccessReviewSpec) field.ErrorList {
	errs := validateAccessAttributes(spec.ResourceAttributes, spec.NonResourceAttributes)
	if spec.User == "" && len(spec.Groups) == 0 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "user"), spec.User, "at least one of user or group must be specified"))
	}
	return errs
}

// specUser is the user a SubjectAccessReview asks about.
func specUser(spec *authorizationv1.SubjectAccessReviewSpec) *auth.User {
	return &auth.User{Name: spec.User, UID: spec.UID, Groups: slices.Clone(spec.Groups), Extra: copyExtra[[]string](spec.Extra)}
}

// accessStatus is authorize's answer for u and the attributes of an
// access review (exactly one of ra and nra is set). A refusal is a denial
// (status.denied), as the server enforces it whatever else is configured.
func accessStatus(u *auth.User, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) authorizationv1.SubjectAccessReviewStatus {
	a := attributes{resource: ra != nil}
	if ra != nil {
		a.verb = ra.Verb
	} else {
		a.verb, a.path = nra.Verb, nra.Path
	}
	allowed, reason := authorize(u, a)
	return authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Denied: !allowed, Reason: reason}
}
