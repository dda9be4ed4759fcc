package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantry-dev/gantry/internal/ingress"
)

// startIngress starts the built-in Ingress controller (issue 5, item 3)
// on cfg's ingress ports, at the API server's bind address, unless both
// ports are 0 (then it returns a nil controller). It returns a function
// that stops it and waits until it has.
func startIngress(ctx context.Context, cfg Config, rc *rest.Config, metrics prometheus.Registerer, log *slog.Logger) (c *ingress.Controller, stop func(), err error) {
	if cfg.IngressHTTPPort == 0 && cfg.IngressHTTPSPort == 0 {
		return nil, func() {}, nil
	}
	icfg := ingress.DefaultConfig()
	icfg.HTTPAddr, icfg.HTTPSAddr = "", ""
	if cfg.IngressHTTPPort != 0 {
		icfg.HTTPAddr = net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.IngressHTTPPort))
	}
	if cfg.IngressHTTPSPort != 0 {
		icfg.HTTPSAddr = net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.IngressHTTPSPort))
	}
	icfg.StatusAddresses = ingressAddresses(cfg.BindAddress)
	// Only the server holding the controllers' Lease writes status
	// (Server.setLeading).
	icfg.StatusByLeader = true
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "gantry-controller/ingress"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("ingress client: %w", err)
	}
	c, err = ingress.New(icfg, client, metrics, log)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Run(ctx); err != nil {
			log.Error("ingress controller stopped", "err", err)
		}
	})
	return c, func() { cancel(); wg.Wait() }, nil
}

// ingressAddresses is what served Ingresses report as their address
// (status.loadBalancer.ingress): the bind address when it is a specific
// one, else the host's first non-loopback IPv4 address (the address the
// kubernetes Service's endpoint publishes), else 127.0.0.1.
func ingressAddresses(bind string) []string {
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
		return []string{ip.String()}
	}
	for _, ip := range hostIPs() {
		if ip.To4() != nil {
			return []string{ip.String()}
		}
	}
	return []string{"127.0.0.1"}
}
