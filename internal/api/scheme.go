package api

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	// meta.k8s.io/v1: Table, PartialObjectMetadata(List); and the option
	// and Status types every group version shares.
	if err := metav1.AddMetaToScheme(s); err != nil {
		panic(err)
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	metav1.AddToGroupVersion(s, metav1.SchemeGroupVersion)
	return s
}

// NewCodecs returns the codec factory for s (JSON, YAML and protobuf).
// Lists are encoded to JSON and protobuf one item at a time, as
// kube-apiserver does (StreamingCollectionEncodingToJSON/ToProtobuf): the
// bytes are the same as encoding the whole list at once, without first
// building the whole body in one buffer that grows by copying.
func NewCodecs(s *runtime.Scheme) serializer.CodecFactory {
	return serializer.NewCodecFactory(s, serializer.EnableStrict,
		serializer.WithStreamingCollectionEncodingToJSON(),
		serializer.WithStreamingCollectionEncodingToProtobuf())
}
