package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gantry-dev/gantry/internal/storage"
)

// initialEventsEnd is the annotation on the bookmark that ends the initial
// events of a watch-list request (sendInitialEvents=true).
const initialEventsEnd = "k8s.io/initial-events-end"

// handleWatch streams changes of req's collection.
//
// Where the stream starts, as in Kubernetes:
//   - sendInitialEvents=true, or resourceVersion "" or "0" without
//     sendInitialEvents: synthetic ADDED events for every matching object,
//     then changes after that snapshot (with sendInitialEvents a bookmark
//     annotated k8s.io/initial-events-end marks the end of the initial
//     events);
//   - sendInitialEvents=false: changes after resourceVersion (or now);
//   - resourceVersion N: every change after N, or an ERROR event with 410
//     Gone when N has been compacted.
//
// With a label or field selector, a change is sent as Kubernetes sends it,
// judged by the object before and after the change: ADDED when it starts
// to match, MODIFIED while it matches, DELETED when it stops matching.
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request, req *request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	if err := validateListOptions(opts, true); err != nil {
		return err
	}
	m, err := newMatcher(req.res, opts)
	if err != nil {
		return err
	}
	if req.name != "" { // GET /pods/name?watch=true: watch one object
		m.fields = andName(m.fields, req.name)
	}
	if opts.SendInitialEvents != nil && !opts.AllowWatchBookmarks {
		return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", field.ErrorList{
			field.Forbidden(field.NewPath("allowWatchBookmarks"), "sendInitialEvents requires setting allowWatchBookmarks to true"),
		})
	}
	sendInitial := opts.SendInitialEvents != nil && *opts.SendInitialEvents
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
	if sendInitial || startRV == 0 && opts.SendInitialEvents == nil {
		list, err := s.list(r.WithContext(ctx), req, &metainternalversion.ListOptions{LabelSelector: m.labels, FieldSelector: m.fields})
		if err != nil {
			return err
		}
		listRV, _ := strconv.ParseInt(objectListMeta(list).GetResourceVersion(), 10, 64)
		if listRV < startRV {
			return apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", startRV, listRV), 1)
		}
		startRV = listRV
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
	for _, obj := range initial {
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
			if typ, obj, ok := s.filterEvent(req, m, ev); ok && !ew.writeStored(typ, obj) {
				return nil
			}
		}
	}
}

// filterEvent turns a storage event into the watch event a watcher with
// matcher m sees, if any. Whether the object matched before a
// modification is judged on its previous value; when the store no longer
// has it, the object is assumed to have matched (the watcher then sees
// MODIFIED, or DELETED, which clients ignore for objects they do not know).
// A watcher without selectors sees every event: its object is then not
// decoded here, only if a watch has to encode it (see eventWriter).
func (s *Server) filterEvent(req *request, m *matcher, ev storage.Event) (watch.EventType, *eventObject, bool) {
	obj := &eventObject{store: req.store, kv: ev.KV}
	typ := watch.Modified
	switch ev.Type {
	case storage.Added:
		typ = watch.Added
	case storage.Deleted:
		typ = watch.Deleted
	}
	if m.everything() {
		return typ, obj, true
	}
	o, err := obj.get()
	if err != nil {
		s.log.Warn("watch: undecodable object", "key", ev.KV.Key, "err", err)
		return "", nil, false
	}
	now := m.matches(o)
	if typ != watch.Modified {
		return typ, obj, now
	}
	before := true
	if len(ev.Prev) > 0 {
		prev, err := req.store.decode(storage.KV{Key: ev.KV.Key, Value: ev.Prev, Revision: ev.Revision})
		if err != nil {
			s.log.Warn("watch: undecodable previous object", "key", ev.KV.Key, "err", err)
		} else {
			before = m.matches(prev)
		}
	}
	switch {
	case now && before:
		return watch.Modified, obj, true
	case now:
		return watch.Added, obj, true
	case before:
		// Stopped matching: the watcher sees it deleted, with its new state.
		return watch.Deleted, obj, true
	}
	return "", nil, false
}

// eventObject is the object of a watch event, decoded on first use.
type eventObject struct {
	store *objectStore
	kv    storage.KV
	obj   runtime.Object
	err   error
}

// undecodableError is a stored object that cannot be decoded; its event
// is skipped, the watch goes on.
type undecodableError struct{ err error }

func (e undecodableError) Error() string { return e.err.Error() }

func (e *eventObject) get() (runtime.Object, error) {
	if e.obj == nil && e.err == nil {
		e.obj, e.err = e.store.decode(e.kv)
	}
	return e.obj, e.err
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
	as      string // "", "Table" or "PartialObjectMetadata"
	buf     bytes.Buffer
	// For events shared through Server.events: the media type, the
	// serializer of a metav1.WatchEvent and the stream's frame writer,
	// which enc combines.
	mediaType string
	evEnc     runtime.Encoder
	frames    io.Writer
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
	ew := &eventWriter{s: s, w: w, r: r, req: req, flusher: flusher}
	gv := req.res.GVR.GroupVersion()
	switch f.as {
	case "Table":
		ew.as, gv = "Table", metaV1
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		ew.as, gv = "PartialObjectMetadata", metaV1
	}
	ew.objEnc = s.codecs.WithoutConversion().EncoderForVersion(info.Serializer, gv)
	// As kube-apiserver: JSON streams are plain application/json, others
	// say they are a stream.
	ct := info.MediaType
	if ct != mediaJSON {
		ct += ";stream=watch"
	}
	w.Header().Set("Content-Type", ct)
	ew.mediaType, ew.evEnc = info.MediaType, info.StreamSerializer.Serializer
	ew.frames = info.StreamSerializer.Framer.NewFrameWriter(w)
	ew.enc = streaming.NewEncoder(ew.frames, ew.evEnc)
	return ew, nil
}

func (ew *eventWriter) start() {
	ew.w.WriteHeader(http.StatusOK)
	if ew.flusher != nil {
		ew.flusher.Flush()
	}
}

// write sends one event; false means the client is gone.
func (ew *eventWriter) write(typ watch.EventType, obj runtime.Object) bool {
	out := obj
	switch {
	case ew.as == "Table" && typ != watch.Bookmark:
		t, err := ew.s.toTable(ew.r, ew.req.res, obj)
		if err != nil {
			return false
		}
		out = t
	case ew.as == "Table":
		t := &metav1.Table{}
		t.ResourceVersion = objectMeta(obj).GetResourceVersion()
		out = t
	case ew.as == "PartialObjectMetadata":
		out = partialOf(obj)
	}
	ew.buf.Reset()
	if err := ew.objEnc.Encode(out, &ew.buf); err != nil {
		ew.s.log.Warn("watch: encoding object", "err", err)
		return false
	}
	return ew.send(string(typ), ew.buf.Bytes())
}

// writeStored sends an event of a stored object; false means the client
// is gone. Watches that send the object whole share its encoding (see
// eventCache): the bytes are those write would produce, and the object is
// decoded only by the first watch to send the event. An object that
// cannot be decoded is logged and skipped.
func (ew *eventWriter) writeStored(typ watch.EventType, obj *eventObject) bool {
	if ew.as != "" {
		o, err := obj.get()
		if err != nil {
			ew.s.log.Warn("watch: undecodable object", "key", obj.kv.Key, "err", err)
			return true
		}
		return ew.write(typ, o)
	}
	k := eventKey{gvr: ew.req.res.GVR, mediaType: ew.mediaType, key: obj.kv.Key, rev: obj.kv.Revision, typ: typ}
	data, err := ew.s.events.encoded(k, func() ([]byte, error) {
		o, err := obj.get()
		if err != nil {
			return nil, undecodableError{err}
		}
		var obuf, ebuf bytes.Buffer
		if err := ew.objEnc.Encode(o, &obuf); err != nil {
			return nil, err
		}
		ev := &metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: obuf.Bytes()}}
		if err := ew.evEnc.Encode(ev, &ebuf); err != nil {
			return nil, err
		}
		return ebuf.Bytes(), nil
	})
	if err != nil {
		if errors.As(err, new(undecodableError)) {
			ew.s.log.Warn("watch: undecodable object", "key", obj.kv.Key, "err", err)
			return true
		}
		ew.s.log.Warn("watch: encoding object", "err", err)
		return false
	}
	if _, err := ew.frames.Write(data); err != nil {
		return false
	}
	if ew.flusher != nil {
		ew.flusher.Flush()
	}
	return true
}

func (ew *eventWriter) send(typ string, raw []byte) bool {
	ev := &metav1.WatchEvent{Type: typ, Object: runtime.RawExtension{Raw: raw}}
	if err := ew.enc.Encode(ev); err != nil {
		return false
	}
	if ew.flusher != nil {
		ew.flusher.Flush()
	}
	return true
}

// writeStatus starts the response and sends err as an ERROR event (used
// for 410 Gone), encoded like the other events.
func (ew *eventWriter) writeStatus(err error) {
	st := toStatus(err)
	ew.start()
	ew.buf.Reset()
	enc := ew.s.codecs.WithoutConversion().EncoderForVersion(ew.s.streamObjectSerializer(ew.w), schema.GroupVersion{Version: "v1"})
	if err := enc.Encode(st, &ew.buf); err != nil {
		ew.s.log.Warn("watch: encoding status", "err", err)
		return
	}
	ew.send(string(watch.Error), ew.buf.Bytes())
}

// streamObjectSerializer is the serializer for objects inside the events of
// a watch response whose Content-Type is already set.
func (s *Server) streamObjectSerializer(w http.ResponseWriter) runtime.Encoder {
	info, ok := s.serializerFor(w.Header().Get("Content-Type"))
	if !ok {
		info, _ = s.serializerFor(mediaJSON)
	}
	return info.Serializer
}
