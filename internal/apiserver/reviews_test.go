package apiserver_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantry-dev/gantry/internal/testcluster"
)

// reviewCluster is a cluster with a service account "robot" in its own
// namespace and a token of it.
type reviewCluster struct {
	*testcluster.Cluster
	ns, token string
	sa        *corev1.ServiceAccount
}

func startReviewCluster(t *testing.T) *reviewCluster {
	t.Helper()
	c := testcluster.Start(t)
	ns := (&cluster{Cluster: c}).namespace(t)
	sa := must[*corev1.ServiceAccount](t)(c.Client.CoreV1().ServiceAccounts(ns).Create(ctx(t),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}))
	tr := must[*authenticationv1.TokenRequest](t)(c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx(t), "robot",
		&authenticationv1.TokenRequest{}, metav1.CreateOptions{}))
	return &reviewCluster{Cluster: c, ns: ns, token: tr.Status.Token, sa: sa}
}

// impersonating returns an admin client acting as as.
func impersonating(t *testing.T, c *testcluster.Cluster, as rest.ImpersonationConfig) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = as
	return must[*kubernetes.Clientset](t)(kubernetes.NewForConfig(cfg))
}

func whoami(t *testing.T, cs kubernetes.Interface) authenticationv1.UserInfo {
	t.Helper()
	r := must[*authenticationv1.SelfSubjectReview](t)(cs.AuthenticationV1().SelfSubjectReviews().Create(ctx(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{}))
	if r.CreationTimestamp.IsZero() {
		t.Errorf("SelfSubjectReview without a creation timestamp")
	}
	return r.Status.UserInfo
}

// TestSelfSubjectReviewAndImpersonation covers `kubectl auth whoami` and
// kubectl's --as, --as-group and --as-uid.
func TestSelfSubjectReviewAndImpersonation(t *testing.T) {
	c := startReviewCluster(t)

	admin := whoami(t, c.Client)
	if !slices.Contains(admin.Groups, "system:masters") || !slices.Contains(admin.Groups, "system:authenticated") {
		t.Errorf("admin user %+v: want system:masters and system:authenticated", admin)
	}
	robot := whoami(t, tokenClient(t, c.Cluster, c.token))
	if robot.Username != "system:serviceaccount:"+c.ns+":robot" || robot.UID != string(c.sa.UID) ||
		!slices.Equal(robot.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:" + c.ns, "system:authenticated"}) {
		t.Errorf("service account user %+v", robot)
	}
	if id := robot.Extra["authentication.kubernetes.io/credential-id"]; len(id) != 1 || !strings.HasPrefix(id[0], "JTI=") {
		t.Errorf("service account user's credential ID = %v, want JTI=<token ID>", id)
	}

	alice := whoami(t, impersonating(t, c.Cluster, rest.ImpersonationConfig{
		UserName: "alice", UID: "a-1", Groups: []string{"devs"}, Extra: map[string][]string{"team": {"blue"}},
	}))
	if alice.Username != "alice" || alice.UID != "a-1" || !slices.Equal(alice.Groups, []string{"devs", "system:authenticated"}) ||
		!slices.Equal(alice.Extra["team"], authenticationv1.ExtraValue{"blue"}) {
		t.Errorf("impersonated user %+v", alice)
	}
	sa := whoami(t, impersonating(t, c.Cluster, rest.ImpersonationConfig{UserName: "system:serviceaccount:" + c.ns + ":robot"}))
	if !slices.Equal(sa.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:" + c.ns, "system:authenticated"}) {
		t.Errorf("impersonated service account's groups = %v", sa.Groups)
	}
	unauth := whoami(t, impersonating(t, c.Cluster, rest.ImpersonationConfig{UserName: "bob", Groups: []string{"system:unauthenticated"}}))
	if !slices.Equal(unauth.Groups, []string{"system:unauthenticated"}) {
		t.Errorf("impersonating system:unauthenticated: groups = %v, want only it", unauth.Groups)
	}
	_, err := impersonating(t, c.Cluster, rest.ImpersonationConfig{Groups: []string{"devs"}}).
		AuthenticationV1().SelfSubjectReviews().Create(ctx(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	wantAPIError(t, err, http.StatusInternalServerError, metav1.StatusReasonInternalError, "without impersonating a user")
}

func canI(t *testing.T, cs kubernetes.Interface, spec authorizationv1.SelfSubjectAccessReviewSpec) authorizationv1.SubjectAccessReviewStatus {
	t.Helper()
	r := must[*authorizationv1.SelfSubjectAccessReview](t)(cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx(t),
		&authorizationv1.SelfSubjectAccessReview{Spec: spec}, metav1.CreateOptions{}))
	return r.Status
}

func resourceSpec(verb, resource string) authorizationv1.SelfSubjectAccessReviewSpec {
	return authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Resource: resource, Namespace: "default"}}
}

func pathSpec(verb, path string) authorizationv1.SelfSubjectAccessReviewSpec {
	return authorizationv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: verb, Path: path}}
}

// TestAccessReviews covers `kubectl auth can-i` (with and without --list)
// and the subject access reviews of webhook authorizers: with no RBAC,
// every user may do everything but what the server refuses itself
// (profiling for all but system:masters, anything but joining for a join
// token).
func TestAccessReviews(t *testing.T) {
	c := startReviewCluster(t)
	robot := tokenClient(t, c.Cluster, c.token)

	for _, tc := range []struct {
		name    string
		cs      kubernetes.Interface
		spec    authorizationv1.SelfSubjectAccessReviewSpec
		allowed bool
		reason  string
	}{
		{"admin creates pods", c.Client, resourceSpec("create", "pods"), true, ""},
		{"admin profiles", c.Client, pathSpec("get", "/debug/pprof/heap"), true, ""},
		{"robot deletes nodes", robot, resourceSpec("delete", "nodes"), true, ""},
		{"robot reads health", robot, pathSpec("get", "/healthz"), true, ""},
		{"robot profiles", robot, pathSpec("get", "/debug/pprof/heap"), false, `cannot get path "/debug/pprof/heap"`},
		{"robot reads every path", robot, pathSpec("get", "/*"), false, "cannot get path"},
		{"robot joins a node", robot, pathSpec("post", "/gantry/v1/join"), false, "needs the join token"},
	} {
		st := canI(t, tc.cs, tc.spec)
		if st.Allowed != tc.allowed || st.Denied == tc.allowed || !strings.Contains(st.Reason, tc.reason) {
			t.Errorf("%s: status %+v, want allowed=%v with reason containing %q", tc.name, st, tc.allowed, tc.reason)
		}
	}

	_, err := c.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx(t), &authorizationv1.SelfSubjectAccessReview{}, metav1.CreateOptions{})
	wantAPIError(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
		"spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified")
	both := resourceSpec("get", "pods")
	both.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/"}
	_, err = c.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx(t), &authorizationv1.SelfSubjectAccessReview{Spec: both}, metav1.CreateOptions{})
	wantAPIError(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "cannot be specified in combination with resourceAttributes")

	t.Run("rules", func(t *testing.T) {
		rules := func(cs kubernetes.Interface) authorizationv1.SubjectRulesReviewStatus {
			r := must[*authorizationv1.SelfSubjectRulesReview](t)(cs.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx(t),
				&authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "default"}}, metav1.CreateOptions{}))
			return r.Status
		}
		all := []string{"*"}
		st := rules(c.Client)
		if len(st.ResourceRules) != 1 || !slices.Equal(st.ResourceRules[0].Verbs, all) || !slices.Equal(st.ResourceRules[0].Resources, all) ||
			len(st.NonResourceRules) != 1 || !slices.Equal(st.NonResourceRules[0].NonResourceURLs, all) || st.Incomplete {
			t.Errorf("admin's rules %+v: want everything", st)
		}
		st = rules(robot)
		if len(st.ResourceRules) != 1 || !slices.Equal(st.ResourceRules[0].APIGroups, all) || len(st.NonResourceRules) != 1 {
			t.Fatalf("robot's rules %+v", st)
		}
		urls := st.NonResourceRules[0].NonResourceURLs
		if !slices.Contains(urls, "/apis/*") || !slices.Contains(urls, "/healthz") || slices.Contains(urls, "*") ||
			slices.ContainsFunc(urls, func(u string) bool { return strings.HasPrefix(u, "/debug") }) {
			t.Errorf("robot's non-resource URLs %v: want the API and health paths, not profiling", urls)
		}
		_, err := c.Client.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx(t), &authorizationv1.SelfSubjectRulesReview{}, metav1.CreateOptions{})
		wantAPIError(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest, "no namespace on request")
	})

	t.Run("subject access reviews", func(t *testing.T) {
		sar := func(spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
			r, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx(t), &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
			if err != nil {
				return authorizationv1.SubjectAccessReviewStatus{}, err
			}
			return r.Status, nil
		}
		pods := &authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods", Namespace: c.ns}
		if st, err := sar(authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: pods}); err != nil || !st.Allowed {
			t.Errorf("bob lists pods: %+v %v", st, err)
		}
		if st, err := sar(authorizationv1.SubjectAccessReviewSpec{Groups: []string{"gantry:joiners"}, ResourceAttributes: pods}); err != nil || st.Allowed || !st.Denied {
			t.Errorf("a join token lists pods: %+v %v, want denied", st, err)
		}
		if st, err := sar(authorizationv1.SubjectAccessReviewSpec{User: "carol", NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/debug/pprof/"}}); err != nil || st.Allowed {
			t.Errorf("carol profiles: %+v %v, want denied", st, err)
		}
		_, err := sar(authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: pods})
		wantAPIError(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, `spec.user: Invalid value: "": at least one of user or group must be specified`)

		local := c.Client.AuthorizationV1().LocalSubjectAccessReviews(c.ns)
		r, err := local.Create(ctx(t), &authorizationv1.LocalSubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: pods}}, metav1.CreateOptions{})
		if err != nil || !r.Status.Allowed || r.Namespace != c.ns {
			t.Errorf("local review: %+v %v", r, err)
		}
		_, err = local.Create(ctx(t), &authorizationv1.LocalSubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "bob", NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/healthz"},
		}}, metav1.CreateOptions{})
		wantAPIError(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "spec.nonResourceAttributes", "disallowed on this kind of request")
		_, err = local.Create(ctx(t), &authorizationv1.LocalSubjectAccessReview{
			ObjectMeta: metav1.ObjectMeta{Namespace: "elsewhere"},
			Spec:       authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: pods},
		}, metav1.CreateOptions{})
		wantAPIError(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest, "spec.resourceAttributes.namespace must match namespace: "+c.ns)
	})

	t.Run("only create", func(t *testing.T) {
		err := c.Client.AuthorizationV1().RESTClient().Get().Resource("selfsubjectaccessreviews").Do(ctx(t)).Error()
		wantAPIError(t, err, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed)
		err = c.Client.AuthorizationV1().RESTClient().Post().Namespace("default").Resource("selfsubjectaccessreviews").
			Body(&authorizationv1.SelfSubjectAccessReview{Spec: resourceSpec("get", "pods")}).Do(ctx(t)).Error()
		wantAPIError(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
	})

	t.Run("discovery", func(t *testing.T) {
		for gv, want := range map[string][]string{
			"authentication.k8s.io/v1": {"selfsubjectreviews", "tokenreviews"},
			"authorization.k8s.io/v1":  {"localsubjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews"},
		} {
			list, err := c.Client.Discovery().ServerResourcesForGroupVersion(gv)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range list.APIResources {
				got = append(got, r.Name)
				if !slices.Equal(r.Verbs, metav1.Verbs{"create"}) || r.Namespaced != (r.Name == "localsubjectaccessreviews") {
					t.Errorf("%s %s: verbs %v, namespaced %v", gv, r.Name, r.Verbs, r.Namespaced)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s resources = %v, want %v", gv, got, want)
			}
		}
		// The aggregated document (what kubectl reads) lists them too.
		_, lists, err := c.Client.Discovery().ServerGroupsAndResources()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, l := range lists {
			for _, r := range l.APIResources {
				found = found || l.GroupVersion == "authorization.k8s.io/v1" && r.Name == "selfsubjectaccessreviews"
			}
		}
		if !found {
			t.Error("aggregated discovery lacks authorization.k8s.io/v1 selfsubjectaccessreviews")
		}
	})
}

// TestTokenReview covers authentication.k8s.io/v1 TokenReview, with which
// servers in the cluster authenticate the bearer tokens they receive.
func TestTokenReview(t *testing.T) {
	c := startReviewCluster(t)
	review := func(token string, audiences ...string) authenticationv1.TokenReviewStatus {
		t.Helper()
		r := must[*authenticationv1.TokenReview](t)(c.Client.AuthenticationV1().TokenReviews().Create(ctx(t),
			&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences}}, metav1.CreateOptions{}))
		return r.Status
	}
	api := "https://kubernetes.default.svc.cluster.local"

	st := review(c.token)
	if !st.Authenticated || st.User.Username != "system:serviceaccount:"+c.ns+":robot" || st.User.UID != string(c.sa.UID) ||
		!slices.Equal(st.Audiences, []string{api}) || st.Error != "" {
		t.Errorf("service account token: %+v", st)
	}
	if st := review(c.token, "vault"); st.Authenticated {
		t.Errorf("service account token reviewed for another audience: %+v", st)
	}

	vault := must[*authenticationv1.TokenRequest](t)(c.Client.CoreV1().ServiceAccounts(c.ns).CreateToken(ctx(t), "robot",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}}}, metav1.CreateOptions{})).Status.Token
	if st := review(vault); st.Authenticated || !strings.Contains(st.Error, "audience") {
		t.Errorf("token for vault reviewed for the API server: %+v, want not authenticated because of its audience", st)
	}
	if st := review(vault, "vault", "other"); !st.Authenticated || !slices.Equal(st.Audiences, []string{"vault"}) {
		t.Errorf("token for vault reviewed for vault: %+v", st)
	}

	// The loopback client's token is a static token of the API server.
	if c.Config.BearerToken == "" {
		t.Fatal("the loopback client has no bearer token")
	}
	if st := review(c.Config.BearerToken); !st.Authenticated || st.User.Username != "system:apiserver" || !slices.Equal(st.Audiences, []string{api}) {
		t.Errorf("static token: %+v", st)
	}
	if st := review(c.Config.BearerToken, "vault"); st.Authenticated {
		t.Errorf("static token reviewed for another audience: %+v", st)
	}
	if st := review("not-a-token"); st.Authenticated || st.Error == "" {
		t.Errorf("garbage token: %+v, want not authenticated with an error", st)
	}

	_, err := c.Client.AuthenticationV1().TokenReviews().Create(ctx(t), &authenticationv1.TokenReview{}, metav1.CreateOptions{})
	wantAPIError(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest, "token is required for TokenReview in authentication.k8s.io")

	if err := c.Client.CoreV1().ServiceAccounts(c.ns).Delete(ctx(t), "robot", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := review(c.token); st.Authenticated || !strings.Contains(st.Error, "service account") {
		t.Errorf("token of a deleted account: %+v", st)
	}
}
