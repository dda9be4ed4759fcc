package apiserver

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/gantry-dev/gantry/internal/auth"
)

// ProfilingPath is the prefix of the Go runtime's profiling endpoints
// (net/http/pprof), served when Config.Profiling is set.
const ProfilingPath = "/debug/pprof"

// serveProfiling serves /debug/pprof/... to members of system:masters,
// as kube-apiserver serves it (--profiling) to cluster admins; everyone
// else gets 403 Forbidden. With profiling off the paths do not exist.
func (s *Server) serveProfiling(w http.ResponseWriter, r *http.Request, user *auth.User) {
	if !s.cfg.Profiling {
		s.writeError(w, r, notFound())
		return
	}
	if ok, reason := authorize(user, attributes{verb: strings.ToLower(r.Method), path: r.URL.Path}); !ok {
		s.writeError(w, r, newStatusError(http.StatusForbidden, "Forbidden", reason))
		return
	}
	switch strings.TrimPrefix(r.URL.Path, ProfilingPath+"/") {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		// The index and the named profiles (heap, goroutine, allocs…).
		pprof.Index(w, r)
	}
}
