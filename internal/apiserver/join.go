package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gantry-dev/gantry/internal/auth"
)

// JoinPath is the endpoint `gantry agent` calls with the server's join
// secret as a bearer token to get its node credentials.
const JoinPath = "/gantry/v1/join"

// GroupJoiners is the group of the join secret's user. Its members may
// call JoinPath and nothing else (403 everywhere else).
const GroupJoiners = "gantry:joiners"

// Node identities issued at join, as the kubelet's.
const (
	NodeUserPrefix = "system:node:"
	GroupNodes     = "system:nodes"
)

// JoinRequest is the body of POST JoinPath.
type JoinRequest struct {
	NodeName string `json:"nodeName"`
}

// JoinResponse carries the cluster CA and a client certificate and key for
// NodeUserPrefix+NodeName in GroupNodes, all PEM.
type JoinResponse struct {
	CA          string `json:"ca"`
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
}

// serveJoin serves JoinPath and refuses every other path to the members
// of GroupJoiners. serveHTTP sends it both.
func (s *Server) serveJoin(w http.ResponseWriter, r *http.Request, user *auth.User) {
	// The method is checked below, for a 405 rather than a 403.
	if ok, reason := authorize(user, attributes{verb: "post", path: r.URL.Path}); !ok {
		s.writeError(w, r, newStatusError(http.StatusForbidden, "Forbidden", reason))
		return
	}
	if s.cfg.IssueNodeCredentials == nil {
		s.writeError(w, r, notFound())
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, r, newStatusError(http.StatusMethodNotAllowed, "MethodNotAllowed", "join takes POST"))
		return
	}
	var req JoinRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		s.writeError(w, r, newStatusError(http.StatusBadRequest, "BadRequest", "join request: "+err.Error()))
		return
	}
	if errs := validation.IsDNS1123Subdomain(req.NodeName); len(errs) > 0 {
		s.writeError(w, r, newStatusError(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("join request: nodeName %q: %s", req.NodeName, strings.Join(errs, "; "))))
		return
	}
	ca, cert, key, err := s.cfg.IssueNodeCredentials(req.NodeName)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("issue node credentials: %w", err))
		return
	}
	s.log.Info("node joined", "node", req.NodeName, "user", user.Name)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(JoinResponse{CA: string(ca), Certificate: string(cert), Key: string(key)})
}
