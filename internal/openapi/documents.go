package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/api"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Documents holds the OpenAPI v2 and v3 documents of the served API. New
// only prepares them; each family (v2, and v3 with its index) is built and
// serialized on its first request and kept from then on. It is safe for
// concurrent use.
type Documents struct {
	modTime time.Time
	sets    map[string]*routeSet // the routes of each v3 document, keyed like the index

	// For Schemas and the builders: the namer and the model names of every
	// served kind.
	namer  *definitionNamer
	models []string
	info   *spec.Info

	v2 func() (*document, error)    // built once, on first request
	v3 func() (*v3Documents, error) // built once, on first request

	// building serialises the two builders: each expands the generated
	// definitions into a large object graph, and only one should be alive
	// at a time.
	building sync.Mutex
}

// v3Documents are the OpenAPI v3 documents, built together because the
// index carries the hash of every other one.
type v3Documents struct {
	index *document            // /openapi/v3
	docs  map[string]*document // "api/v1", "apis/apps/v1", … → /openapi/v3/<key>
}

// document is one serialized OpenAPI document. Only the gzip-compressed JSON
// is kept (JSON compresses six- to tenfold; the fastest level keeps start-up
// quick); the protobuf form is produced from it on first request.
type document struct {
	json []byte // gzip-compressed JSON
	etag string // upper-case hex SHA-512 of the uncompressed JSON, as Kubernetes computes it

	toProto func(json []byte) ([]byte, error)
	once    sync.Once
	proto   []byte // gzip-compressed protobuf, once built
	err     error
}

// New prepares the documents for the resources of reg; it does no I/O and
// builds nothing large. Building them allocates some 170 MiB in total, so it
// is left to the first request of each family (as kube-apiserver builds its
// v3 documents lazily): most servers never serve v2, and many never serve
// either.
func New(reg *api.Registry) (*Documents, error) {
	namer, err := newDefinitionNamer(reg)
	if err != nil {
		return nil, err
	}
	d := &Documents{
		modTime: time.Now().UTC().Truncate(time.Second),
		sets:    routeSets(reg),
		namer:   namer,
		info:    &spec.Info{InfoProps: spec.InfoProps{Title: "Gantry", Version: apiVersion()}},
	}
	for _, r := range reg.All() {
		d.models = append(d.models, util.GetCanonicalTypeName(r.New()), util.GetCanonicalTypeName(r.NewList()))
		for _, sub := range r.Subresources {
			if obj, _, _, served := subresourceKind(r, sub); served {
				d.models = append(d.models, util.GetCanonicalTypeName(obj))
			}
		}
	}
	d.v3 = sync.OnceValues(func() (*v3Documents, error) {
		d.building.Lock()
		defer d.building.Unlock()
		return d.buildV3()
	})
	d.v2 = sync.OnceValues(func() (*document, error) {
		d.building.Lock()
		defer d.building.Unlock()
		return d.buildV2()
	})
	return d, nil
}

// routeSets returns the routes of each v3 document, keyed like the
// /openapi/v3 index.
func routeSets(reg *api.Registry) map[string]*routeSet {
	vp := newVerbParams()
	sets := map[string]*routeSet{
		"api":     {root: "/api", routes: []common.Route{coreVersionsRoute()}},
		"apis":    {root: "/apis", routes: []common.Route{groupListRoute()}},
		"version": {root: "/version", routes: []common.Route{versionRoute()}},
	}
	for _, gv := range reg.GroupVersions() {
		key := docKey(gv)
		sets[key] = &routeSet{root: gvPath(gv), routes: []common.Route{resourceListRoute(gv)}}
		if gv.Group != "" && sets["apis/"+gv.Group] == nil {
			sets["apis/"+gv.Group] = &routeSet{root: "/apis/" + gv.Group, routes: []common.Route{groupRoute(gv.Group)}}
		}
	}
	for _, r := range reg.All() {
		s := sets[docKey(r.GVR.GroupVersion())]
		s.routes = append(s.routes, resourceRoutes(r, vp)...)
	}
	return sets
}

func (d *Documents) v3Config() *common.OpenAPIV3Config {
	cfg := &common.OpenAPIV3Config{
		Info:                           d.info,
		DefaultResponse:                &spec3.Response{ResponseProps: spec3.ResponseProps{Description: "Default Response."}},
		CommonResponses:                map[int]*spec3.Response{401: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}},
		GetOperationIDAndTagsFromRoute: operationID,
		GetDefinitionName:              d.namer.name,
		SecuritySchemes: spec3.SecuritySchemes{"BearerToken": &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
		}}},
		PostProcessSpec: func(s *spec3.OpenAPI) (*spec3.OpenAPI, error) {
			s.SecurityRequirement = []map[string][]string{{"BearerToken": {}}}
			return s, nil
		},
	}
	cfg.Definitions = GetOpenAPIDefinitions(func(name string) spec.Ref {
		defName, _ := d.namer.name(name)
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(defName))
	})
	return cfg
}

func (d *Documents) buildV3() (*v3Documents, error) {
	cfg := d.v3Config()
	v3 := &v3Documents{docs: make(map[string]*document, len(d.sets))}
	index := handler3.OpenAPIV3Discovery{Paths: map[string]handler3.OpenAPIV3DiscoveryGroupVersion{}}
	for key, set := range d.sets {
		s, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{set}, cfg)
		if err != nil {
			return nil, fmt.Errorf("openapi: building v3 document %s: %w", key, err)
		}
		raw, err := s.MarshalJSON() // already compact; json.Marshal would re-scan it
		if err != nil {
			return nil, fmt.Errorf("openapi: encoding v3 document %s: %w", key, err)
		}
		doc := newDocument(raw, handler3.ToV3ProtoBinary)
		v3.docs[key] = doc
		index.Paths[key] = handler3.OpenAPIV3DiscoveryGroupVersion{ServerRelativeURL: serverRelativeURL(key, doc.etag)}
	}
	raw, err := json.Marshal(index)
	if err != nil {
		return nil, fmt.Errorf("openapi: encoding v3 index: %w", err)
	}
	v3.index = newDocument(raw, nil)
	return v3, nil
}

func (d *Documents) buildV2() (*document, error) {
	containers := make([]common.RouteContainer, 0, len(d.sets))
	for _, set := range d.sets {
		containers = append(containers, set)
	}
	cfg := &common.Config{
		ProtocolList:                   []string{"https"},
		Info:                           d.info,
		DefaultResponse:                &spec.Response{ResponseProps: spec.ResponseProps{Description: "Default Response."}},
		CommonResponses:                map[int]spec.Response{401: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}},
		GetOperationIDAndTagsFromRoute: operationID,
		GetDefinitionName:              d.namer.name,
		GetDefinitions:                 GetOpenAPIDefinitions,
		SecurityDefinitions: &spec.SecurityDefinitions{"BearerToken": &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
		}}},
		DefaultSecurity: []map[string][]string{{"BearerToken": {}}},
	}
	s, err := builder.BuildOpenAPISpecFromRoutes(containers, cfg)
	if err != nil {
		return nil, fmt.Errorf("openapi: building v2 document: %w", err)
	}
	raw, err := s.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("openapi: encoding v2 document: %w", err)
	}
	return newDocument(raw, v2Proto), nil
}

// Schemas returns the OpenAPI v3 schemas of every served kind and of the
// types they reference, keyed by model name (io.k8s.api.core.v1.Pod), each
// kind tagged with x-kubernetes-group-version-kind. It is meant for
// managedfields.NewTypeConverter: call it once at start-up and drop the
// result, which is large and is not retained by d. It does not need the
// documents to be built. An error means a served type has no generated
// definition (see "Regenerating the definitions" in the package doc).
func (d *Documents) Schemas() (map[string]*spec.Schema, error) {
	schemas, err := builder3.BuildOpenAPIDefinitionsForResources(d.v3Config(), d.models...)
	if err != nil {
		return nil, fmt.Errorf("openapi: schemas of served kinds: %w", err)
	}
	return schemas, nil
}

func newDocument(raw []byte, toProto func([]byte) ([]byte, error)) *document {
	return &document{json: compress(raw), etag: fmt.Sprintf("%X", sha512.Sum512(raw)), toProto: toProto}
}

// protobuf returns the gzip-compressed protobuf form of doc, building it on
// first use.
func (doc *document) protobuf() ([]byte, error) {
	doc.once.Do(func() {
		raw, err := decompress(doc.json)
		if err == nil {
			raw, err = doc.toProto(raw)
		}
		if err != nil {
			doc.err = fmt.Errorf("openapi: encoding protobuf: %w", err)
			return
		}
		doc.proto = compress(raw)
	})
	return doc.proto, doc.err
}

func compress(raw []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // the level is valid
	zw.Write(raw)                                      // writes to a bytes.Buffer do not fail
	zw.Close()
	return bytes.Clone(buf.Bytes()) // drop the buffer's spare capacity
}

func decompress(gz []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// serverRelativeURL is the address of a v3 document in the index, with the
// hash query parameter that makes it cacheable forever.
func serverRelativeURL(key, etag string) string {
	return "/openapi/v3/" + key + "?hash=" + etag
}

// apiVersion reports the Kubernetes API level served: the minor version of
// the k8s.io/api module the binary is built with (v0.37.2 → v1.37.2).
func apiVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "k8s.io/api" && strings.HasPrefix(m.Version, "v0.") {
				return "v1." + strings.TrimPrefix(m.Version, "v0.")
			}
		}
	}
	return "unversioned"
}
