// Package servicelb is the service load-balancer controller: LoadBalancer
// Services are served on the node addresses at their own port (the node
// proxy programs those rules), and this controller publishes those
// addresses in status.loadBalancer.ingress, as k3s's servicelb does but
// without a pod per service.
//
// It serves services of type LoadBalancer whose spec.loadBalancerClass is
// empty or "gantry.dev/servicelb" (Class); other classes belong to another
// implementation and are left alone.
//
// Decide (decide.go) is the pure decision over all services and nodes:
//
//	ingress     the InternalIP and ExternalIP addresses of the Ready,
//	            schedulable nodes (not labelled exclude-from-external-
//	            load-balancers), of the service's IP families, sorted,
//	            ipMode VIP
//	conflict    a port+protocol that is reserved by configuration, a node
//	            port of any service, or held by a LoadBalancer service
//	            ranked earlier: no ingress at all (kubectl shows
//	            <pending>) and a Warning PortConflict event naming it
//	ranking     serving services first (never displaced), then the older
//	            (creationTimestamp), then namespace/name
//
// Keys are "namespace/name" of Services. Reconcile recomputes the decision
// from the informer caches and writes only its own service's status;
// changes that can move a port (ports, node ports, type, class, serving or
// not, creation, deletion) enqueue every managed service, and so do node
// changes that alter the set of addresses. A service that stops being a
// LoadBalancer has its ingress cleared. The controller is safe for
// concurrent use; Run may be called once.
package servicelb
