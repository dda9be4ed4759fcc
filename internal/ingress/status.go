package ingress

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// loadBalancerStatus is what status.loadBalancer.ingress says for addrs.
func loadBalancerStatus(addrs []string) []networkingv1.IngressLoadBalancerIngress {
	var out []networkingv1.IngressLoadBalancerIngress
	for _, a := range addrs {
		if _, err := netip.ParseAddr(a); err == nil {
			out = append(out, networkingv1.IngressLoadBalancerIngress{IP: a})
		} else {
			out = append(out, networkingv1.IngressLoadBalancerIngress{Hostname: a})
		}
	}
	return out
}

// ours reports whether every entry of lb is one of this controller's
// addresses: a status it wrote (and may therefore clear).
func ours(lb []networkingv1.IngressLoadBalancerIngress, mine []networkingv1.IngressLoadBalancerIngress) bool {
	for _, e := range lb {
		if !slices.ContainsFunc(mine, func(m networkingv1.IngressLoadBalancerIngress) bool {
			return m.IP == e.IP && m.Hostname == e.Hostname
		}) {
			return false
		}
	}
	return true
}

func sameStatus(a, b []networkingv1.IngressLoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y networkingv1.IngressLoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname && len(x.Ports) == 0 && len(y.Ports) == 0
	})
}

// syncStatus converges the status of the Ingress key (namespace/name):
// this controller's addresses while it is served, nothing once it is not
// (only if the status there is one this controller wrote: another
// controller may serve it now).
func (c *Controller) syncStatus(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil || len(c.cfg.StatusAddresses) == 0 || !c.writesStatus.Load() {
		return nil
	}
	ing, err := c.store.ingresses.Ingresses(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	mine := loadBalancerStatus(c.cfg.StatusAddresses)
	current := ing.Status.LoadBalancer.Ingress
	var want []networkingv1.IngressLoadBalancerIngress
	switch {
	case c.classes().serves(ing):
		want = mine
	case len(current) == 0 || !ours(current, mine):
		return nil
	}
	if sameStatus(current, want) {
		return nil
	}
	upd := ing.DeepCopy()
	upd.Status.LoadBalancer.Ingress = want
	_, err = c.client.NetworkingV1().Ingresses(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("ingress: status of %s: %w", key, err)
	}
	c.log.Debug("ingress status updated", "ingress", key, "addresses", c.cfg.StatusAddresses, "served", len(want) > 0)
	return nil
}

// classes returns the current class set.
func (c *Controller) classes() classSet {
	list, _ := c.store.classes.List(labels.Everything())
	return newClassSet(list, c.cfg.ControllerName, c.cfg.ClassName)
}

// runStatus works the status queue until it shuts down.
func (c *Controller) runStatus(ctx context.Context) {
	for {
		key, shutdown := c.queue.Get()
		if shutdown {
			return
		}
		if err := c.syncStatus(ctx, key); err != nil {
			if ctx.Err() == nil {
				c.log.Warn("ingress status not updated; retrying", "ingress", key, "err", err)
			}
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// enqueueAll queues every cached Ingress for a status check.
func (c *Controller) enqueueAll() {
	list, _ := c.store.ingresses.List(labels.Everything())
	for _, ing := range list {
		c.queue.Add(ing.Namespace + "/" + ing.Name)
	}
}
