package apiserver

import (
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/gantry-dev/gantry/internal/api"
	gversion "github.com/gantry-dev/gantry/internal/version"
)

// discoveryDocs holds the discovery documents, built once and read-only
// afterwards (shared by concurrent requests).
type discoveryDocs struct {
	groups    map[string]*metav1.APIGroup
	groupList *metav1.APIGroupList
	resources map[schema.GroupVersion]*metav1.APIResourceList
	// aggregated discovery (apidiscovery.k8s.io/v2) of /api and /apis.
	aggregatedCore, aggregatedGroups aggregatedDoc
}

var (
	verbsMain   = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	verbsSub    = metav1.Verbs{"get", "patch", "update"}
	verbsCreate = metav1.Verbs{"create"}
)

func newDiscoveryDocs(reg *api.Registry) *discoveryDocs {
	d := &discoveryDocs{
		groups:    map[string]*metav1.APIGroup{},
		groupList: &metav1.APIGroupList{},
		resources: map[schema.GroupVersion]*metav1.APIResourceList{},
	}
	for _, gv := range reg.GroupVersions() {
		d.resources[gv] = &metav1.APIResourceList{GroupVersion: gv.String()}
		if gv.Group == "" {
			continue
		}
		g, ok := d.groups[gv.Group]
		if !ok {
			g = &metav1.APIGroup{Name: gv.Group}
			g.PreferredVersion = metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			d.groups[gv.Group] = g
		}
		g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version})
	}
	for _, name := range reg.Groups() {
		d.groupList.Groups = append(d.groupList.Groups, *d.groups[name])
	}
	// The review APIs (reviews.go) and the resource metrics API
	// (metrics_api.go) are served by the API server itself, not from the
	// registry.
	for _, gv := range reviewGroupVersions {
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		d.groups[gv.Group] = &metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v}
		d.groupList.Groups = append(d.groupList.Groups, *d.groups[gv.Group])
		d.resources[gv] = reviewResourceList(gv)
	}
	d.groupList.Groups = append(d.groupList.Groups, metricsAPIGroup())
	for _, res := range reg.All() {
		list := d.resources[res.GVR.GroupVersion()]
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name:         res.GVR.Resource,
			SingularName: strings.ToLower(res.Kind),
			Namespaced:   res.Namespaced,
			Kind:         res.Kind,
			Verbs:        verbsMain,
			ShortNames:   res.ShortNames,
			Categories:   res.Categories,
		})
		for _, sub := range res.Subresources {
			r := metav1.APIResource{Name: res.GVR.Resource + "/" + sub, Namespaced: res.Namespaced, Kind: res.Kind, Verbs: verbsSub}
			switch sub {
			case api.SubScale:
				r.Group, r.Version, r.Kind = "autoscaling", "v1", "Scale"
			case api.SubBinding:
				r.Kind, r.Verbs = "Binding", verbsCreate
			case api.SubEviction:
				r.Group, r.Version, r.Kind, r.Verbs = "policy", "v1", "Eviction", verbsCreate
			case api.SubToken:
				r.Group, r.Version, r.Kind, r.Verbs = "authentication.k8s.io", "v1", "TokenRequest", verbsCreate
			case subLog:
				r.Verbs = metav1.Verbs{"get"}
			case subExec:
				r.Kind, r.Verbs = "PodExecOptions", metav1.Verbs{"create", "get"}
			case subAttach:
				r.Kind, r.Verbs = "PodAttachOptions", metav1.Verbs{"create", "get"}
			case subPortForward:
				r.Kind, r.Verbs = "PodPortForwardOptions", metav1.Verbs{"create", "get"}
			}
			list.APIResources = append(list.APIResources, r)
		}
		if res.GVR.Resource == "namespaces" {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: "namespaces/finalize", Kind: "Namespace", Verbs: metav1.Verbs{"update"}})
		}
	}
	d.groupList.Kind, d.groupList.APIVersion = "APIGroupList", "v1"
	for _, g := range d.groups {
		g.Kind, g.APIVersion = "APIGroup", "v1"
	}
	for _, l := range d.resources {
		l.Kind, l.APIVersion = "APIResourceList", "v1"
	}
	d.buildAggregated(reg)
	return d
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.writeError(w, r, newStatusError(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, "the server does not allow this method on the requested resource"))
		return
	}
	d := s.discovery
	core := strings.HasPrefix(strings.TrimPrefix(r.URL.Path, "/"), "api/") || strings.Trim(r.URL.Path, "/") == "api"
	switch {
	case core && info.gv.Version == "" && wantsAggregated(r):
		d.aggregatedCore.serve(w, r)
	case !core && info.gv.Group == "" && wantsAggregated(r):
		d.aggregatedGroups.serve(w, r)
	case core && info.gv.Version == "":
		writeJSON(w, http.StatusOK, &metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
				{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
			},
		})
	case !core && info.gv.Group == "":
		writeJSON(w, http.StatusOK, d.groupList)
	case !core && info.gv.Version == "":
		g, ok := d.groups[info.gv.Group]
		if !ok {
			s.writeError(w, r, notFound())
			return
		}
		writeJSON(w, http.StatusOK, g)
	default:
		list, ok := d.resources[info.gv]
		if !ok {
			s.writeError(w, r, notFound())
			return
		}
		writeJSON(w, http.StatusOK, list)
	}
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	v := gversion.KubernetesVersion
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	writeJSON(w, http.StatusOK, &version.Info{
		Major: parts[0], Minor: parts[1],
		GitVersion: v + "+gantry-" + gversion.Version,
		Platform:   "linux/amd64",
	})
}
