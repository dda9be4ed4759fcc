package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// requestInfo is what the URL and method say about an API request.
//
//	/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
//	/apis/{group}/{version}/{resource}/{name}/{subresource}
type requestInfo struct {
	// resourceRequest is false for discovery and other non-resource paths.
	resourceRequest bool
	verb            string // get list watch create update patch delete deletecollection
	gv              schema.GroupVersion
	namespace       string
	resource        string
	name            string
	subresource     string
}

// parseRequestInfo splits an API path. It returns ok=false when the path is
// not under /api or /apis at all.
func parseRequestInfo(r *http.Request) (requestInfo, bool) {
	parts := splitPath(r.URL.Path)
	var info requestInfo
	if len(parts) == 0 {
		return info, false
	}
	switch parts[0] {
	case "api":
		if len(parts) < 2 {
			return info, true // /api
		}
		info.gv = schema.GroupVersion{Version: parts[1]}
		parts = parts[2:]
	case "apis":
		if len(parts) < 3 {
			if len(parts) == 2 {
				info.gv = schema.GroupVersion{Group: parts[1]}
			}
			return info, true // /apis or /apis/{group}
		}
		info.gv = schema.GroupVersion{Group: parts[1], Version: parts[2]}
		parts = parts[3:]
	default:
		return info, false
	}
	if len(parts) == 0 {
		return info, true // /api/v1 or /apis/g/v: resource list
	}
	info.resourceRequest = true
	// Legacy /watch/ prefix: /api/v1/watch/namespaces/ns/pods
	watchPrefix := false
	if parts[0] == "watch" {
		watchPrefix = true
		parts = parts[1:]
	}
	// namespaces/{ns}/{resource}/... is a namespaced resource, but
	// namespaces/{name} and namespaces/{name}/{status,finalize} are the
	// namespace object (cluster-scoped) and its subresources.
	if len(parts) >= 3 && parts[0] == "namespaces" && parts[2] != "status" && parts[2] != "finalize" {
		info.namespace = parts[1]
		parts = parts[2:]
	}
	if len(parts) > 0 {
		info.resource = parts[0]
	}
	if len(parts) > 1 {
		info.name = parts[1]
	}
	if len(parts) > 2 {
		info.subresource = parts[2]
	}
	if len(parts) > 3 {
		info.resource = "" // too deep: unknown
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watchPrefix || q.Get("watch") == "true" || q.Get("watch") == "1":
			info.verb = "watch"
		case info.name == "":
			info.verb = "list"
		default:
			info.verb = "get"
		}
	case http.MethodPost:
		info.verb = "create"
	case http.MethodPut:
		info.verb = "update"
	case http.MethodPatch:
		info.verb = "patch"
	case http.MethodDelete:
		if info.name == "" {
			info.verb = "deletecollection"
		} else {
			info.verb = "delete"
		}
	}
	return info, true
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
