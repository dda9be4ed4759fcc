package apiserver

import (
	"net/http"

	"github.com/gantry-dev/gantry/internal/api"
)

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, req *request) error {
	obj, err := req.store.get(r.Context(), req.namespace, req.name)
	if err != nil {
		return err
	}
	if req.subresource == api.SubScale {
		scale, err := scaleOf(req.res, obj)
		if err != nil {
			return err
		}
		s.writeRaw(w, r, http.StatusOK, scale, autoscalingV1)
		return nil
	}
	s.writeObject(w, r, http.StatusOK, req.res, obj)
	return nil
}
