package clusterdns

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/informers"
)

// Config configures the cluster DNS server.
type Config struct {
	// ListenAddrs are the host:port addresses served, each over UDP and
	// TCP. Port 0 picks one free port, the same for UDP and TCP.
	ListenAddrs []string
	// ClusterDomain is the zone answered from the caches, e.g. "cluster.local".
	ClusterDomain string
	// Upstreams are the resolvers (host:port, or an IP for port 53) that
	// names outside the cluster domain are forwarded to. Empty means the
	// nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read for upstream nameservers when Upstreams is empty.
	ResolvConf string
	// TTL of the records served from the caches, and of negative answers.
	TTL time.Duration
	// ForwardTimeout bounds one forwarded query over all upstreams; each
	// upstream gets an equal share of it.
	ForwardTimeout time.Duration
	// ReusePort binds the listen addresses with SO_REUSEPORT (Linux), so
	// that the DNS servers of several nodes on one host can serve the
	// same address; the kernel spreads queries over them.
	ReusePort bool
	// Informers, if set, is an informer factory shared with the other
	// components of this node (its watches are unfiltered): the server
	// takes its Service and EndpointSlice informers from it and starts
	// them, and its owner shuts it down. Nil means a factory of its own.
	Informers informers.SharedInformerFactory
}

// DefaultConfig returns the settings of Kubernetes' default CoreDNS
// configuration: cluster.local with a 30 s TTL, upstreams from the host's
// /etc/resolv.conf, served on port 53 of every address.
func DefaultConfig() Config {
	return Config{
		ListenAddrs:    []string{"0.0.0.0:53"},
		ClusterDomain:  "cluster.local",
		ResolvConf:     "/etc/resolv.conf",
		TTL:            30 * time.Second,
		ForwardTimeout: 5 * time.Second,
	}
}

// ErrNoUpstreams means no upstream resolver was configured or found.
var ErrNoUpstreams = errors.New("clusterdns: no upstream resolvers")

// upstreams returns the configured upstreams as host:port, reading
// ResolvConf when none is given. Upstreams that are this server are
// dropped, so a host whose resolv.conf names it cannot loop: those on a
// listen address, and, for a listener on the unspecified address, those
// on a loopback or local address with its port.
func (c Config) upstreams() ([]string, error) {
	list := c.Upstreams
	if len(list) == 0 && c.ResolvConf != "" {
		var err error
		if list, err = ReadResolvConf(c.ResolvConf); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, u := range list {
		addr := u
		if ip, err := netip.ParseAddr(u); err == nil {
			addr = net.JoinHostPort(ip.String(), "53")
		} else if _, _, err := net.SplitHostPort(u); err != nil {
			return nil, fmt.Errorf("clusterdns: upstream %q: %w", u, err)
		}
		if !c.isSelf(addr, localAddrs) {
			out = append(out, addr)
		}
	}
	return out, nil
}

// isSelf reports whether upstream (host:port) reaches one of the listen
// addresses; local returns the host's addresses.
func (c Config) isSelf(upstream string, local func() []netip.Addr) bool {
	up, err := netip.ParseAddrPort(upstream)
	if err != nil {
		return false // a host name: not ours
	}
	upIP := up.Addr().WithZone("").Unmap()
	for _, l := range c.ListenAddrs {
		host, port, err := net.SplitHostPort(l)
		if err != nil || port != strconv.Itoa(int(up.Port())) {
			continue
		}
		ip, err := netip.ParseAddr(host)
		switch {
		case host == "" || (err == nil && ip.IsUnspecified()):
			if upIP.IsLoopback() || slices.Contains(local(), upIP) {
				return true
			}
		case err == nil && ip.WithZone("").Unmap() == upIP:
			return true
		}
	}
	return false
}

// localAddrs returns the addresses of the host's interfaces.
func localAddrs() []netip.Addr {
	addrs, _ := net.InterfaceAddrs()
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// ReadResolvConf returns the nameserver addresses of a resolv.conf file
// as host:port.
func ReadResolvConf(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("clusterdns: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		// A link-local IPv6 nameserver may carry a zone (fe80::1%eth0).
		ip, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		out = append(out, net.JoinHostPort(ip.String(), "53"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("clusterdns: %s: %w", path, err)
	}
	return out, nil
}
