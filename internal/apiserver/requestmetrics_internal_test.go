package apiserver

import (
	"net/http"
	"testing"
)

// TestMetricVerb checks the verbs of kube-apiserver's request metrics,
// those that do not come from the HTTP method alone above all.
func TestMetricVerb(t *testing.T) {
	tests := []struct {
		method, contentType string
		info                requestInfo
		want                string
	}{
		{method: "GET", info: requestInfo{verb: "get", resource: "pods", subresource: "exec"}, want: "CONNECT"}, // WebSocket
		{method: "POST", info: requestInfo{verb: "create", resource: "pods", subresource: "exec"}, want: "CONNECT"},
		{method: "POST", info: requestInfo{verb: "create", resource: "pods", subresource: "portforward"}, want: "CONNECT"},
		{method: "GET", info: requestInfo{verb: "get", resource: "pods", subresource: "log"}, want: "GET"},
		{method: "GET", info: requestInfo{verb: "list", resource: "pods"}, want: "LIST"},
		{method: "GET", info: requestInfo{verb: "watch", resource: "pods"}, want: "WATCH"},
		{method: "PATCH", contentType: "application/apply-patch+yaml", info: requestInfo{verb: "patch", resource: "pods"}, want: "APPLY"},
		{method: "PATCH", contentType: "application/merge-patch+json", info: requestInfo{verb: "patch", resource: "pods"}, want: "PATCH"},
		{method: "DELETE", info: requestInfo{verb: "deletecollection", resource: "pods"}, want: "DELETE"},
	}
	for _, tt := range tests {
		r, err := http.NewRequest(tt.method, "/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", tt.contentType)
		if got := metricVerb(tt.info, r); got != tt.want {
			t.Errorf("%s %+v: %s, want %s", tt.method, tt.info, got, tt.want)
		}
	}
}
