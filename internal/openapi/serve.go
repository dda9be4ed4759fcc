package openapi

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	"github.com/munnerz/goautoneg"
	"google.golang.org/protobuf/proto"
)

// Media types of the documents. Clients ask for protobuf with the "@" form;
// Kubernetes answers with the "." form, and accepts both.
const (
	mediaJSON      = "application/json"
	v2ProtoAsked   = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	v2ProtoAnswer  = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	v3ProtoAsked   = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
	v3ProtoAnswer  = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
	v3Prefix       = "/openapi/v3/"
	v2Path         = "/openapi/v2"
	v3IndexPath    = "/openapi/v3"
	immutableCache = "public, immutable"
)

// offer is one representation a path can answer with.
type offer struct {
	accepted []string // media types that select it
	answer   string   // Content-Type of the answer
	proto    bool
}

var (
	v2Offers = []offer{
		{accepted: []string{mediaJSON}, answer: mediaJSON},
		{accepted: []string{v2ProtoAsked, v2ProtoAnswer}, answer: v2ProtoAnswer, proto: true},
	}
	v3Offers = []offer{
		{accepted: []string{mediaJSON}, answer: mediaJSON},
		{accepted: []string{v3ProtoAsked, v3ProtoAnswer}, answer: v3ProtoAnswer, proto: true},
	}
	indexOffers = []offer{{accepted: []string{mediaJSON}, answer: mediaJSON}}
)

// ServeHTTP serves GET and HEAD for /openapi/v2, /openapi/v3 and
// /openapi/v3/<api/v1 | apis/<group>/<version> | …>, answering 404 for any
// other path. Authentication happens before it. Responses carry an ETag and
// honour If-None-Match; they are gzip-encoded when the client accepts gzip,
// so do not wrap ServeHTTP in another compressing handler.
func (d *Documents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var (
		offers    []offer
		index     bool // the v3 index, which exists only as JSON
		versioned bool // a per-group/version v3 document, addressed with ?hash=
		key       string
	)
	switch p := r.URL.Path; {
	case p == v2Path:
		offers = v2Offers
	case p == v3IndexPath || p == v3IndexPath+"/":
		offers, index = indexOffers, true
	case strings.HasPrefix(p, v3Prefix):
		key = strings.TrimSuffix(strings.TrimPrefix(p, v3Prefix), "/")
		if _, found := d.sets[key]; !found {
			http.NotFound(w, r)
			return
		}
		offers, versioned = v3Offers, true
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	doc, err := d.document(index, key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}

	w.Header().Add("Vary", "Accept")
	chosen, found := negotiate(r.Header.Get("Accept"), offers)
	if !found && index {
		// The index exists only as JSON; Kubernetes serves it whatever the
		// client accepts.
		chosen, found = offers[0], true
	}
	if !found {
		http.Error(w, "none of the requested media types is offered; use "+mediaJSON, http.StatusNotAcceptable)
		return
	}
	body := doc.json
	if chosen.proto {
		if body, err = doc.protobuf(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}

	h := w.Header()
	if hash := r.URL.Query().Get("hash"); hash != "" && versioned {
		if hash != doc.etag {
			// The client read an index of another build: send it to the
			// current address, as Kubernetes does.
			key := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, v3Prefix), "/")
			http.Redirect(w, r, serverRelativeURL(key, doc.etag), http.StatusMovedPermanently)
			return
		}
		h.Set("Cache-Control", immutableCache)
		h.Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
	}
	h.Set("Content-Type", chosen.answer)
	h.Set("Etag", strconv.Quote(doc.etag))
	h.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
	} else {
		raw, err := decompress(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		body = raw
	}
	// ServeContent answers If-None-Match (304), HEAD and ranges.
	http.ServeContent(w, r, "", d.modTime, bytes.NewReader(body))
}

// document returns the v3 index, the v3 document key, or (neither) the v2
// document, building its family on first use.
func (d *Documents) document(index bool, key string) (*document, error) {
	if !index && key == "" {
		return d.v2()
	}
	v3, err := d.v3()
	if err != nil {
		return nil, err
	}
	if index {
		return v3.index, nil
	}
	return v3.docs[key], nil
}

// negotiate picks the first offer the Accept header allows, in the
// client's order of preference; an empty header accepts anything.
func negotiate(accept string, offers []offer) (offer, bool) {
	if accept == "" {
		return offers[0], true
	}
	for _, clause := range goautoneg.ParseAccept(accept) {
		if clause.Q == 0 {
			continue
		}
		for _, o := range offers {
			for _, mt := range o.accepted {
				typ, sub, _ := strings.Cut(mt, "/")
				if (clause.Type == "*" || clause.Type == typ) && (clause.SubType == "*" || clause.SubType == sub) {
					return o, true
				}
			}
		}
	}
	return offer{}, false
}

// acceptsGzip reports whether Accept-Encoding allows gzip.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			params = strings.ReplaceAll(params, " ", "")
			q, found := strings.CutPrefix(params, "q=")
			if !found {
				return true
			}
			f, err := strconv.ParseFloat(q, 64)
			return err == nil && f > 0
		}
	}
	return false
}

// v2Proto converts an OpenAPI v2 JSON document to protobuf
// (gnostic openapi_v2.Document), as kube-openapi's v2 handler does.
func v2Proto(raw []byte) ([]byte, error) {
	doc, err := openapiv2.ParseDocument(raw)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(doc)
}
