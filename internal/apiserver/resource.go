package apiserver

import (
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantry-dev/gantry/internal/api"
)

// request is one resource request, resolved against the registry.
type request struct {
	requestInfo
	res   *api.Resource
	store *objectStore
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if k := reviewFor(info); k != nil {
		if err := s.serveReview(w, r, info, k); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	res := s.cfg.Registry.Get(info.gv.WithResource(info.resource))
	if res == nil || info.verb == "" {
		s.writeError(w, r, notFound())
		return
	}
	if !res.Namespaced && info.namespace != "" {
		s.writeError(w, r, notFound())
		return
	}
	if res.Namespaced && info.namespace == "" {
		// Across namespaces only list and watch are served, as in Kubernetes.
		switch info.verb {
		case "list", "watch":
		case "get":
			s.writeError(w, r, notFound())
			return
		default:
			s.writeError(w, r, apierrors.NewMethodNotSupported(res.GVR.GroupResource(), r.Method))
			return
		}
	}
	req := &request{requestInfo: info, res: res, store: s.objectStore(res)}
	if info.subresource != "" {
		if !res.HasSubresource(info.subresource) && !(info.subresource == "finalize" && res.GVR.Resource == "namespaces") {
			s.writeError(w, r, notFound())
			return
		}
		if !subresourceVerbs[info.subresource][info.verb] {
			s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Group: res.GVR.Group, Resource: res.GVR.Resource + "/" + info.subresource}, r.Method))
			return
		}
	}
	var err error
	if isStreamingSubresource(res, info.subresource) {
		if err := s.handleNodeStream(w, r, req); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	switch info.verb {
	case "get":
		err = s.handleGet(w, r, req)
	case "list":
		err = s.handleList(w, r, req)
	case "watch":
		err = s.handleWatch(w, r, req)
	case "create":
		err = s.handleCreate(w, r, req)
	case "update":
		err = s.handleUpdate(w, r, req)
	case "patch":
		err = s.handlePatch(w, r, req)
	case "delete":
		err = s.handleDelete(w, r, req)
	case "deletecollection":
		err = s.handleDeleteCollection(w, r, req)
	default:
		err = apierrors.NewMethodNotSupported(res.GVR.GroupResource(), r.Method)
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

// subresourceVerbs are the verbs each subresource serves (as discovery
// publishes them); anything else is 405.
var subresourceVerbs = map[string]map[string]bool{
	api.SubStatus:              {"get": true, "update": true, "patch": true},
	api.SubScale:               {"get": true, "update": true, "patch": true},
	api.SubEphemeralContainers: {"get": true, "update": true, "patch": true},
	api.SubBinding:             {"create": true},
	api.SubEviction:            {"create": true},
	api.SubToken:               {"create": true},
	"finalize":                 {"update": true},
	subLog:                     {"get": true},
	subExec:                    {"get": true, "create": true},
	subAttach:                  {"get": true, "create": true},
	subPortForward:             {"get": true, "create": true},
}

// readBody reads a request body up to the configured limit (413 beyond).
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, badRequest("request body is required")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxRequestBytes+1))
	if err != nil {
		return nil, badRequest("reading request body: %v", err)
	}
	if int64(len(data)) > s.cfg.MaxRequestBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", s.cfg.MaxRequestBytes))
	}
	return data, nil
}

func (req *request) groupResource() schema.GroupResource { return req.res.GVR.GroupResource() }
