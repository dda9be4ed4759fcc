package apiserver

import (
	"mime"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
)

const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

// outputFormat is what the client accepts.
type outputFormat struct {
	mediaType string // mediaJSON, mediaYAML or mediaProtobuf
	// as is "Table", "PartialObjectMetadata" or "PartialObjectMetadataList"
	// when the client asked for a meta.k8s.io transformation.
	as string
}

// negotiate picks the first acceptable media type from the Accept header,
// as kube-apiserver does: clauses are tried in order, a clause with
// as=Table etc. is only honoured for g=meta.k8s.io and v1/v1beta1.
func negotiate(r *http.Request) outputFormat {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return outputFormat{mediaType: mediaJSON}
	}
	for _, clause := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil {
			continue
		}
		var f outputFormat
		switch mt {
		case mediaJSON, "*/*", "application/*":
			f.mediaType = mediaJSON
		case mediaYAML:
			f.mediaType = mediaYAML
		case mediaProtobuf:
			f.mediaType = mediaProtobuf
		default:
			continue
		}
		if as := params["as"]; as != "" {
			if params["g"] != "meta.k8s.io" || (params["v"] != "v1" && params["v"] != "v1beta1") {
				continue
			}
			switch as {
			case "Table", "PartialObjectMetadata", "PartialObjectMetadataList":
			default:
				continue
			}
			if as == "Table" && f.mediaType == mediaProtobuf {
				continue
			}
			f.as = as
		}
		return f
	}
	return outputFormat{mediaType: mediaJSON}
}

// serializerFor returns the serializer for a request body's Content-Type.
func (s *Server) serializerFor(contentType string) (runtime.SerializerInfo, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt == "" {
		mt = mediaJSON
	}
	for _, info := range s.codecs.SupportedMediaTypes() {
		if info.MediaType == mt {
			return info, true
		}
	}
	return runtime.SerializerInfo{}, false
}
