package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// cachedListable reports whether a list answered as f can be written from
// the item cache: plain JSON or protobuf lists, not tables or metadata.
func (s *Server) cachedListable(f outputFormat) bool {
	return s.items != nil && f.as == "" && (f.mediaType == mediaJSON || f.mediaType == mediaProtobuf)
}

// writeCachedList writes l as a list in mediaType (JSON or protobuf),
// taking each item's encoding from the item cache and filling the cache
// with those it encodes. The bytes are the same the codec's streaming list
// encoders write for the decoded list.
func (s *Server) writeCachedList(w http.ResponseWriter, req *request, mediaType string, l *listed) error {
	gv := req.res.GVR.GroupVersion()
	variant := mediaType + " " + gv.String()
	items := make([][]byte, len(l.kvs))
	for i, kv := range l.kvs {
		data := s.items.get(kv.Key, kv.Revision, variant)
		if data == nil {
			var err error
			obj := l.objs[i]
			if obj == nil {
				if obj, err = req.store.decode(kv); err != nil {
					return apierrors.NewInternalError(err)
				}
			}
			if data, err = encodeItem(mediaType, obj); err != nil {
				return apierrors.NewInternalError(err)
			}
			s.items.put(kv.Key, kv.Revision, variant, data)
		}
		items[i] = data
	}
	kind := req.res.Kind + "List"
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(http.StatusOK)
	s.writeBuffered(w, func(bw io.Writer) error {
		if mediaType == mediaProtobuf {
			return writeProtobufList(bw, gv.String(), kind, &l.meta, items)
		}
		return writeJSONList(bw, gv.String(), kind, &l.meta, items)
	})
	return nil
}

// encodeItem encodes obj as an item of a list: JSON as encoding/json
// writes it, protobuf as the object's own message (without the envelope
// that a whole object carries).
func encodeItem(mediaType string, obj runtime.Object) ([]byte, error) {
	if mediaType == mediaJSON {
		return json.Marshal(obj)
	}
	m, ok := obj.(interface{ Marshal() ([]byte, error) })
	if !ok {
		return nil, fmt.Errorf("%T has no protobuf encoding", obj)
	}
	return m.Marshal()
}

// writeJSONList writes the list document
// {"kind":…,"apiVersion":…,"metadata":…,"items":[…]} and a newline.
func writeJSONList(w io.Writer, apiVersion, kind string, lm *metav1.ListMeta, items [][]byte) error {
	head, err := json.Marshal(struct {
		Kind       string           `json:"kind"`
		APIVersion string           `json:"apiVersion"`
		Metadata   *metav1.ListMeta `json:"metadata"`
	}{kind, apiVersion, lm})
	if err != nil {
		return err
	}
	// head ends in "}"; the items go before it.
	if _, err := w.Write(head[:len(head)-1]); err != nil {
		return err
	}
	if _, err := io.WriteString(w, `,"items":[`); err != nil {
		return err
	}
	for i, item := range items {
		if i > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		if _, err := w.Write(item); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, "]}\n")
	return err
}

// protobufPrefix starts every Kubernetes protobuf document ("k8s\x00").
var protobufPrefix = []byte{0x6b, 0x38, 0x73, 0x00}

// writeProtobufList writes the list as Kubernetes' protobuf envelope
// (runtime.Unknown) around the list message: ListMeta as field 1, each
// item as field 2.
func writeProtobufList(w io.Writer, apiVersion, kind string, lm *metav1.ListMeta, items [][]byte) error {
	meta, err := lm.Marshal()
	if err != nil {
		return err
	}
	size := fieldSize(len(meta))
	for _, item := range items {
		size += fieldSize(len(item))
	}
	if _, err := w.Write(protobufPrefix); err != nil {
		return err
	}
	unk := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: apiVersion, Kind: kind}}
	_, err = unk.MarshalToWriter(w, size, func(w io.Writer) (int, error) {
		n, err := writeField(w, 0x0a, meta)
		if err != nil {
			return n, err
		}
		for _, item := range items {
			m, err := writeField(w, 0x12, item)
			n += m
			if err != nil {
				return n, err
			}
		}
		return n, nil
	})
	return err
}

// fieldSize is the size of a length-delimited protobuf field of n bytes
// with a one-byte tag.
func fieldSize(n int) int {
	return 1 + (bits.Len64(uint64(n)|1)+6)/7 + n
}

// writeField writes a length-delimited protobuf field.
func writeField(w io.Writer, tag byte, data []byte) (int, error) {
	var head [11]byte
	head[0] = tag
	n := 1
	for v := uint64(len(data)); ; v >>= 7 {
		if v < 0x80 {
			head[n] = byte(v)
			n++
			break
		}
		head[n] = byte(v) | 0x80
		n++
	}
	if _, err := w.Write(head[:n]); err != nil {
		return 0, err
	}
	if _, err := w.Write(data); err != nil {
		return n, err
	}
	return n + len(data), nil
}
