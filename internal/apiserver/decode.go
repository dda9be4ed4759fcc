package apiserver

import (
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantry-dev/gantry/internal/api"
)

// Field validation modes (the fieldValidation query parameter).
const (
	validationIgnore = "Ignore"
	validationWarn   = "Warn"
	validationStrict = "Strict"
)

func fieldValidationMode(r *http.Request) (string, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "":
		return validationWarn, nil
	case validationIgnore, validationWarn, validationStrict:
		return v, nil
	default:
		return "", badRequest("fieldValidation parameter unsupported: %v", v)
	}
}

// decodeObject decodes a request body of content type ct into a new object
// of res, applying the field validation mode. Unknown or duplicate fields
// are an error in Strict mode and Warning headers in Warn mode.
func (s *Server) decodeObject(w http.ResponseWriter, r *http.Request, res *api.Resource, data []byte, ct string) (runtime.Object, error) {
	mode, err := fieldValidationMode(r)
	if err != nil {
		return nil, err
	}
	info, ok := s.serializerFor(ct)
	if !ok {
		return nil, unsupportedMediaType(ct)
	}
	// The codecs are strict (EnableStrict): every decoder reports unknown
	// and duplicate fields as a strict decoding error next to a fully
	// decoded object; the mode decides what becomes of them.
	dec := info.Serializer
	if info.StrictSerializer != nil {
		dec = info.StrictSerializer
	}
	into := res.New()
	gvk := res.GroupVersionKind()
	obj, got, err := dec.Decode(data, &gvk, into)
	if err != nil {
		if strict, ok := runtime.AsStrictDecodingError(err); ok && obj != nil {
			switch mode {
			case validationStrict:
				return nil, badRequest("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err)
			case validationWarn:
				for _, e := range strict.Errors() {
					addWarning(w, e.Error())
				}
			}
		} else {
			return nil, decodeError(gvk.Kind, gvk.Version, err)
		}
	}
	if got != nil && (got.Kind != gvk.Kind || got.GroupVersion() != gvk.GroupVersion()) {
		return nil, badRequest("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), gvk.GroupVersion())
	}
	if obj != into {
		return nil, badRequest("the kind in the data (%s) does not match the expected kind (%s)", got.Kind, gvk.Kind)
	}
	return obj, nil
}

func decodeError(kind, version string, err error) error {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		return err
	}
	return badRequest("%s in version %q cannot be handled as a %s: %v", kind, version, kind, err)
}

// addWarning adds a Warning response header as Kubernetes formats them.
func addWarning(w http.ResponseWriter, text string) {
	w.Header().Add("Warning", fmt.Sprintf("299 - %q", text))
}
