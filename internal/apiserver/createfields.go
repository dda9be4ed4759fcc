package apiserver

import (
	"crypto/sha256"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
)

// createFields remembers the managed fields that creating an object
// recorded, so that the next create of an identical object by the same
// manager does not compute them again. Controllers create many identical
// objects (a ReplicaSet's pods differ only in name and uid), and the
// field manager walks every field of each one: without this, tracking
// managed fields cost most of a pod create's CPU.
//
// The result of a create's field tracking depends only on the field
// manager (kind), the manager's name and the object without the metadata
// that the field manager strips (name, namespace, uid, …; see
// volatileMeta). The key is a digest of exactly that, so a hit returns
// what the field manager would have, except for the entry's time, which is
// set anew.
type createFields struct {
	mu   sync.Mutex
	m    map[createFieldsKey][]metav1.ManagedFieldsEntry
	hits uint64 // for tests
}

// createFieldsMax bounds the memo; it is emptied when full. Typical
// clusters create objects from a few dozen templates at a time.
const createFieldsMax = 512

type createFieldsKey struct {
	fm      *managedfields.FieldManager
	manager string
	sum     [sha256.Size]byte
}

// volatileMeta is the metadata that the field manager leaves out of
// managed fields (its "strip" set) and that differs between otherwise
// identical creates. It is cleared while the key is computed.
type volatileMeta struct {
	name, namespace, uid, resourceVersion, selfLink string
	generation                                      int64
	created                                         metav1.Time
}

// key returns the memo key of creating obj by manager with fm, and false
// when obj cannot be memoised: it carries managed fields of its own (the
// result then depends on them) or has no protobuf encoding.
func (c *createFields) key(fm *managedfields.FieldManager, obj runtime.Object, manager string) (createFieldsKey, bool) {
	marshaler, ok := obj.(interface{ Marshal() ([]byte, error) })
	if !ok {
		return createFieldsKey{}, false
	}
	m := objectMeta(obj)
	if len(m.GetManagedFields()) > 0 {
		return createFieldsKey{}, false
	}
	saved := volatileMeta{
		name: m.GetName(), namespace: m.GetNamespace(), uid: string(m.GetUID()),
		resourceVersion: m.GetResourceVersion(), selfLink: m.GetSelfLink(),
		generation: m.GetGeneration(), created: m.GetCreationTimestamp(),
	}
	m.SetName("")
	m.SetNamespace("")
	m.SetUID("")
	m.SetResourceVersion("")
	m.SetSelfLink("")
	m.SetGeneration(0)
	m.SetCreationTimestamp(metav1.Time{})
	data, err := marshaler.Marshal()
	m.SetName(saved.name)
	m.SetNamespace(saved.namespace)
	m.SetUID(types.UID(saved.uid))
	m.SetResourceVersion(saved.resourceVersion)
	m.SetSelfLink(saved.selfLink)
	m.SetGeneration(saved.generation)
	m.SetCreationTimestamp(saved.created)
	if err != nil {
		return createFieldsKey{}, false
	}
	return createFieldsKey{fm: fm, manager: manager, sum: sha256.Sum256(data)}, true
}

// get returns a copy of the entries remembered under k with their time
// set to now.
func (c *createFields) get(k createFieldsKey, now time.Time) ([]metav1.ManagedFieldsEntry, bool) {
	c.mu.Lock()
	entries, ok := c.m[k]
	if ok {
		c.hits++
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	out := make([]metav1.ManagedFieldsEntry, len(entries))
	for i := range entries {
		entries[i].DeepCopyInto(&out[i])
		out[i].Time = &metav1.Time{Time: now}
	}
	return out, true
}

func (c *createFields) put(k createFieldsKey, entries []metav1.ManagedFieldsEntry) {
	stored := make([]metav1.ManagedFieldsEntry, len(entries))
	for i := range entries {
		entries[i].DeepCopyInto(&stored[i])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= createFieldsMax {
		c.m = make(map[createFieldsKey][]metav1.ManagedFieldsEntry)
	}
	c.m[k] = stored
}
