package ingress

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

func TestRouteMatchesPath(t *testing.T) {
	// Kubernetes' table of path matches (concepts/services-networking/ingress,
	// "Examples"), plus ImplementationSpecific treated as Prefix.
	tests := []struct {
		typ     networkingv1.PathType
		path    string
		request string
		want    bool
	}{
		{prefix, "/", "/", true},
		{prefix, "/", "/anything/at/all", true},
		{exact, "/foo", "/foo", true},
		{exact, "/foo", "/bar", false},
		{exact, "/foo", "/foo/", false},
		{exact, "/foo/", "/foo", false},
		{prefix, "/foo", "/foo", true},
		{prefix, "/foo", "/foo/", true},
		{prefix, "/foo/", "/foo", true},
		{prefix, "/foo/", "/foo/", true},
		{prefix, "/aaa/bb", "/aaa/bbb", false},
		{prefix, "/aaa/bbb", "/aaa/bbb", true},
		{prefix, "/aaa/bbb/", "/aaa/bbb", true},
		{prefix, "/aaa/bbb", "/aaa/bbb/", true},
		{prefix, "/aaa/bbb", "/aaa/bbb/ccc", true},
		{prefix, "/aaa/bbb", "/aaa/bbbxyz", false},
		{prefix, "/foo", "/foobar", false},
		{impl, "/foo", "/foo/bar", true},
		{impl, "/foo", "/foobar", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ)+" "+tt.path+" "+tt.request, func(t *testing.T) {
			tbl := buildTable([]*networkingv1.Ingress{newIngress("ns", "i", 0, rule("", path(tt.path, tt.typ, "svc")))})
			_, got := tbl.route("host", tt.request)
			if got != tt.want {
				t.Errorf("%s %q on %q: matched %v, want %v", tt.typ, tt.path, tt.request, got, tt.want)
			}
		})
	}
}

func TestTableRoute(t *testing.T) {
	older := newIngress("ns", "older", 0,
		rule("a.example", path("/", prefix, "a-root"), path("/api", prefix, "a-api"), path("/api/v1", prefix, "a-api-v1"), path("/api", exact, "a-api-exact")),
		rule("*.example", path("/", prefix, "wild")),
		rule("", path("/static", prefix, "any-static")),
		rule("conflict.example", path("/", prefix, "conflict-older")),
	)
	newer := newIngress("ns", "newer", 10,
		rule("conflict.example", path("/", prefix, "conflict-newer"), path("/new", prefix, "conflict-new-path")),
		rule("B.Test", path("/x", exact, "b-x")),
	)
	newer.Spec.DefaultBackend = ptr(svcBackend("newer-default", 80, ""))
	tests := []struct {
		name, host, path string
		want             string // service; "" for no match
	}{
		{"exact host, root prefix", "a.example", "/", "a-root"},
		{"host with port", "a.example:8080", "/", "a-root"},
		{"host in upper case, trailing dot", "A.EXAMPLE.", "/", "a-root"},
		{"longest prefix wins", "a.example", "/api/v1/pods", "a-api-v1"},
		{"exact beats prefix at equal length", "a.example", "/api", "a-api-exact"},
		{"prefix below exact path", "a.example", "/api/", "a-api"},
		{"element-wise prefix: /apis is not /api", "a.example", "/apis", "a-root"},
		{"wildcard covers one label", "c.example", "/", "wild"},
		{"wildcard does not cover two labels", "x.c.example", "/", "newer-default"},
		{"wildcard does not cover the bare domain", "example", "/", "newer-default"},
		{"host-less rule for any host", "other.test", "/static/app.js", "any-static"},
		{"host-less rule behind a host without that path", "b.test", "/static/x", "any-static"},
		{"rule host matched without regard to case", "b.test", "/x", "b-x"},
		{"no path matches: default backend", "b.test", "/y", "newer-default"},
		{"conflict: older ingress wins", "conflict.example", "/", "conflict-older"},
		{"conflict: newer ingress's other paths still route", "conflict.example", "/new/x", "conflict-new-path"},
		{"exact host before wildcard", "a.example", "/zzz", "a-root"},
	}
	for _, order := range [][]*networkingv1.Ingress{{older, newer}, {newer, older}} {
		tbl := buildTable(order)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				be, ok := tbl.route(tt.host, tt.path)
				got := ""
				if ok {
					got = be.service
				}
				if got != tt.want {
					t.Errorf("route(%q, %q) = %q, want %q", tt.host, tt.path, got, tt.want)
				}
			})
		}
	}
}

func TestTableNoMatch(t *testing.T) {
	tbl := buildTable([]*networkingv1.Ingress{newIngress("ns", "i", 0, rule("a.example", path("/", prefix, "a")))})
	if be, ok := tbl.route("b.example", "/"); ok {
		t.Errorf("b.example routed to %+v; want no match (404)", be)
	}
	if _, ok := buildTable(nil).route("a.example", "/"); ok {
		t.Error("empty table matched")
	}
}

func TestTableDefaultBackendOldestWins(t *testing.T) {
	a := newIngress("ns", "a", 5)
	a.Spec.DefaultBackend = ptr(svcBackend("a-default", 80, ""))
	b := newIngress("ns", "b", 1)
	b.Spec.DefaultBackend = ptr(svcBackend("b-default", 80, ""))
	be, ok := buildTable([]*networkingv1.Ingress{a, b}).route("x", "/")
	if !ok || be.service != "b-default" {
		t.Errorf("default backend = %+v, %v; want b-default (the older ingress)", be, ok)
	}
}
