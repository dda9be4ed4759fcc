package agent_test

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/gantry-dev/gantry/internal/container/fake"

	"github.com/gantry-dev/gantry/internal/container"
)

func fakeFilter(p *corev1.Pod) container.SandboxFilter {
	return container.SandboxFilter{PodUID: string(p.UID)}
}

func containerFilter(p *corev1.Pod) container.ContainerFilter {
	return container.ContainerFilter{PodUID: string(p.UID)}
}

func parameterCodec() runtime.ParameterCodec { return scheme.ParameterCodec }

func fakeImage() fake.Image { return fake.Image{Program: server(8080)} }
