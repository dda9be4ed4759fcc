package apiserver

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

func objectListMeta(list runtime.Object) metav1.ListInterface {
	lm, err := meta.ListAccessor(list)
	if err != nil {
		panic(err) // programming error: every NewList returns a list
	}
	return lm
}

func listItems(list runtime.Object) []runtime.Object {
	items, _ := meta.ExtractList(list)
	return items
}

func setListItems(list runtime.Object, items []runtime.Object) error {
	return meta.SetList(list, items)
}

// andName narrows a field selector to one object name.
func andName(sel fields.Selector, name string) fields.Selector {
	return fields.AndSelectors(sel, fields.OneTermEqualSelector("metadata.name", name))
}

// metainternalParams decodes DeleteOptions query parameters into opts.
func metainternalParams(r *http.Request, opts *metav1.DeleteOptions) error {
	q := r.URL.Query()
	if len(q) == 0 {
		return nil
	}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(q, metav1.SchemeGroupVersion, opts); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	return nil
}
