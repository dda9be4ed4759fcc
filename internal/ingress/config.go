package ingress

import "time"

// Names the controller is known by.
const (
	// DefaultClassName is the IngressClass created at start when missing.
	DefaultClassName = "gantry"
	// DefaultControllerName is spec.controller of the IngressClasses
	// this controller serves.
	DefaultControllerName = "gantry.dev/ingress"

	// DefaultClassAnnotation marks the cluster's default IngressClass.
	DefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
	// LegacyClassAnnotation is the class annotation that predates
	// spec.ingressClassName.
	LegacyClassAnnotation = "kubernetes.io/ingress.class"
)

// Config configures the Ingress controller.
type Config struct {
	// HTTPAddr and HTTPSAddr are the host:port addresses of the plain HTTP
	// and the TLS listener. Empty disables that listener; port 0 picks a
	// free port (tests). An address that cannot be bound is logged and
	// the controller runs without that listener.
	HTTPAddr  string
	HTTPSAddr string
	// ClassName is the IngressClass created (as the default class) at
	// start if no IngressClass of that name exists; ControllerName is its
	// spec.controller. Ingresses of every IngressClass with
	// ControllerName are served.
	ClassName      string
	ControllerName string
	// StatusAddresses are written to status.loadBalancer.ingress of every
	// served Ingress (IPs as ip, anything else as hostname). Empty: the
	// controller writes no status.
	StatusAddresses []string
	// StatusByLeader: the controller writes status only while
	// SetStatusWriter(true) holds, so that of several servers (each
	// serving Ingress traffic) only the one holding the controllers'
	// Lease writes it. False: it always writes.
	StatusByLeader bool
	// DialTimeout bounds connecting to a backend; ResponseHeaderTimeout
	// bounds waiting for its response headers (nginx's
	// proxy_connect_timeout and proxy_read_timeout).
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
}

// DefaultConfig returns the settings of `gantry server`: ports 80 and 443
// on every address, the IngressClass "gantry".
func DefaultConfig() Config {
	return Config{
		HTTPAddr:              ":80",
		HTTPSAddr:             ":443",
		ClassName:             DefaultClassName,
		ControllerName:        DefaultControllerName,
		DialTimeout:           5 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
}
