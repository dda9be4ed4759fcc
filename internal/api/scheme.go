package api

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
)

// NewScheme returns a scheme with every type Gantry serves registered,
// together with meta/v1 options and Table/Status types.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		panic(err) // programming error: the built-in types always register
	}
	return s
}

// NewCodecs returns the codec factory for s (JSON, YAML and protobuf).
func NewCodecs(s *runtime.Scheme) serializer.CodecFactory {
	return serializer.NewCodecFactory(s, serializer.EnableStrict)
}
