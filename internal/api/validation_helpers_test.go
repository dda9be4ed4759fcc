package api

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// vtErr is an expected validation error: its type and field path, and
// optionally a substring of its detail.
type vtErr struct {
	Type   field.ErrorType
	Field  string
	Detail string
}

func (e vtErr) String() string { return fmt.Sprintf("%s %s", e.Field, e.Type) }

// vtResource returns the registered resource for gvr.
func vtResource(t *testing.T, gvr schema.GroupVersionResource) *Resource {
	t.Helper()
	r := NewRegistry().Get(gvr)
	if r == nil {
		t.Fatalf("%v is not registered", gvr)
	}
	if r.Default == nil || r.Validate == nil || r.ValidateUpdate == nil {
		t.Fatalf("%v has no strategy hooks", gvr)
	}
	return r
}

// vtCreate defaults and validates obj like the API server does on create.
func vtCreate(r *Resource, obj runtime.Object) field.ErrorList {
	r.Default(obj)
	return r.Validate(obj)
}

// vtUpdate defaults obj and validates it as an update of old.
func vtUpdate(r *Resource, obj, old runtime.Object) field.ErrorList {
	r.Default(obj)
	return r.ValidateUpdate(obj, old)
}

// vtCheck asserts that errs are exactly want (by type and field), and
// that each wanted detail substring appears.
func vtCheck(t *testing.T, errs field.ErrorList, want ...vtErr) {
	t.Helper()
	got := make([]string, 0, len(errs))
	for _, e := range errs {
		got = append(got, vtErr{Type: e.Type, Field: e.Field}.String())
	}
	exp := make([]string, 0, len(want))
	for _, w := range want {
		exp = append(exp, vtErr{Type: w.Type, Field: w.Field}.String())
	}
	sort.Strings(got)
	sort.Strings(exp)
	if strings.Join(got, "\n") != strings.Join(exp, "\n") {
		t.Fatalf("errors mismatch\n got: %q\nwant: %q\nfull: %v", got, exp, errs.ToAggregate())
	}
	for _, w := range want {
		if w.Detail == "" {
			continue
		}
		found := false
		for _, e := range errs {
			if e.Field == w.Field && e.Type == w.Type && strings.Contains(e.Error(), w.Detail) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s error with detail %q in %v", w, w.Detail, errs.ToAggregate())
		}
	}
}

func vtRequired(f string) vtErr          { return vtErr{Type: field.ErrorTypeRequired, Field: f} }
func vtInvalid(f string) vtErr           { return vtErr{Type: field.ErrorTypeInvalid, Field: f} }
func vtNotSupported(f string) vtErr      { return vtErr{Type: field.ErrorTypeNotSupported, Field: f} }
func vtForbidden(f string) vtErr         { return vtErr{Type: field.ErrorTypeForbidden, Field: f} }
func vtDuplicate(f string) vtErr         { return vtErr{Type: field.ErrorTypeDuplicate, Field: f} }
func vtNotFound(f string) vtErr          { return vtErr{Type: field.ErrorTypeNotFound, Field: f} }
func vtTooLong(f string) vtErr           { return vtErr{Type: field.ErrorTypeTooLong, Field: f} }
func (e vtErr) with(detail string) vtErr { e.Detail = detail; return e }
