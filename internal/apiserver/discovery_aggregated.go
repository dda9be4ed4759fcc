package apiserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantry-dev/gantry/internal/api"
)

// Aggregated discovery (apidiscovery.k8s.io/v2): one document at /api and
// one at /apis describe every group, version and resource, so a client
// needs two requests instead of one per group version. Clients ask for it
// with
//
//	Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json
//
// and recognise it by the same parameters on the response's Content-Type.

const aggregatedContentType = mediaJSON + ";g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// aggregatedDoc is one encoded APIGroupDiscoveryList with its ETag.
type aggregatedDoc struct {
	body []byte
	etag string
}

// wantsAggregated reports whether the first Accept clause the server can
// answer asks for aggregated discovery (clauses are in preference order).
func wantsAggregated(r *http.Request) bool {
	for _, clause := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil || (mt != mediaJSON && mt != "*/*" && mt != "application/*") {
			continue
		}
		if params["as"] == "" {
			return false // plain JSON: the classic documents
		}
		if params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
		// Another transformation (v2beta1, a peer-less profile…): try the next clause.
	}
	return false
}

// serve writes the document, or 304 Not Modified when the client has it.
func (d aggregatedDoc) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("ETag", d.etag)
	w.Header().Set("Vary", "Accept")
	if match := r.Header.Get("If-None-Match"); match != "" && match == d.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", aggregatedContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(d.body)
}

func newAggregatedDoc(list *apidiscoveryv2.APIGroupDiscoveryList) aggregatedDoc {
	list.Kind, list.APIVersion = "APIGroupDiscoveryList", apidiscoveryv2.SchemeGroupVersion.String()
	body, err := json.Marshal(list)
	if err != nil {
		panic(err) // programming error: the document is plain data
	}
	sum := sha256.Sum256(body)
	return aggregatedDoc{body: body, etag: `"` + hex.EncodeToString(sum[:]) + `"`}
}

// buildAggregated builds the aggregated documents from the classic
// resource lists, so both always describe the same resources.
func (d *discoveryDocs) buildAggregated(reg *api.Registry) {
	core := &apidiscoveryv2.APIGroupDiscoveryList{}
	groups := &apidiscoveryv2.APIGroupDiscoveryList{}
	byGroup := map[string]*apidiscoveryv2.APIGroupDiscovery{}
	var order []string
	for _, gv := range reg.GroupVersions() {
		g, ok := byGroup[gv.Group]
		if !ok {
			g = &apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: gv.Group}}
			byGroup[gv.Group] = g
			order = append(order, gv.Group)
		}
		// Versions are in preference order, as GroupVersions returns them.
		g.Versions = append(g.Versions, aggregatedVersion(gv, d.resources[gv]))
	}
	for _, name := range order {
		if name == "" {
			core.Items = append(core.Items, *byGroup[name])
		}
	}
	for _, name := range reg.Groups() { // sorted, as /apis lists them
		groups.Items = append(groups.Items, *byGroup[name])
	}
	for _, gv := range reviewGroupVersions {
		groups.Items = append(groups.Items, apidiscoveryv2.APIGroupDiscovery{
			ObjectMeta: metav1.ObjectMeta{Name: gv.Group},
			Versions:   []apidiscoveryv2.APIVersionDiscovery{aggregatedVersion(gv, d.resources[gv])},
		})
	}
	groups.Items = append(groups.Items, apidiscoveryv2.APIGroupDiscovery{
		ObjectMeta: metav1.ObjectMeta{Name: metricsGroup},
		Versions:   []apidiscoveryv2.APIVersionDiscovery{aggregatedVersion(metricsGV, metricsResourceList())},
	})
	d.aggregatedCore = newAggregatedDoc(core)
	d.aggregatedGroups = newAggregatedDoc(groups)
}

func aggregatedVersion(gv schema.GroupVersion, list *metav1.APIResourceList) apidiscoveryv2.APIVersionDiscovery {
	v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
	index := map[string]int{}
	for _, r := range list.APIResources {
		parent, sub, isSub := strings.Cut(r.Name, "/")
		kind := responseKind(gv, r)
		if !isSub {
			scope := apidiscoveryv2.ScopeCluster
			if r.Namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			index[parent] = len(v.Resources)
			v.Resources = append(v.Resources, apidiscoveryv2.APIResourceDiscovery{
				Resource:         r.Name,
				ResponseKind:     kind,
				Scope:            scope,
				SingularResource: r.SingularName,
				Verbs:            r.Verbs,
				ShortNames:       r.ShortNames,
				Categories:       r.Categories,
			})
			continue
		}
		i, ok := index[parent]
		if !ok {
			continue // subresources follow their resource in the classic list
		}
		v.Resources[i].Subresources = append(v.Resources[i].Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  sub,
			ResponseKind: kind,
			Verbs:        r.Verbs,
		})
	}
	return v
}

// responseKind is the kind a resource's endpoint returns: the resource's
// own group/version unless the classic entry names another (scale, eviction).
func responseKind(gv schema.GroupVersion, r metav1.APIResource) *metav1.GroupVersionKind {
	k := &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.Kind}
	if r.Version != "" {
		k.Group, k.Version = r.Group, r.Version
	}
	return k
}
