package nodeports_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/nodeports"
	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

func TestFilter(t *testing.T) {
	const reason = "node(s) didn't have free ports for the requested pod ports"
	node := func() *framework.NodeInfo {
		return st.Node("n").Info(st.Pod("web").HostPort(80, corev1.ProtocolTCP, "").HostPort(53, corev1.ProtocolUDP, "10.0.0.1").Obj())
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"no host ports", st.Pod("p").Obj(), ""},
		{"free port", st.Pod("p").HostPort(8080, corev1.ProtocolTCP, "").Obj(), ""},
		{"same port and protocol", st.Pod("p").HostPort(80, corev1.ProtocolTCP, "").Obj(), reason},
		{"same port, other protocol", st.Pod("p").HostPort(80, corev1.ProtocolUDP, "").Obj(), ""},
		{"specific IP against wildcard", st.Pod("p").HostPort(80, corev1.ProtocolTCP, "10.0.0.2").Obj(), reason},
		{"wildcard against specific IP", st.Pod("p").HostPort(53, corev1.ProtocolUDP, "").Obj(), reason},
		{"other specific IP", st.Pod("p").HostPort(53, corev1.ProtocolUDP, "10.0.0.2").Obj(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Filter(nodeports.New(), framework.NewPodInfo(tt.pod), node())
			if err != nil {
				t.Fatal(err)
			}
			if got["n"] != tt.want {
				t.Errorf("got %q, want %q", got["n"], tt.want)
			}
		})
	}
}
