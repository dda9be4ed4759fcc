package agent_test

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/container"
)

func fakeFilter(p *corev1.Pod) container.SandboxFilter {
	return container.SandboxFilter{PodUID: string(p.UID)}
}

func containerFilter(p *corev1.Pod) container.ContainerFilter {
	return container.ContainerFilter{PodUID: string(p.UID)}
}
