package apiserver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metainternalversionvalidation "k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/storage"
)

// listOptions decodes the query parameters of list, watch and deletecollection.
func listOptions(r *http.Request) (*metainternalversion.ListOptions, error) {
	opts := &metainternalversion.ListOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if opts.LabelSelector == nil {
		opts.LabelSelector = labels.Everything()
	}
	if opts.FieldSelector == nil {
		opts.FieldSelector = fields.Everything()
	}
	return opts, nil
}

// validateListOptions rejects parameter combinations Kubernetes rejects
// (resourceVersionMatch without resourceVersion, sendInitialEvents on a
// list…) with 422 Invalid. watch selects the watch rules.
func validateListOptions(opts *metainternalversion.ListOptions, watch bool) error {
	opts.Watch = watch
	errs := metainternalversionvalidation.ValidateListOptions(opts, true)
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
	}
	return nil
}

// matcher filters objects by label and field selectors.
type matcher struct {
	res    *api.Resource
	labels labels.Selector
	fields fields.Selector
}

func newMatcher(res *api.Resource, opts *metainternalversion.ListOptions) (*matcher, error) {
	for _, req := range opts.FieldSelector.Requirements() {
		if err := api.CheckFieldLabel(res, req.Field); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	}
	return &matcher{res: res, labels: opts.LabelSelector, fields: opts.FieldSelector}, nil
}

func (m *matcher) everything() bool { return m.labels.Empty() && m.fields.Empty() }

func (m *matcher) matches(obj runtime.Object) bool {
	om := objectMeta(obj)
	if !m.labels.Matches(labels.Set(om.GetLabels())) {
		return false
	}
	if m.fields.Empty() {
		return true
	}
	set := fields.Set{"metadata.name": om.GetName()}
	if m.res.Namespaced {
		set["metadata.namespace"] = om.GetNamespace()
	}
	if m.res.Fields != nil {
		for k, v := range m.res.Fields(obj) {
			set[k] = v
		}
	}
	return m.fields.Matches(set)
}

// continueToken is the opaque token of a paged list, in the same shape as
// kube-apiserver's so clients that peek at it are not surprised.
type continueToken struct {
	APIVersion string `json:"v"`
	Revision   int64  `json:"rv"`
	Start      string `json:"start"`
}

func encodeContinue(rev int64, lastKey, prefix string) string {
	b, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", Revision: rev, Start: lastKey[len(prefix):] + "\x00"})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(token, prefix string) (rev int64, after string, err error) {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, "", apierrors.NewBadRequest("continue key is not valid: " + err.Error())
	}
	var t continueToken
	if err := json.Unmarshal(data, &t); err != nil || t.APIVersion != "meta.k8s.io/v1" || t.Start == "" {
		return 0, "", apierrors.NewBadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
	}
	// Start is the suffix after the list prefix plus "\x00"; After is exclusive.
	return t.Revision, prefix + t.Start[:len(t.Start)-1], nil
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, req *request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	if err := validateListOptions(opts, false); err != nil {
		return err
	}
	if f := negotiate(r); s.cachedListable(f) {
		l, err := s.read(r, req, opts, false)
		if err != nil {
			return err
		}
		return s.writeCachedList(w, req, f.mediaType, l)
	}
	list, err := s.list(r, req, opts)
	if err != nil {
		return err
	}
	s.writeObject(w, r, http.StatusOK, req.res, list)
	return nil
}

// listed is one page (or everything) of a collection as read from
// storage: the matching items and the list metadata.
type listed struct {
	kvs []storage.KV
	// objs are the decoded items, one per kv; an entry is nil when read
	// was asked not to decode and no selector needed the object.
	objs []runtime.Object
	meta metav1.ListMeta
}

// list reads one page (or everything) of req's collection.
func (s *Server) list(r *http.Request, req *request, opts *metainternalversion.ListOptions) (runtime.Object, error) {
	l, err := s.read(r, req, opts, true)
	if err != nil {
		return nil, err
	}
	list := req.res.NewList()
	if err := meta.SetList(list, l.objs); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm, _ := meta.ListAccessor(list)
	lm.SetResourceVersion(l.meta.ResourceVersion)
	lm.SetContinue(l.meta.Continue)
	lm.SetRemainingItemCount(l.meta.RemainingItemCount)
	list.GetObjectKind().SetGroupVersionKind(req.res.GVR.GroupVersion().WithKind(req.res.Kind + "List"))
	return list, nil
}

// read reads one page (or everything) of req's collection. Without
// decode, objects are decoded only when a selector must look at them.
func (s *Server) read(r *http.Request, req *request, opts *metainternalversion.ListOptions, decode bool) (*listed, error) {
	m, err := newMatcher(req.res, opts)
	if err != nil {
		return nil, err
	}
	decode = decode || !m.everything()
	prefix := req.store.prefix(req.namespace)
	sopts := storage.ListOptions{Limit: opts.Limit}
	var minRV int64 // the oldest revision the list may be read at
	if opts.Continue != "" {
		if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
			return nil, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
		}
		sopts.Revision, sopts.After, err = decodeContinue(opts.Continue, prefix)
		if err != nil {
			return nil, err
		}
	} else if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		rv, err := parseRV(opts.ResourceVersion)
		if err != nil {
			return nil, err
		}
		if opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact {
			sopts.Revision = rv
		} else {
			minRV = rv
		}
	}
	l := &listed{}
	var lastKey string
	var result storage.ListResult
	for {
		result, err = s.cfg.Storage.List(r.Context(), prefix, sopts)
		if err != nil {
			if apierrors.IsResourceExpired(storageError(err, req.groupResource(), "")) && opts.Continue != "" {
				return nil, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
			}
			return nil, storageError(err, req.groupResource(), "")
		}
		if result.Revision < minRV {
			// resourceVersion (NotOlderThan) is ahead of the store.
			return nil, apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", minRV, result.Revision), 1)
		}
		for _, kv := range result.Items {
			lastKey = kv.Key
			var obj runtime.Object
			if decode {
				if obj, err = req.store.decode(kv); err != nil {
					return nil, apierrors.NewInternalError(err)
				}
				if !m.matches(obj) {
					continue
				}
			}
			l.kvs = append(l.kvs, kv)
			l.objs = append(l.objs, obj)
		}
		sopts.Revision = result.Revision
		// With selectors a page may come back short; keep reading until
		// the limit is met or the collection ends, as Kubernetes does.
		if !result.More || opts.Limit == 0 || int64(len(l.kvs)) >= opts.Limit || m.everything() {
			break
		}
		sopts.After = lastKey
		sopts.Limit = opts.Limit - int64(len(l.kvs))
	}
	l.meta.ResourceVersion = strconv.FormatInt(result.Revision, 10)
	if result.More && opts.Limit > 0 {
		l.meta.Continue = encodeContinue(result.Revision, lastKey, prefix)
		if m.everything() && result.Remaining > 0 {
			rem := result.Remaining
			l.meta.RemainingItemCount = &rem
		}
	}
	return l, nil
}
