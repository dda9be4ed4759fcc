package ingress

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// classSet is what decides whether an Ingress is served: the names of the
// IngressClasses whose controller is this one, and whether one of them is
// the cluster's default class.
type classSet struct {
	names     map[string]bool
	isDefault bool
	legacy    string // the configured class name, for the legacy annotation
}

// newClassSet picks this controller's classes out of classes.
func newClassSet(classes []*networkingv1.IngressClass, controller, className string) classSet {
	s := classSet{names: map[string]bool{}, legacy: className}
	for _, c := range classes {
		if c.Spec.Controller != controller {
			continue
		}
		s.names[c.Name] = true
		if c.Annotations[DefaultClassAnnotation] == "true" {
			s.isDefault = true
		}
	}
	return s
}

// serves reports whether ing is this controller's: its ingressClassName
// names one of the classes; or, without one, its legacy
// kubernetes.io/ingress.class annotation names one of them or the
// configured class; or, with neither, one of the classes is the default.
func (s classSet) serves(ing *networkingv1.Ingress) bool {
	if ing.Spec.IngressClassName != nil {
		return s.names[*ing.Spec.IngressClassName]
	}
	if v, ok := ing.Annotations[LegacyClassAnnotation]; ok {
		return s.names[v] || (v != "" && v == s.legacy)
	}
	return s.isDefault
}

// ensureClass creates the IngressClass name for controller, annotated as
// the default class, unless an IngressClass of that name exists (which is
// then left as it is: an administrator may have changed it).
func ensureClass(ctx context.Context, client kubernetes.Interface, name, controller string) error {
	classes := client.NetworkingV1().IngressClasses()
	if _, err := classes.Get(ctx, name, metav1.GetOptions{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("ingress: get IngressClass %s: %w", name, err)
	}
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{DefaultClassAnnotation: "true"},
		},
		Spec: networkingv1.IngressClassSpec{Controller: controller},
	}
	if _, err := classes.Create(ctx, ic, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ingress: create IngressClass %s: %w", name, err)
	}
	return nil
}
