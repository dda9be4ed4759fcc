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

// discoveryDocs holds the classic discovery documents, built once.
type discoveryDocs struct {
	groups    map[string]*metav1.APIGroup
	groupList *metav1.APIGroupList
	resources map[schema.GroupVersion]*metav1.APIResourceList
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
			}
			list.APIResources = append(list.APIResources, r)
		}
		if res.GVR.Resource == "namespaces" {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: "namespaces/finalize", Kind: "Namespace", Verbs: metav1.Verbs{"update"}})
		}
	}
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
	case core && info.gv.Version == "":
		s.writeDiscovery(w, r, &metav1.APIVersions{
			Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
				{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
			},
		})
	case !core && info.gv.Group == "":
		s.writeDiscovery(w, r, d.groupList)
	case !core && info.gv.Version == "":
		g, ok := d.groups[info.gv.Group]
		if !ok {
			s.writeError(w, r, notFound(r.URL.Path))
			return
		}
		s.writeDiscovery(w, r, g)
	default:
		list, ok := d.resources[info.gv]
		if !ok {
			s.writeError(w, r, notFound(r.URL.Path))
			return
		}
		s.writeDiscovery(w, r, list)
	}
}

func (s *Server) writeDiscovery(w http.ResponseWriter, r *http.Request, obj interface {
	GetObjectKind() schema.ObjectKind
}) {
	switch o := obj.(type) {
	case *metav1.APIVersions:
		o.Kind, o.APIVersion = "APIVersions", ""
	case *metav1.APIGroupList:
		o.Kind, o.APIVersion = "APIGroupList", "v1"
	case *metav1.APIGroup:
		o.Kind, o.APIVersion = "APIGroup", "v1"
	case *metav1.APIResourceList:
		o.Kind, o.APIVersion = "APIResourceList", "v1"
	}
	writeJSON(w, http.StatusOK, obj)
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
