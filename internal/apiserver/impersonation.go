package apiserver

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gantry-dev/gantry/internal/auth"
)

// impersonate returns the user a request acts as: the authenticated user
// u, or the one Kubernetes' impersonation headers name (kubectl --as,
// --as-group, --as-uid; client-go's rest.ImpersonationConfig), as
// kube-apiserver's impersonation filter builds it:
//
//   - Impersonate-User names the user; Impersonate-Group (repeatable),
//     Impersonate-Uid and Impersonate-Extra-<key> need it;
//   - a service account's user name brings its groups when no group is
//     given;
//   - every user but system:anonymous is in system:authenticated unless
//     the groups asked for say system:authenticated or
//     system:unauthenticated.
//
// Impersonating takes the "impersonate" verb, which authorize grants to
// every user that may use the API.
func impersonate(u *auth.User, h http.Header) (*auth.User, error) {
	name := h.Get(authenticationv1.ImpersonateUserHeader)
	groups := slices.Clone(h.Values(authenticationv1.ImpersonateGroupHeader))
	uid := h.Get(authenticationv1.ImpersonateUIDHeader)
	extra := map[string][]string{}
	for key, values := range h {
		k, ok := strings.CutPrefix(key, authenticationv1.ImpersonateUserExtraHeaderPrefix)
		if !ok || k == "" {
			continue
		}
		unescaped, err := url.PathUnescape(k)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("malformed impersonation header %s: %v", key, err))
		}
		extra[strings.ToLower(unescaped)] = slices.Clone(values)
	}
	if name == "" {
		var asked []string
		if len(groups) > 0 {
			asked = append(asked, "groups "+strings.Join(groups, ", "))
		}
		if uid != "" {
			asked = append(asked, "uid "+uid)
		}
		if len(extra) > 0 {
			asked = append(asked, "extra")
		}
		if len(asked) > 0 {
			return nil, apierrors.NewInternalError(fmt.Errorf("requested %s without impersonating a user", strings.Join(asked, " and ")))
		}
		return u, nil
	}
	if ok, reason := authorize(u, attributes{resource: true, verb: "impersonate"}); !ok {
		return nil, apierrors.NewForbidden(authenticationv1.Resource("users"), name, fmt.Errorf("user %q cannot impersonate: %s", u.Name, reason))
	}
	if rest, isSA := strings.CutPrefix(name, auth.ServiceAccountUserPrefix); isSA && len(groups) == 0 {
		if ns, sa, ok := strings.Cut(rest, ":"); ok && ns != "" && sa != "" {
			groups = []string{auth.GroupServiceAccounts, auth.GroupServiceAccountsPrefix + ns}
		}
	}
	out := &auth.User{Name: name, UID: uid, Groups: groups}
	if name != "system:anonymous" {
		add := true
		for _, g := range groups {
			if g == auth.GroupAuthenticated || g == "system:unauthenticated" {
				add = false
			}
		}
		if add {
			out.Groups = append(out.Groups, auth.GroupAuthenticated)
		}
	}
	if len(extra) > 0 {
		out.Extra = extra
	}
	return out, nil
}
