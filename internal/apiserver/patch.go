package apiserver

import (
	"errors"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/gantry-dev/gantry/internal/api"
)

// handlePatch applies a JSON patch, merge patch, strategic merge patch or
// server-side apply to the current object (apply also creates).
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, req *request) error {
	if req.name == "" {
		return apierrors.NewMethodNotSupported(req.groupResource(), "PATCH on a collection")
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		return err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	pt := types.PatchType(ct)
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
	default:
		return unsupportedMediaType(ct)
	}
	patch, err := s.readBody(r)
	if err != nil {
		return err
	}
	if pt == types.ApplyYAMLPatchType {
		return s.handleApply(w, r, req, patch, opts)
	}
	manager := managerFor(r, opts)
	if req.subresource == api.SubScale {
		return s.patchScale(w, r, req, pt, patch, opts)
	}
	out, err := s.update(r.Context(), req, 0, opts, func(current runtime.Object) (runtime.Object, error) {
		next, err := s.patchObject(w, r, req.res, current, pt, patch)
		if err != nil {
			return nil, err
		}
		if err := s.checkNamespace(r.Context(), req, next, false); err != nil {
			return nil, err
		}
		nm := objectMeta(next)
		if nm.GetName() != req.name {
			return nil, badRequest("the name of the object (%s) does not match the name on the URL (%s)", nm.GetName(), req.name)
		}
		if rv := nm.GetResourceVersion(); rv != "" && rv != objectMeta(current).GetResourceVersion() {
			return nil, apierrors.NewConflict(req.groupResource(), req.name, errors.New(errMsgModified))
		}
		return next, s.applyUpdate(req, next, current, manager)
	})
	if err != nil {
		return err
	}
	s.writeObject(w, r, http.StatusOK, req.res, out)
	return nil
}

// patchObject returns current with the patch applied, decoded as a new object.
func (s *Server) patchObject(w http.ResponseWriter, r *http.Request, res *api.Resource, current runtime.Object, pt types.PatchType, patch []byte) (runtime.Object, error) {
	original, err := runtime.Encode(s.jsonEncoder(res), current)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var patched []byte
	switch pt {
	case types.JSONPatchType:
		p, err := decodeJSONPatch(patch)
		if err != nil {
			return nil, err
		}
		patched, err = applyJSONPatch(p, original)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", res.GVR.GroupResource(), objectMeta(current).GetName(), err.Error(), 0, false)
		}
	case types.MergePatchType:
		patched, err = jsonpatch.MergePatch(original, patch)
		if err != nil {
			return nil, badRequest("%v", err)
		}
	case types.StrategicMergePatchType:
		patched, err = strategicpatch.StrategicMergePatch(original, patch, res.New())
		if err != nil {
			if mergepatch.IsPreconditionFailed(err) {
				return nil, apierrors.NewInvalid(res.GroupVersionKind().GroupKind(), objectMeta(current).GetName(), nil)
			}
			return nil, badRequest("%v", err)
		}
	}
	return s.decodeObject(w, r, res, patched, mediaJSON)
}

// maxJSONPatchOperations bounds the operations of one JSON patch, as in
// kube-apiserver.
const maxJSONPatchOperations = 10000

// decodeJSONPatch decodes a JSON patch and checks what the library would
// otherwise trip over: add, replace and test need a value (without one the
// library dereferences nil).
func decodeJSONPatch(data []byte) (jsonpatch.Patch, error) {
	p, err := jsonpatch.DecodePatch(data)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if len(p) > maxJSONPatchOperations {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(p)))
	}
	for i, op := range p {
		switch kind := op.Kind(); kind {
		case "add", "replace", "test":
			if op["value"] == nil {
				return nil, badRequest("json patch operation %d (%s) has no value", i, kind)
			}
		}
	}
	return p, nil
}

// applyJSONPatch applies p to doc. A panic inside the library on some
// input it did not anticipate is an error of that input, not of the server.
func applyJSONPatch(p jsonpatch.Patch, doc []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("the patch cannot be applied: %v", r)
		}
	}()
	return p.Apply(doc)
}

func (s *Server) jsonEncoder(res *api.Resource) runtime.Encoder {
	info, _ := s.serializerFor(mediaJSON)
	return s.codecs.WithoutConversion().EncoderForVersion(info.Serializer, res.GVR.GroupVersion())
}

// handleApply runs server-side apply. A missing object is created.
func (s *Server) handleApply(w http.ResponseWriter, r *http.Request, req *request, patch []byte, opts writeOptions) error {
	if opts.fieldManager == "" {
		return badRequest("PATCH %s: fieldManager is required for apply requests", r.URL.Path)
	}
	fm := s.fieldManager(req.res, req.subresource)
	if fm == nil {
		return unsupportedMediaType(string(types.ApplyYAMLPatchType))
	}
	force := r.URL.Query().Get("force") == "true"
	applied := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(patch, &applied.Object); err != nil {
		return badRequest("error decoding YAML: %v", err)
	}
	if applied.Object == nil {
		return badRequest("apply patch is empty")
	}
	gvk := req.res.GroupVersionKind()
	if applied.GetAPIVersion() != gvk.GroupVersion().String() || applied.GetKind() != gvk.Kind {
		return badRequest("the API version in the data (%s) does not match the expected API version (%s)", applied.GetAPIVersion(), gvk.GroupVersion())
	}
	if applied.GetName() != "" && applied.GetName() != req.name {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", applied.GetName(), req.name)
	}
	if ns := applied.GetNamespace(); req.res.Namespaced && ns != "" && ns != req.namespace {
		return badRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	ctx := r.Context()
	_, err := req.store.get(ctx, req.namespace, req.name)
	if apierrors.IsNotFound(err) && req.subresource == "" {
		live := req.res.New()
		m := objectMeta(live)
		m.SetName(req.name)
		m.SetNamespace(req.namespace)
		obj, err := fm.Apply(live, applied, opts.fieldManager, force)
		if err != nil {
			return applyError(err)
		}
		if err := s.checkNamespace(ctx, req, obj, true); err != nil {
			return err
		}
		out, err := s.create(ctx, req, obj, opts, "")
		if err != nil {
			return err
		}
		s.writeObject(w, r, http.StatusCreated, req.res, out)
		return nil
	} else if err != nil {
		return err
	}
	// A resourceVersion in the applied configuration is a precondition.
	expected, err := parseRV(applied.GetResourceVersion())
	if err != nil {
		return err
	}
	out, err := s.update(ctx, req, expected, opts, func(current runtime.Object) (runtime.Object, error) {
		next, err := fm.Apply(current.DeepCopyObject(), applied, opts.fieldManager, force)
		if err != nil {
			return nil, applyError(err)
		}
		if req.res.Default != nil {
			req.res.Default(next) // before judging what changed, as applyUpdate
		}
		switch req.subresource {
		case api.SubStatus:
			prepareForStatusUpdate(next, current)
		case api.SubEphemeralContainers:
			prepareForEphemeralContainersUpdate(next, current)
		default:
			prepareForUpdate(req.res, next, current)
		}
		return next, s.validateUpdate(req, next, current)
	})
	if err != nil {
		return err
	}
	s.writeObject(w, r, http.StatusOK, req.res, out)
	return nil
}

// validateUpdate runs the resource's create and update validation.
func (s *Server) validateUpdate(req *request, obj, current runtime.Object) error {
	res := req.res
	// ValidateUpdate is complete on its own (it includes the create rules
	// that still apply, as in Kubernetes); Validate is the fallback for a
	// resource without update rules.
	var errs field.ErrorList
	switch {
	case req.subresource == api.SubEphemeralContainers:
		errs = api.ValidateEphemeralContainersUpdate(obj.(*corev1.Pod), current.(*corev1.Pod))
	case res.ValidateUpdate != nil:
		errs = res.ValidateUpdate(obj, current)
	case res.Validate != nil:
		errs = res.Validate(obj)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(res.GroupVersionKind().GroupKind(), objectMeta(obj).GetName(), errs)
	}
	return nil
}

// applyError passes through API errors from the field manager (apply
// conflicts are 409 Conflict) and makes anything else a 400.
func applyError(err error) error {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return err
	}
	return apierrors.NewBadRequest(err.Error())
}
