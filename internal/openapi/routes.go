package openapi

import (
	"net/http"
	"reflect"
	"strings"

	"github.com/gantry-dev/gantry/internal/api"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/kube-openapi/pkg/common"
)

// This file describes the REST surface the API server exposes for the
// registry, in the shape kube-openapi's builders consume (common.Route). The
// operations, operation IDs, parameters and descriptions follow
// k8s.io/apiserver's endpoints installer so that the documents match what a
// Kubernetes API server publishes for the same resources.

// Route metadata keys, as k8s.io/apiserver sets them.
const (
	extAction = "x-kubernetes-action"
	extGVK    = "x-kubernetes-group-version-kind"
)

const prettyDoc = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."

// Media types the API server negotiates for objects and for watch streams.
var (
	objectMediaTypes = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	streamMediaTypes = []string{"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	allMediaTypes    = append(append([]string{}, objectMediaTypes...), streamMediaTypes...)
	patchMediaTypes  = []string{
		string(types.JSONPatchType),
		string(types.MergePatchType),
		string(types.StrategicMergePatchType),
		string(types.ApplyYAMLPatchType),
	}
)

// routeSet is one group of routes under a root path; it implements
// common.RouteContainer.
type routeSet struct {
	root   string
	routes []common.Route
}

func (s *routeSet) RootPath() string                   { return s.root }
func (s *routeSet) PathParameters() []common.Parameter { return nil }
func (s *routeSet) Routes() []common.Route             { return s.routes }

// route implements common.Route.
type route struct {
	method, path, operation, doc string
	params                       []common.Parameter
	consumes, produces           []string
	metadata                     map[string]interface{}
	body                         interface{} // request body sample; nil: none
	responses                    []common.StatusCodeResponse
}

func (r *route) Method() string                                   { return r.method }
func (r *route) Path() string                                     { return r.path }
func (r *route) OperationName() string                            { return r.operation }
func (r *route) Parameters() []common.Parameter                   { return r.params }
func (r *route) Description() string                              { return r.doc }
func (r *route) Consumes() []string                               { return r.consumes }
func (r *route) Produces() []string                               { return r.produces }
func (r *route) Metadata() map[string]interface{}                 { return r.metadata }
func (r *route) RequestPayloadSample() interface{}                { return r.body }
func (r *route) ResponsePayloadSample() interface{}               { return nil }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse { return r.responses }

// param implements common.Parameter. Its fields are exported because the
// builders JSON-encode parameters while grouping them.
type param struct {
	PName     string
	PDoc      string
	PRequired bool
	PKind     common.ParameterKind
	PType     string
}

func (p *param) Name() string               { return p.PName }
func (p *param) Description() string        { return p.PDoc }
func (p *param) Required() bool             { return p.PRequired }
func (p *param) Kind() common.ParameterKind { return p.PKind }
func (p *param) DataType() string           { return p.PType }
func (p *param) AllowMultiple() bool        { return false }

// response implements common.StatusCodeResponse.
type response struct {
	code  int
	msg   string
	model interface{}
}

func (r *response) Code() int          { return r.code }
func (r *response) Message() string    { return r.msg }
func (r *response) Model() interface{} { return r.model }

func pathParam(name, doc string) common.Parameter {
	return &param{PName: name, PDoc: doc, PRequired: true, PKind: common.PathParameterKind, PType: "string"}
}

func queryParam(name, doc, typ string) common.Parameter {
	return &param{PName: name, PDoc: doc, PKind: common.QueryParameterKind, PType: typ}
}

func bodyParam(required bool) common.Parameter {
	return &param{PName: "body", PRequired: required, PKind: common.BodyParameterKind}
}

func ok(model interface{}) *response { return &response{code: http.StatusOK, msg: "OK", model: model} }
func created(model interface{}) *response {
	return &response{code: http.StatusCreated, msg: "Created", model: model}
}
func accepted(model interface{}) *response {
	return &response{code: http.StatusAccepted, msg: "Accepted", model: model}
}

// optionParams turns the top-level scalar fields of an options struct
// (metav1.ListOptions, …) into query parameters documented by its SwaggerDoc,
// as the Kubernetes API installer does.
func optionParams(opts interface{ SwaggerDoc() map[string]string }, exclude ...string) []common.Parameter {
	docs := opts.SwaggerDoc()
	t := reflect.TypeOf(opts)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []common.Parameter
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		var typ string
		switch ft.Kind() {
		case reflect.Bool:
			typ = "boolean"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			typ = "integer"
		case reflect.String:
			typ = "string"
		case reflect.Slice:
			// Repeated query parameters are published with their element type.
			switch ft.Elem().Kind() {
			case reflect.String:
				typ = "string"
			case reflect.Int32, reflect.Int64:
				typ = "integer"
			default:
				continue
			}
		default:
			continue // structs (TypeMeta, Preconditions), interfaces
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || contains(exclude, name) {
			continue
		}
		out = append(out, queryParam(name, docs[name], typ))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Query parameters of each verb, computed once per build.
type verbParams struct {
	list, deleteCollection, create, update, patch, delete []common.Parameter
	pretty                                                common.Parameter
}

func newVerbParams() *verbParams {
	return &verbParams{
		list:             optionParams(&metav1.ListOptions{}),
		deleteCollection: append(optionParams(&metav1.DeleteOptions{}), optionParams(&metav1.ListOptions{}, "watch", "allowWatchBookmarks")...),
		create:           optionParams(&metav1.CreateOptions{}),
		update:           optionParams(&metav1.UpdateOptions{}),
		patch:            optionParams(&metav1.PatchOptions{}),
		delete:           optionParams(&metav1.DeleteOptions{}),
		pretty:           queryParam("pretty", prettyDoc, "string"),
	}
}

// gvPath returns the URL prefix of gv: /api/v1 or /apis/<group>/<version>.
func gvPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// docKey returns the name of gv's OpenAPI v3 document: api/v1 or apis/<group>/<version>.
func docKey(gv schema.GroupVersion) string { return strings.TrimPrefix(gvPath(gv), "/") }

// subresourceKind returns the object a subresource of r reads and writes, its
// kind and the HTTP methods it serves, or served=false for subresources
// without an OpenAPI description.
func subresourceKind(r *api.Resource, sub string) (obj interface{}, gvk schema.GroupVersionKind, verbs []string, served bool) {
	switch sub {
	case api.SubStatus:
		return r.New(), r.GroupVersionKind(), []string{"GET", "PUT", "PATCH"}, true
	case api.SubScale:
		return &autoscalingv1.Scale{}, autoscalingv1.SchemeGroupVersion.WithKind("Scale"), []string{"GET", "PUT", "PATCH"}, true
	case api.SubBinding:
		return &corev1.Binding{}, corev1.SchemeGroupVersion.WithKind("Binding"), []string{"POST"}, true
	case api.SubEviction:
		return &policyv1.Eviction{}, policyv1.SchemeGroupVersion.WithKind("Eviction"), []string{"POST"}, true
	}
	return nil, schema.GroupVersionKind{}, nil, false
}

// resourceRoutes returns the routes of r and of its subresources.
func resourceRoutes(r *api.Resource, vp *verbParams) []common.Route {
	var (
		prefix      = gvPath(r.GVR.GroupVersion())
		kind        = r.Kind
		obj         = r.New()
		list        = r.NewList()
		status      = &metav1.Status{}
		event       = &metav1.WatchEvent{}
		namespaced  string
		scopeParams []common.Parameter
		collection  string
	)
	if r.Namespaced {
		namespaced = "Namespaced"
		scopeParams = []common.Parameter{pathParam("namespace", "object name and auth scope, such as for teams and projects")}
		collection = prefix + "/namespaces/{namespace}/" + r.GVR.Resource
	} else {
		collection = prefix + "/" + r.GVR.Resource
	}
	item := collection + "/{name}"
	itemParams := append(append([]common.Parameter{}, scopeParams...), pathParam("name", "name of the "+kind))
	watchPath := func(p string) string { return strings.Replace(p, prefix+"/", prefix+"/watch/", 1) }

	b := &routeBuilder{vp: vp}
	// Collection: list, create, deletecollection, watch (deprecated).
	b.add("GET", "list", collection, "list"+namespaced+kind, "list or watch objects of kind "+kind, r.GroupVersionKind(), scopeParams, vp.list, allMediaTypes, nil, nil, ok(list))
	b.add("POST", "post", collection, "create"+namespaced+kind, "create"+article(kind)+kind, r.GroupVersionKind(), scopeParams, vp.create, objectMediaTypes, []string{"*/*"}, obj, ok(obj), created(obj), accepted(obj))
	b.add("DELETE", "deletecollection", collection, "deletecollection"+namespaced+kind, "delete collection of "+kind, r.GroupVersionKind(), scopeParams, vp.deleteCollection, objectMediaTypes, []string{"*/*"}, &metav1.DeleteOptions{}, ok(status))
	b.add("GET", "watchlist", watchPath(collection), "watch"+namespaced+kind+"List", "watch individual changes to a list of "+kind+". deprecated: use the 'watch' parameter with a list operation instead.", r.GroupVersionKind(), scopeParams, vp.list, allMediaTypes, nil, nil, ok(event))

	// Item: get, replace, patch, delete, watch (deprecated).
	b.add("GET", "get", item, "read"+namespaced+kind, "read the specified "+kind, r.GroupVersionKind(), itemParams, nil, objectMediaTypes, nil, nil, ok(obj))
	b.add("PUT", "put", item, "replace"+namespaced+kind, "replace the specified "+kind, r.GroupVersionKind(), itemParams, vp.update, objectMediaTypes, []string{"*/*"}, obj, ok(obj), created(obj))
	b.add("PATCH", "patch", item, "patch"+namespaced+kind, "partially update the specified "+kind, r.GroupVersionKind(), itemParams, vp.patch, objectMediaTypes, patchMediaTypes, &metav1.Patch{}, ok(obj), created(obj))
	b.add("DELETE", "delete", item, "delete"+namespaced+kind, "delete"+article(kind)+kind, r.GroupVersionKind(), itemParams, vp.delete, objectMediaTypes, []string{"*/*"}, &metav1.DeleteOptions{}, ok(status), accepted(status))
	b.add("GET", "watch", watchPath(item), "watch"+namespaced+kind, "watch changes to an object of kind "+kind+". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.", r.GroupVersionKind(), itemParams, vp.list, allMediaTypes, nil, nil, ok(event))

	// Across all namespaces: list and watch (deprecated).
	if r.Namespaced {
		all := prefix + "/" + r.GVR.Resource
		b.add("GET", "list", all, "list"+kind+"ForAllNamespaces", "list or watch objects of kind "+kind, r.GroupVersionKind(), nil, vp.list, allMediaTypes, nil, nil, ok(list))
		b.add("GET", "watchlist", watchPath(all), "watch"+kind+"ListForAllNamespaces", "watch individual changes to a list of "+kind+". deprecated: use the 'watch' parameter with a list operation instead.", r.GroupVersionKind(), nil, vp.list, allMediaTypes, nil, nil, ok(event))
	}

	for _, sub := range r.Subresources {
		subObj, subGVK, verbs, found := subresourceKind(r, sub)
		if !found {
			continue
		}
		path := item + "/" + sub
		params := append(append([]common.Parameter{}, scopeParams...), pathParam("name", "name of the "+subGVK.Kind))
		title := strings.ToUpper(sub[:1]) + sub[1:]
		for _, verb := range verbs {
			switch verb {
			case "GET":
				b.add("GET", "get", path, "read"+namespaced+kind+title, "read "+sub+" of the specified "+kind, subGVK, params, nil, objectMediaTypes, nil, nil, ok(subObj))
			case "PUT":
				b.add("PUT", "put", path, "replace"+namespaced+kind+title, "replace "+sub+" of the specified "+kind, subGVK, params, vp.update, objectMediaTypes, []string{"*/*"}, subObj, ok(subObj), created(subObj))
			case "PATCH":
				b.add("PATCH", "patch", path, "patch"+namespaced+kind+title, "partially update "+sub+" of the specified "+kind, subGVK, params, vp.patch, objectMediaTypes, patchMediaTypes, &metav1.Patch{}, ok(subObj), created(subObj))
			case "POST":
				b.add("POST", "post", path, "create"+namespaced+kind+title, "create "+sub+" of"+article(kind)+kind, subGVK, params, vp.create, objectMediaTypes, []string{"*/*"}, subObj, ok(subObj), created(subObj), accepted(subObj))
			}
		}
	}
	return b.routes
}

type routeBuilder struct {
	vp     *verbParams
	routes []common.Route
}

func (b *routeBuilder) add(method, action, path, operation, doc string, gvk schema.GroupVersionKind,
	pathParams, queryParams []common.Parameter, produces, consumes []string, body interface{}, responses ...common.StatusCodeResponse) {
	params := make([]common.Parameter, 0, len(pathParams)+len(queryParams)+2)
	params = append(params, b.vp.pretty)
	params = append(params, queryParams...)
	params = append(params, pathParams...)
	if body != nil {
		// The body of delete and deletecollection (DeleteOptions) is optional.
		params = append(params, bodyParam(method != "DELETE"))
	}
	b.routes = append(b.routes, &route{
		method:    method,
		path:      path,
		operation: operation,
		doc:       doc,
		params:    params,
		consumes:  consumes,
		produces:  produces,
		body:      body,
		responses: responses,
		metadata: map[string]interface{}{
			extAction: action,
			extGVK:    metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		},
	})
}

// discoveryRoute describes a discovery endpoint (/api/, /apis/<group>/, …).
func discoveryRoute(path, operation, doc string, model interface{}) common.Route {
	return &route{
		method:    "GET",
		path:      path,
		operation: operation,
		doc:       doc,
		consumes:  objectMediaTypes,
		produces:  objectMediaTypes,
		responses: []common.StatusCodeResponse{ok(model)},
	}
}

func coreVersionsRoute() common.Route {
	return discoveryRoute("/api/", "getCoreAPIVersions", "get available API versions", &metav1.APIVersions{})
}

func groupListRoute() common.Route {
	return discoveryRoute("/apis/", "getAPIVersions", "get available API versions", &metav1.APIGroupList{})
}

func groupRoute(group string) common.Route {
	return discoveryRoute("/apis/"+group+"/", "getAPIGroup", "get information of a group", &metav1.APIGroup{})
}

func resourceListRoute(gv schema.GroupVersion) common.Route {
	return discoveryRoute(gvPath(gv)+"/", "getAPIResources", "get available resources", &metav1.APIResourceList{})
}

func versionRoute() common.Route {
	return &route{
		method:    "GET",
		path:      "/version/",
		operation: "getCodeVersion",
		doc:       "get the version information for this server",
		consumes:  []string{"application/json"},
		produces:  []string{"application/json"},
		responses: []common.StatusCodeResponse{ok(&version.Info{})},
	}
}

// article returns " a ", " an " or " " (plural nouns) for noun, as Kubernetes
// writes operation descriptions ("create a Pod", "create an Ingress",
// "create Endpoints").
func article(noun string) string {
	if !strings.HasSuffix(noun, "ss") && strings.HasSuffix(noun, "s") {
		return " "
	}
	if strings.ContainsRune("AEIOUaeiou", rune(noun[0])) {
		return " an "
	}
	return " a "
}
