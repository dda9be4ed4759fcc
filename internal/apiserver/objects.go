package apiserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/storage"
)

// objectStore reads and writes typed objects of one resource. Objects are
// stored as protobuf in their storage version, without resourceVersion;
// the resourceVersion of a read object is the storage revision.
//
// A resource with StorageResource set (autoscaling/v1 HPAs, events.k8s.io
// events) keeps its objects under the storage resource's keys, in that
// resource's version: every object read (get, list, watch and its previous
// values, delete) is converted with FromStorage, every object written with
// ToStorage. Everything above the store therefore sees only the served
// version: strategy hooks, field selectors, tables and the field manager,
// whose managedFields entries travel unchanged with the version each
// manager wrote.
type objectStore struct {
	res       *api.Resource
	newStored func() runtime.Object // an empty object of the storage version
	store     storage.Interface
	codec     runtime.Codec // storage encoding
	gr        schema.GroupResource
	base      string // key prefix "<group>/<resource>/"
	maxBytes  int64  // largest encoding stored (Config.MaxObjectBytes)
}

func (s *Server) objectStore(res *api.Resource) *objectStore {
	sg := res.StorageGVR()
	group := sg.Group
	if group == "" {
		group = "core"
	}
	newStored := res.New
	if res.StorageResource != nil {
		newStored = s.cfg.Registry.Get(sg).New
	}
	return &objectStore{
		res:       res,
		newStored: newStored,
		store:     s.cfg.Storage,
		codec:     s.storageCodec(sg.GroupVersion()),
		gr:        res.GVR.GroupResource(),
		base:      group + "/" + sg.Resource + "/",
		maxBytes:  s.cfg.MaxObjectBytes,
	}
}

// key returns the storage key of one object.
func (o *objectStore) key(namespace, name string) string {
	if o.res.Namespaced {
		return o.base + namespace + "/" + name
	}
	return o.base + name
}

// prefix returns the key prefix of a namespace's objects (all when ns is "").
func (o *objectStore) prefix(namespace string) string {
	if o.res.Namespaced && namespace != "" {
		return o.base + namespace + "/"
	}
	return o.base
}

// decode returns the served object stored in kv.
func (o *objectStore) decode(kv storage.KV) (runtime.Object, error) {
	obj := o.newStored()
	if _, _, err := o.codec.Decode(kv.Value, nil, obj); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
	}
	obj, err := o.fromStorage(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %s: %w", kv.Key, err)
	}
	setRV(obj, kv.Revision)
	return obj, nil
}

// fromStorage converts a stored object to the served version.
func (o *objectStore) fromStorage(stored runtime.Object) (runtime.Object, error) {
	if o.res.FromStorage == nil {
		return stored, nil
	}
	return o.res.FromStorage(stored)
}

// encode returns the object to store for obj (obj itself unless the
// resource is stored as another) and its storage encoding.
func (o *objectStore) encode(obj runtime.Object) (runtime.Object, []byte, error) {
	stored := obj
	if o.res.ToStorage != nil {
		var err error
		if stored, err = o.res.ToStorage(obj); err != nil {
			return nil, nil, apierrors.NewInternalError(err)
		}
	}
	m, err := meta.Accessor(stored)
	if err != nil {
		return nil, nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	defer m.SetResourceVersion(rv)
	data, err := runtime.Encode(o.codec, stored)
	if err != nil {
		return nil, nil, apierrors.NewInternalError(err)
	}
	if o.maxBytes > 0 && int64(len(data)) > o.maxBytes {
		return nil, nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the object is %d bytes when stored, the limit is %d", len(data), o.maxBytes))
	}
	return stored, data, nil
}

// written returns the answer to a write of obj, stored as stored at
// revision rev: the object as it now reads back, as in Kubernetes. For a
// resource stored as another that is stored converted back, not obj.
func (o *objectStore) written(obj, stored runtime.Object, rev int64) (runtime.Object, error) {
	if o.res.FromStorage != nil {
		var err error
		if obj, err = o.res.FromStorage(stored); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
	}
	setRV(obj, rev)
	return obj, nil
}

func (o *objectStore) get(ctx context.Context, namespace, name string) (runtime.Object, error) {
	kv, err := o.store.Get(ctx, o.key(namespace, name))
	if err != nil {
		return nil, storageError(err, o.gr, name)
	}
	return o.decode(kv)
}

// getLocal reads an object from the storage replica's applied state when
// the store can (storage.LocalReader), which may be slightly stale; a
// NotFound is confirmed with a consistent read, so an object created just
// before is always found.
func (o *objectStore) getLocal(ctx context.Context, namespace, name string) (runtime.Object, error) {
	lr, ok := o.store.(storage.LocalReader)
	if !ok {
		return o.get(ctx, namespace, name)
	}
	kv, err := lr.GetLocal(ctx, o.key(namespace, name))
	if errors.Is(err, storage.ErrNotFound) {
		return o.get(ctx, namespace, name)
	}
	if err != nil {
		return nil, storageError(err, o.gr, name)
	}
	return o.decode(kv)
}

func (o *objectStore) create(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	m, _ := meta.Accessor(obj)
	stored, data, err := o.encode(obj)
	if err != nil {
		return nil, err
	}
	rev, err := o.store.Create(ctx, o.key(m.GetNamespace(), m.GetName()), data)
	if err != nil {
		return nil, storageError(err, o.gr, m.GetName())
	}
	return o.written(obj, stored, rev)
}

// update writes obj if the stored revision is still expected.
func (o *objectStore) update(ctx context.Context, obj runtime.Object, expected int64) (runtime.Object, error) {
	m, _ := meta.Accessor(obj)
	stored, data, err := o.encode(obj)
	if err != nil {
		return nil, err
	}
	rev, err := o.store.Update(ctx, o.key(m.GetNamespace(), m.GetName()), data, expected)
	if err != nil {
		return nil, storageError(err, o.gr, m.GetName())
	}
	return o.written(obj, stored, rev)
}

func (o *objectStore) delete(ctx context.Context, namespace, name string, expected int64) (runtime.Object, error) {
	kv, err := o.store.Delete(ctx, o.key(namespace, name), expected)
	if err != nil {
		return nil, storageError(err, o.gr, name)
	}
	return o.decode(kv)
}

func setRV(obj runtime.Object, rev int64) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
}

func rvOf(obj runtime.Object) int64 {
	m, err := meta.Accessor(obj)
	if err != nil {
		return 0
	}
	rv, _ := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
	return rv
}

// parseRV parses a client-given resourceVersion ("" is 0).
func parseRV(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, badRequest("invalid resource version %q", s)
	}
	return v, nil
}

func objectMeta(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("object %T has no metadata", obj)) // programming error: all served kinds have ObjectMeta
	}
	return m
}
