package api

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
)

func defaultEndpointSlice(es *discoveryv1.EndpointSlice) {
	for i := range es.Ports {
		if es.Ports[i].Name == nil {
			es.Ports[i].Name = strategyPtr("")
		}
		if es.Ports[i].Protocol == nil {
			es.Ports[i].Protocol = strategyPtr(corev1.ProtocolTCP)
		}
	}
}

func defaultPriorityClass(pc *schedulingv1.PriorityClass) {
	if pc.PreemptionPolicy == nil {
		pc.PreemptionPolicy = strategyPtr(corev1.PreemptLowerPriority)
	}
}
