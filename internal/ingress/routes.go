package ingress

import (
	"cmp"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// backendRef is where a matched request goes: a Service port (by number
// or by name) or, unsupported, a resource backend.
type backendRef struct {
	namespace string
	service   string
	port      networkingv1.ServiceBackendPort
	resource  *corev1.TypedLocalObjectReference
	ingress   string // namespace/name of the Ingress, for logs
}

func newBackendRef(ing *networkingv1.Ingress, b *networkingv1.IngressBackend) backendRef {
	ref := backendRef{namespace: ing.Namespace, ingress: ing.Namespace + "/" + ing.Name, resource: b.Resource}
	if b.Service != nil {
		ref.service, ref.port = b.Service.Name, b.Service.Port
	}
	return ref
}

// route is one path of a rule.
type route struct {
	// path is the rule's path; for prefix routes without its trailing
	// slashes ("" for "/"), as Kubernetes ignores them.
	path    string
	exact   bool
	backend backendRef
}

// matches reports whether the request path p matches: exactly for Exact,
// element-wise for Prefix (/foo matches /foo and /foo/bar, not /foobar).
func (r route) matches(p string) bool {
	if r.exact {
		return p == r.path
	}
	return r.path == "" || p == r.path || strings.HasPrefix(p, r.path+"/")
}

// routeSet is the routes of one host in precedence order: the longest
// path first, Exact before Prefix at equal length, then the older
// Ingress first (the order they were added in).
type routeSet []route

func (rs routeSet) sort() {
	slices.SortStableFunc(rs, func(a, b route) int {
		if c := cmp.Compare(len(b.path), len(a.path)); c != 0 {
			return c
		}
		switch {
		case a.exact && !b.exact:
			return -1
		case b.exact && !a.exact:
			return 1
		}
		return 0
	})
}

// match returns the backend of the first (highest-precedence) route
// matching path.
func (rs routeSet) match(path string) (backendRef, bool) {
	for _, r := range rs {
		if r.matches(path) {
			return r.backend, true
		}
	}
	return backendRef{}, false
}

// table is the routing state built from every served Ingress. It is
// immutable once built.
type table struct {
	exact          map[string]routeSet // by lower-case host
	wildcard       map[string]routeSet // "*.example.com" by "example.com"
	anyHost        routeSet            // rules without a host
	defaultBackend *backendRef
}

// buildTable merges the rules of ings. Where Ingresses conflict (the same
// host, path and type, or two default backends) the oldest Ingress wins.
func buildTable(ings []*networkingv1.Ingress) *table {
	t := &table{exact: map[string]routeSet{}, wildcard: map[string]routeSet{}}
	for _, ing := range sortedByAge(ings) {
		if b := ing.Spec.DefaultBackend; b != nil && t.defaultBackend == nil {
			ref := newBackendRef(ing, b)
			t.defaultBackend = &ref
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			var rs []route
			for _, p := range rule.HTTP.Paths {
				r := route{path: p.Path, backend: newBackendRef(ing, &p.Backend)}
				if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
					r.exact = true
				} else {
					// Prefix, and ImplementationSpecific treated as Prefix.
					r.path = strings.TrimRight(p.Path, "/")
				}
				rs = append(rs, r)
			}
			host := strings.ToLower(rule.Host)
			switch {
			case host == "":
				t.anyHost = append(t.anyHost, rs...)
			case strings.HasPrefix(host, "*."):
				t.wildcard[host[2:]] = append(t.wildcard[host[2:]], rs...)
			default:
				t.exact[host] = append(t.exact[host], rs...)
			}
		}
	}
	t.anyHost.sort()
	for _, rs := range t.exact {
		rs.sort()
	}
	for _, rs := range t.wildcard {
		rs.sort()
	}
	return t
}

// backendKeys returns the balancer keys of every backend in t.
func (t *table) backendKeys() map[string]bool {
	keys := map[string]bool{}
	add := func(rs routeSet) {
		for _, r := range rs {
			keys[balancerKey(r.backend)] = true
		}
	}
	add(t.anyHost)
	for _, rs := range t.exact {
		add(rs)
	}
	for _, rs := range t.wildcard {
		add(rs)
	}
	if t.defaultBackend != nil {
		keys[balancerKey(*t.defaultBackend)] = true
	}
	return keys
}

// route finds the backend for a request to host (a Host header, port
// allowed) and path. Hosts are tried from the most specific: the rules of
// the exact host, then of the wildcard covering it (*.example.com covers
// a.example.com, not example.com nor a.b.example.com), then the rules
// without a host; the first of those with a matching path wins, and
// otherwise the default backend.
func (t *table) route(host, path string) (backendRef, bool) {
	host = normalizeHost(host)
	if path == "" {
		path = "/"
	}
	if rs, ok := t.exact[host]; ok {
		if b, ok := rs.match(path); ok {
			return b, true
		}
	}
	if label, rest, ok := strings.Cut(host, "."); ok && label != "" {
		if rs, ok := t.wildcard[rest]; ok {
			if b, ok := rs.match(path); ok {
				return b, true
			}
		}
	}
	if b, ok := t.anyHost.match(path); ok {
		return b, true
	}
	if t.defaultBackend != nil {
		return *t.defaultBackend, true
	}
	return backendRef{}, false
}

// normalizeHost strips the port and a trailing dot from a Host header or
// server name and lower-cases it.
func normalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// sortedByAge returns ings oldest first, by namespace and name at equal
// age.
func sortedByAge(ings []*networkingv1.Ingress) []*networkingv1.Ingress {
	out := slices.Clone(ings)
	slices.SortFunc(out, func(a, b *networkingv1.Ingress) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}
