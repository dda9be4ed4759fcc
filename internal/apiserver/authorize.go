package apiserver

import (
	"fmt"
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/gantry-dev/gantry/internal/auth"
)

// Gantry does not evaluate RBAC yet: every authenticated user may do
// everything, as kube-apiserver does with --authorization-mode=AlwaysAllow,
// with two exceptions the server enforces itself:
//
//   - a join token (GroupJoiners) may only POST JoinPath, which only
//     joiners and members of system:masters may call;
//   - the profiling endpoints (ProfilingPath) are for system:masters.
//
// authorize is that rule, in one place: the join and profiling handlers
// enforce it and the access reviews (reviews.go) report it, so that
// `kubectl auth can-i` answers what the server really does.

// attributes describe one request to authorize, as Kubernetes'
// authorizer.Attributes do: a resource request (group, resource, verb …)
// or a non-resource request (path and lower-case HTTP method as verb).
type attributes struct {
	resource bool
	verb     string
	path     string // non-resource requests
}

// authorize reports whether u may make the request described by a, and
// why not.
func authorize(u *auth.User, a attributes) (allowed bool, reason string) {
	masters := slices.Contains(u.Groups, auth.GroupMasters)
	joiner := slices.Contains(u.Groups, GroupJoiners)
	switch {
	case !a.resource && a.path == JoinPath:
		if (joiner || masters) && (a.verb == "post" || a.verb == "*") {
			return true, ""
		}
		if !joiner && !masters {
			return false, fmt.Sprintf("user %q cannot join nodes: it needs the join token", u.Name)
		}
		return false, fmt.Sprintf("%s accepts only post", JoinPath)
	case joiner:
		return false, fmt.Sprintf("user %q may only call %s", u.Name, JoinPath)
	case !a.resource && isProfilingPath(a.path):
		if masters {
			return true, ""
		}
		return false, fmt.Sprintf("user %q cannot get path %q", u.Name, a.path)
	}
	return true, ""
}

// isProfilingPath reports whether path is under ProfilingPath. A path
// pattern that ends in "*" (as access reviews may ask) counts when it
// could match a profiling path.
func isProfilingPath(path string) bool {
	if prefix, ok := strings.CutSuffix(path, "*"); ok {
		return strings.HasPrefix(ProfilingPath+"/", prefix) || strings.HasPrefix(prefix, ProfilingPath+"/")
	}
	return path == ProfilingPath || strings.HasPrefix(path, ProfilingPath+"/")
}

// everyonesPaths are the non-resource URLs every authenticated user may
// call, as SelfSubjectRulesReview reports them to users outside
// system:masters (the rules of a review only add; they cannot say "all
// but the profiling endpoints").
var everyonesPaths = []string{
	"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz",
	"/metrics", "/openapi", "/openapi/*", "/version", "/version/",
}

// rulesFor returns the rules u is allowed, as SelfSubjectRulesReview
// reports them: consistent with authorize.
func rulesFor(u *auth.User) ([]authorizationv1.ResourceRule, []authorizationv1.NonResourceRule) {
	all := []string{"*"}
	switch {
	case slices.Contains(u.Groups, GroupJoiners):
		return []authorizationv1.ResourceRule{}, []authorizationv1.NonResourceRule{{Verbs: []string{"post"}, NonResourceURLs: []string{JoinPath}}}
	case slices.Contains(u.Groups, auth.GroupMasters):
		return []authorizationv1.ResourceRule{{Verbs: all, APIGroups: all, Resources: all}},
			[]authorizationv1.NonResourceRule{{Verbs: all, NonResourceURLs: all}}
	}
	return []authorizationv1.ResourceRule{{Verbs: all, APIGroups: all, Resources: all}},
		[]authorizationv1.NonResourceRule{{Verbs: all, NonResourceURLs: slices.Clone(everyonesPaths)}}
}
