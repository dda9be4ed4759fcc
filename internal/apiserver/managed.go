package apiserver

import (
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/gantry-dev/gantry/internal/api"
)

// fieldManagerKey selects the field manager of one kind and subresource.
type fieldManagerKey struct {
	gvk         schema.GroupVersionKind
	subresource string
}

// buildFieldManagers makes one managedfields.FieldManager per served kind
// and per writable subresource (main resource and status).
func (s *Server) buildFieldManagers() error {
	s.managers = map[fieldManagerKey]*managedfields.FieldManager{}
	for _, res := range s.cfg.Registry.All() {
		gvk := res.GroupVersionKind()
		gv := gvk.GroupVersion()
		subs := []string{""}
		if res.HasSubresource(api.SubStatus) {
			subs = append(subs, api.SubStatus)
		}
		if res.HasSubresource(api.SubEphemeralContainers) {
			subs = append(subs, api.SubEphemeralContainers)
		}
		for _, sub := range subs {
			reset := map[fieldpath.APIVersion]*fieldpath.Set{}
			if res.HasSubresource(api.SubStatus) {
				if sub != api.SubStatus {
					reset[fieldpath.APIVersion(gv.String())] = fieldpath.NewSet(fieldpath.MakePathOrDie("status"))
				} else {
					reset[fieldpath.APIVersion(gv.String())] = fieldpath.NewSet(fieldpath.MakePathOrDie("spec"))
				}
			}
			filters := map[fieldpath.APIVersion]fieldpath.Filter{}
			for v, set := range reset {
				filters[v] = fieldpath.NewExcludeSetFilter(set)
			}
			fm, err := managedfields.NewDefaultFieldManager(s.cfg.TypeConverter, newSharedStorageConvertor(s.scheme, s.cfg.Registry), resourceDefaulter{res}, s.scheme, gvk, gv, sub, filters)
			if err != nil {
				// A kind the type converter does not know cannot be applied;
				// updates still work without managed fields.
				s.log.Debug("no field manager", "kind", gvk, "err", err)
				continue
			}
			s.managers[fieldManagerKey{gvk, sub}] = fm
		}
	}
	return nil
}

// resourceDefaulter adapts a resource's Default hook to runtime.ObjectDefaulter.
type resourceDefaulter struct{ res *api.Resource }

func (d resourceDefaulter) Default(obj runtime.Object) {
	if d.res.Default != nil {
		d.res.Default(obj)
	}
}

func (s *Server) fieldManager(res *api.Resource, subresource string) *managedfields.FieldManager {
	return s.managers[fieldManagerKey{res.GroupVersionKind(), subresource}]
}

// updateManagedFields records manager as the owner of the fields it
// changed from live to obj (live nil: create).
func (s *Server) updateManagedFields(res *api.Resource, obj, live runtime.Object, manager, subresource string) error {
	fm := s.fieldManager(res, subresource)
	if fm == nil {
		return nil
	}
	var (
		key      createFieldsKey
		memoised bool
	)
	if live == nil {
		if key, memoised = s.createFields.key(fm, obj, manager); memoised {
			if entries, ok := s.createFields.get(key, time.Now().UTC()); ok {
				objectMeta(obj).SetManagedFields(entries)
				return nil
			}
		}
		live = res.New()
	}
	out := fm.UpdateNoErrors(live, obj, manager)
	if out != obj {
		objectMeta(obj).SetManagedFields(objectMeta(out).GetManagedFields())
	}
	if memoised {
		s.createFields.put(key, objectMeta(obj).GetManagedFields())
	}
	return nil
}

// managerFor returns the field manager name of a request: the fieldManager
// parameter, else the user agent's first word, as Kubernetes does.
func managerFor(r *http.Request, opts writeOptions) string {
	if opts.fieldManager != "" {
		return opts.fieldManager
	}
	ua := r.Header.Get("User-Agent")
	if i := strings.Index(ua, "/"); i >= 0 {
		ua = ua[:i]
	}
	if len(ua) > 128 {
		ua = ua[:128]
	}
	if ua == "" {
		ua = "unknown"
	}
	return ua
}

func semanticEqual(a, b runtime.Object) bool { return equality.Semantic.DeepEqual(a, b) }
