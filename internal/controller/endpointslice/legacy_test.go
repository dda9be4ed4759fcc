package endpointslice

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func addrs(prefix string, n int) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, n)
	for i := range out {
		out[i].IP = fmt.Sprintf("%s.%d.%d", prefix, i/250, i%250)
	}
	return out
}

func TestTruncateSubsets(t *testing.T) {
	tests := []struct {
		name                  string
		subsets               []corev1.EndpointSubset
		truncated             bool
		wantReady, wantNotRdy []int
	}{
		{"under capacity", []corev1.EndpointSubset{{Addresses: addrs("10.0", 600), NotReadyAddresses: addrs("10.1", 400)}}, false, []int{600}, []int{400}},
		{"not-ready cut first", []corev1.EndpointSubset{{Addresses: addrs("10.0", 900), NotReadyAddresses: addrs("10.1", 300)}}, true, []int{900}, []int{100}},
		{"ready cut proportionally, not-ready dropped", []corev1.EndpointSubset{
			{Addresses: addrs("10.0", 1500), NotReadyAddresses: addrs("10.1", 10)},
			{Addresses: addrs("10.2", 500)},
		}, true, []int{750, 250}, []int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncateSubsets(tt.subsets); got != tt.truncated {
				t.Fatalf("truncated = %v, want %v", got, tt.truncated)
			}
			total := 0
			for i, s := range tt.subsets {
				if len(s.Addresses) != tt.wantReady[i] || len(s.NotReadyAddresses) != tt.wantNotRdy[i] {
					t.Errorf("subset %d: %d ready, %d not ready; want %d, %d", i, len(s.Addresses), len(s.NotReadyAddresses), tt.wantReady[i], tt.wantNotRdy[i])
				}
				total += len(s.Addresses) + len(s.NotReadyAddresses)
			}
			if total > maxEndpointsCapacity {
				t.Errorf("%d addresses kept, over %d", total, maxEndpointsCapacity)
			}
		})
	}
}
