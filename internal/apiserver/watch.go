package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gantry-dev/gantry/internal/storage"
)

// initialEventsEnd is the annotation on the bookmark that ends the initial
// events of a watch-list request (sendInitialEvents=true).
const initialEventsEnd = "k8s.io/initial-events-end"

// handleWatch streams changes of req's collection.
//
// Where the stream starts, as in Kubernetes:
//   - sendInitialEvents=true, or resourceVersion "" or "0": synthetic ADDED
//     events for every matching object, then changes after that snapshot
//     (with sendInitialEvents a bookmark annotated k8s.io/initial-events-end
//     marks the end of the initial events);
//   - resourceVersion N: every change after N, or an ERROR event with 410
//     Gone when N has been compacted.
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request, req *request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	m, err := newMatcher(req.res, opts)
	if err != nil {
		return err
	}
	if req.name != "" { // GET /pods/name?watch=true: watch one object
		m.fields = andName(m.fields, req.name)
	}
	sendInitial := opts.SendInitialEvents != nil && *opts.SendInitialEvents
	if opts.SendInitialEvents != nil {
		if !opts.AllowWatchBookmarks {
			return apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "ListOptions"}, "", nil)
		}
	}
	startRV, err := parseRV(opts.ResourceVersion)
	if err != nil {
		return err
	}
	timeout := time.Duration(30+rand.IntN(30)) * time.Minute
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	var initial []runtime.Object
	if sendInitial || startRV == 0 {
		list, err := s.list(r.WithContext(ctx), req, &metainternalversion.ListOptions{LabelSelector: m.labels, FieldSelector: m.fields})
		if err != nil {
			return err
		}
		lm := objectListMeta(list)
		startRV, _ = strconv.ParseInt(lm.GetResourceVersion(), 10, 64)
		initial = listItems(list)
	}
	sw, err := s.cfg.Storage.Watch(ctx, req.store.prefix(req.namespace), startRV)
	ew, encErr := s.newEventWriter(w, r, req)
	if encErr != nil {
		return encErr
	}
	if err != nil {
		if errors.Is(err, storage.ErrCompacted) {
			ew.writeStatus(apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", startRV)))
			return nil
		}
		return storageError(err, req.groupResource(), "")
	}
	// The response starts now: status 200 and headers go out before any event.
	ew.start()
	matched := map[string]bool{} // objects this watcher has seen as matching
	for _, obj := range initial {
		matched[keyOf(obj)] = true
		if !ew.write(watch.Added, obj) {
			return nil
		}
	}
	if sendInitial {
		bm := s.bookmark(req, startRV)
		objectMeta(bm).SetAnnotations(map[string]string{initialEventsEnd: "true"})
		if !ew.write(watch.Bookmark, bm) {
			return nil
		}
	}
	var ticker <-chan time.Time
	if opts.AllowWatchBookmarks {
		t := time.NewTicker(s.cfg.BookmarkInterval)
		defer t.Stop()
		ticker = t.C
	}
	lastRV := startRV
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker:
			_ = sw.RequestProgress(ctx)
		case ev, ok := <-sw.Events():
			if !ok {
				if errors.Is(sw.Err(), storage.ErrCompacted) {
					ew.writeStatus(apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", lastRV)))
				}
				return nil
			}
			lastRV = ev.Revision
			if ev.Type == storage.Progress {
				if opts.AllowWatchBookmarks && !ew.write(watch.Bookmark, s.bookmark(req, ev.Revision)) {
					return nil
				}
				continue
			}
			obj, err := req.store.decode(ev.KV)
			if err != nil {
				s.log.Warn("watch: undecodable object", "key", ev.KV.Key, "err", err)
				continue
			}
			key := ev.KV.Key
			now := m.matches(obj)
			var typ watch.EventType
			switch {
			case ev.Type == storage.Deleted && (now || matched[key]):
				typ = watch.Deleted
				delete(matched, key)
			case ev.Type == storage.Deleted:
				continue
			case now && matched[key]:
				typ = watch.Modified
			case now:
				typ = watch.Added
				if ev.Type == storage.Modified && m.everything() {
					typ = watch.Modified
				}
				matched[key] = true
			case matched[key]: // no longer matches the selector
				typ = watch.Deleted
				delete(matched, key)
			default:
				continue
			}
			if !ew.write(typ, obj) {
				return nil
			}
		}
	}
}

func keyOf(obj runtime.Object) string {
	m := objectMeta(obj)
	return m.GetNamespace() + "/" + m.GetName()
}

// bookmark returns an object of req's kind carrying only a resourceVersion.
func (s *Server) bookmark(req *request, rev int64) runtime.Object {
	obj := req.res.New()
	setRV(obj, rev)
	return obj
}

// eventWriter encodes watch events in the negotiated format.
type eventWriter struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	req     *request
	flusher http.Flusher
	enc     streaming.Encoder
	objEnc  runtime.Encoder
	gv      schema.GroupVersion
	asTable bool
	buf     bytes.Buffer
}

func (s *Server) newEventWriter(w http.ResponseWriter, r *http.Request, req *request) (*eventWriter, error) {
	f := negotiate(r)
	mt := f.mediaType
	if mt == mediaYAML {
		mt = mediaJSON // watch has no YAML stream framing
	}
	info, ok := s.serializerFor(mt)
	if !ok || info.StreamSerializer == nil {
		return nil, newStatusError(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable, "no stream serializer for "+mt)
	}
	flusher, _ := w.(http.Flusher)
	ew := &eventWriter{s: s, w: w, r: r, req: req, flusher: flusher, gv: req.res.GVR.GroupVersion(), asTable: f.as == "Table"}
	if ew.asTable {
		ew.gv = metaV1
	}
	ew.objEnc = s.codecs.WithoutConversion().EncoderForVersion(info.Serializer, ew.gv)
	w.Header().Set("Content-Type", info.MediaType)
	if mt == mediaJSON {
		w.Header().Set("Content-Type", mediaJSON)
	}
	ew.enc = streaming.NewEncoder(info.StreamSerializer.Framer.NewFrameWriter(w), info.StreamSerializer.Serializer)
	return ew, nil
}

func (ew *eventWriter) start() {
	ew.w.Header().Set("Transfer-Encoding", "chunked")
	ew.w.WriteHeader(http.StatusOK)
	if ew.flusher != nil {
		ew.flusher.Flush()
	}
}

// write sends one event; false means the client is gone.
func (ew *eventWriter) write(typ watch.EventType, obj runtime.Object) bool {
	out := obj
	if ew.asTable && typ != watch.Bookmark {
		t, err := ew.s.toTable(ew.r, ew.req.res, obj)
		if err != nil {
			return false
		}
		out = t
	} else if ew.asTable {
		t := &metav1.Table{}
		t.ResourceVersion = objectMeta(obj).GetResourceVersion()
		out = t
	}
	ew.buf.Reset()
	if err := ew.objEnc.Encode(out, &ew.buf); err != nil {
		ew.s.log.Warn("watch: encoding object", "err", err)
		return false
	}
	ev := &metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: ew.buf.Bytes()}}
	if err := ew.enc.Encode(ev); err != nil {
		return false
	}
	if ew.flusher != nil {
		ew.flusher.Flush()
	}
	return true
}

// writeStatus sends an ERROR event (used for 410 Gone). It starts the
// response if nothing has been written yet.
func (ew *eventWriter) writeStatus(err error) {
	st := toStatus(err)
	st.Kind, st.APIVersion = "Status", "v1"
	ew.start()
	ew.buf.Reset()
	enc := ew.s.codecs.WithoutConversion().EncoderForVersion(ew.s.codecs.LegacyCodec(), schema.GroupVersion{Version: "v1"})
	_ = enc
	data, mErr := runtime.Encode(ew.s.codecs.LegacyCodec(schema.GroupVersion{Version: "v1"}), st)
	if mErr != nil {
		return
	}
	_ = ew.enc.Encode(&metav1.WatchEvent{Type: string(watch.Error), Object: runtime.RawExtension{Raw: data}})
	if ew.flusher != nil {
		ew.flusher.Flush()
	}
}
