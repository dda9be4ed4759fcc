package apiserver

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantry-dev/gantry/internal/api"
)

var metaV1 = schema.GroupVersion{Group: "meta.k8s.io", Version: "v1"}

// writeObject encodes obj (a typed object or list of res) in the format the
// client negotiated, with the given HTTP status code.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, res *api.Resource, obj runtime.Object) {
	f := negotiate(r)
	out, gv := obj, res.GVR.GroupVersion()
	switch f.as {
	case "Table":
		t, err := s.toTable(r, res, obj)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out, gv = t, metaV1
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		out, gv = toPartialMetadata(obj), metaV1
	}
	s.encode(w, f.mediaType, code, out, gv)
}

// writeRaw encodes a meta.k8s.io or other self-describing object (Status, Scale…).
func (s *Server) writeRaw(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object, gv schema.GroupVersion) {
	s.encode(w, negotiate(r).mediaType, code, obj, gv)
}

func (s *Server) encode(w http.ResponseWriter, mediaType string, code int, obj runtime.Object, gv schema.GroupVersion) {
	info, ok := s.serializerFor(mediaType)
	if !ok {
		info, _ = s.serializerFor(mediaJSON)
	}
	enc := s.codecs.WithoutConversion().EncoderForVersion(info.Serializer, gv)
	w.Header().Set("Content-Type", info.MediaType)
	w.WriteHeader(code)
	if !meta.IsListType(obj) {
		if err := enc.Encode(obj, w); err != nil {
			s.log.Debug("writing response", "err", err)
		}
		return
	}
	// Lists are encoded item by item (api.NewCodecs); gather the small
	// writes into chunks of a few HTTP/2 frames.
	s.writeBuffered(w, func(bw io.Writer) error { return enc.Encode(obj, bw) })
}

// writeBuffered writes a list response through one of the recycled
// listChunk buffers. Errors are the client's going away: logged only.
func (s *Server) writeBuffered(w io.Writer, write func(io.Writer) error) {
	bw := s.listWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	s.listWriters.Put(bw)
	if err != nil {
		s.log.Debug("writing response", "err", err)
	}
}

// listChunk is the write buffer of an encoded list: four HTTP/2 DATA
// frames of the default maximum size (16 KiB).
const listChunk = 64 << 10

// writeError writes err as a metav1.Status.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.As(err, new(noRoute)) {
		http.NotFound(w, r)
		return
	}
	st := toStatus(err)
	st.Kind, st.APIVersion = "Status", "v1"
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	if code >= 500 {
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	mt := negotiate(r).mediaType
	if mt == mediaYAML {
		mt = mediaJSON
	}
	s.encode(w, mt, code, st, schema.GroupVersion{Version: "v1"})
}

// toPartialMetadata strips objects down to their metadata.
func toPartialMetadata(obj runtime.Object) runtime.Object {
	if meta.IsListType(obj) {
		list := &metav1.PartialObjectMetadataList{}
		if lm, err := meta.ListAccessor(obj); err == nil {
			list.ResourceVersion = lm.GetResourceVersion()
			list.Continue = lm.GetContinue()
			list.RemainingItemCount = lm.GetRemainingItemCount()
		}
		_ = meta.EachListItem(obj, func(item runtime.Object) error {
			list.Items = append(list.Items, *partialOf(item))
			return nil
		})
		return list
	}
	return partialOf(obj)
}

func partialOf(obj runtime.Object) *metav1.PartialObjectMetadata {
	p := &metav1.PartialObjectMetadata{}
	if m, err := meta.Accessor(obj); err == nil {
		p.ObjectMeta = *objectMetaCopy(m)
	}
	// As in kube-apiserver, list items and single objects alike are
	// meta.k8s.io/v1 PartialObjectMetadata.
	p.APIVersion, p.Kind = metaV1.String(), "PartialObjectMetadata"
	return p
}

func objectMetaCopy(m metav1.Object) *metav1.ObjectMeta {
	if om, ok := m.(*metav1.ObjectMeta); ok {
		return om.DeepCopy()
	}
	return &metav1.ObjectMeta{
		Name: m.GetName(), GenerateName: m.GetGenerateName(), Namespace: m.GetNamespace(),
		UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(), Generation: m.GetGeneration(),
		CreationTimestamp: m.GetCreationTimestamp(), DeletionTimestamp: m.GetDeletionTimestamp(),
		DeletionGracePeriodSeconds: m.GetDeletionGracePeriodSeconds(), Labels: m.GetLabels(),
		Annotations: m.GetAnnotations(), OwnerReferences: m.GetOwnerReferences(),
		Finalizers: m.GetFinalizers(), ManagedFields: m.GetManagedFields(),
	}
}

// toTable renders obj (one object or a list) as a metav1.Table.
func (s *Server) toTable(r *http.Request, res *api.Resource, obj runtime.Object) (*metav1.Table, error) {
	now := time.Now()
	t := &metav1.Table{}
	conv := res.Table
	if conv == nil {
		conv = defaultTable()
	}
	t.ColumnDefinitions = conv.Columns
	includeObject := r.URL.Query().Get("includeObject") // None, Metadata (default), Object
	addRow := func(item runtime.Object) {
		row := metav1.TableRow{Cells: conv.Row(item, now)}
		switch includeObject {
		case "None":
		case "Object":
			row.Object = runtime.RawExtension{Object: withKind(item, res)}
		default:
			row.Object = runtime.RawExtension{Object: partialOf(item)}
		}
		t.Rows = append(t.Rows, row)
	}
	if meta.IsListType(obj) {
		if lm, err := meta.ListAccessor(obj); err == nil {
			t.ResourceVersion = lm.GetResourceVersion()
			t.Continue = lm.GetContinue()
			t.RemainingItemCount = lm.GetRemainingItemCount()
		}
		if err := meta.EachListItem(obj, func(item runtime.Object) error { addRow(item); return nil }); err != nil {
			return nil, err
		}
	} else {
		if m, err := meta.Accessor(obj); err == nil {
			t.ResourceVersion = m.GetResourceVersion()
		}
		addRow(obj)
	}
	return t, nil
}

func withKind(item runtime.Object, res *api.Resource) runtime.Object {
	item.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	return item
}

func defaultTable() *api.TableConvertor {
	om := metav1.ObjectMeta{}.SwaggerDoc()
	return &api.TableConvertor{
		Columns: []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: om["name"]},
			{Name: "Created At", Type: "date", Description: om["creationTimestamp"]},
		},
		Row: func(obj runtime.Object, _ time.Time) []interface{} {
			m, _ := meta.Accessor(obj)
			return []interface{}{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}
		},
	}
}

// writeJSON writes v with encoding/json (discovery and version documents
// are plain JSON, whatever the client accepts).
func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
