package ingress

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func class(name, controller string, isDefault bool) *networkingv1.IngressClass {
	ic := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressClassSpec{Controller: controller}}
	if isDefault {
		ic.Annotations = map[string]string{DefaultClassAnnotation: "true"}
	}
	return ic
}

func TestClassSetServes(t *testing.T) {
	withClass := func(name string) *networkingv1.Ingress {
		ing := newIngress("ns", "i", 0)
		ing.Spec.IngressClassName = &name
		return ing
	}
	withAnnotation := func(v string) *networkingv1.Ingress {
		ing := newIngress("ns", "i", 0)
		ing.Annotations = map[string]string{LegacyClassAnnotation: v}
		return ing
	}
	ours, ours2 := class("gantry", DefaultControllerName, true), class("gantry-internal", DefaultControllerName, false)
	theirs := class("nginx", "k8s.io/ingress-nginx", false)
	nonDefault := class("gantry", DefaultControllerName, false)
	tests := []struct {
		name    string
		classes []*networkingv1.IngressClass
		ing     *networkingv1.Ingress
		want    bool
	}{
		{"our class by name", []*networkingv1.IngressClass{ours, theirs}, withClass("gantry"), true},
		{"our second class", []*networkingv1.IngressClass{ours, ours2}, withClass("gantry-internal"), true},
		{"another controller's class", []*networkingv1.IngressClass{ours, theirs}, withClass("nginx"), false},
		{"a class that does not exist", []*networkingv1.IngressClass{ours}, withClass("missing"), false},
		{"our class deleted", nil, withClass("gantry"), false},
		{"no class, ours is default", []*networkingv1.IngressClass{ours, theirs}, newIngress("ns", "i", 0), true},
		{"no class, ours is not default", []*networkingv1.IngressClass{nonDefault}, newIngress("ns", "i", 0), false},
		{"legacy annotation naming ours", []*networkingv1.IngressClass{nonDefault}, withAnnotation("gantry"), true},
		{"legacy annotation, configured name without the object", nil, withAnnotation("gantry"), true},
		{"legacy annotation naming another", []*networkingv1.IngressClass{ours, theirs}, withAnnotation("nginx"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newClassSet(tt.classes, DefaultControllerName, DefaultClassName).serves(tt.ing); got != tt.want {
				t.Errorf("serves = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEnsureClass(t *testing.T) {
	ctx := t.Context()
	client := fake.NewClientset()
	if err := ensureClass(ctx, client, "gantry", DefaultControllerName); err != nil {
		t.Fatal(err)
	}
	ic, err := client.NetworkingV1().IngressClasses().Get(ctx, "gantry", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ic.Spec.Controller != DefaultControllerName || ic.Annotations[DefaultClassAnnotation] != "true" {
		t.Errorf("created class %+v; want controller %s, default annotation", ic, DefaultControllerName)
	}
	// An administrator's change (no longer the default) is kept.
	ic.Annotations = nil
	if _, err := client.NetworkingV1().IngressClasses().Update(ctx, ic, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ensureClass(ctx, client, "gantry", DefaultControllerName); err != nil {
		t.Fatal(err)
	}
	ic, _ = client.NetworkingV1().IngressClasses().Get(ctx, "gantry", metav1.GetOptions{})
	if ic.Annotations[DefaultClassAnnotation] != "" {
		t.Errorf("ensureClass overwrote the existing class: %v", ic.Annotations)
	}
}
