package api

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

// FuzzValidateAndDefault decodes arbitrary JSON into every served kind and
// runs the strategy hooks on it: none may panic, whatever the input.
// Seeds live in testdata/fuzz/FuzzValidateAndDefault and below.
func FuzzValidateAndDefault(f *testing.F) {
	seeds := []runtime.Object{vtPod(), vtDeployment(), vtStatefulSet()}
	for _, s := range seeds {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		for i, r := range NewRegistry().All() {
			if r.GroupVersionKind().Kind == s.GetObjectKind().GroupVersionKind().Kind || i%7 == 0 {
				f.Add(uint8(i), b, b)
			}
		}
	}
	f.Add(uint8(0), []byte(`{"metadata":{"name":"x"}}`), []byte(`{}`))
	f.Add(uint8(1), []byte(`{"spec":{"containers":[{"name":"a","ports":[{"containerPort":-1}]}],"volumes":[{}]}}`), []byte(`{"spec":{}}`))

	all := NewRegistry().All()
	f.Fuzz(func(t *testing.T, kind uint8, data, oldData []byte) {
		r := all[int(kind)%len(all)]
		if r.Default == nil || r.Validate == nil || r.ValidateUpdate == nil {
			t.Skip()
		}
		obj := r.New()
		if err := json.Unmarshal(data, obj); err != nil {
			t.Skip()
		}
		old := r.New()
		if err := json.Unmarshal(oldData, old); err != nil {
			old = obj.DeepCopyObject()
		}
		render := func(errs interface{ Error() string }) { _ = errs.Error() }
		r.Default(obj)
		if errs := r.Validate(obj); len(errs) > 0 {
			render(errs.ToAggregate())
		}
		r.Default(old)
		if errs := r.ValidateUpdate(obj, old); len(errs) > 0 {
			render(errs.ToAggregate())
		}
		if errs := r.ValidateUpdate(old, obj); len(errs) > 0 {
			render(errs.ToAggregate())
		}
		// Defaulting twice must not change anything (defaults are idempotent).
		again := obj.DeepCopyObject()
		r.Default(again)
		a, _ := json.Marshal(obj)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Fatalf("%s: defaulting is not idempotent:\n%s\n%s", r.Kind, a, b)
		}
	})
}
