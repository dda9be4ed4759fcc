package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// UDP has no connection to end: a conntrack entry keeps sending a client's
// datagrams to the endpoint it was first DNATed to, even after that
// endpoint has left the service, until the entry times out. Like
// kube-proxy, the proxy deletes those entries once the endpoint is gone
// from the rules.

// ErrConntrack means stale UDP conntrack entries could not be removed.
var ErrConntrack = errors.New("proxy: removing stale conntrack entries")

// conntrackCleaner is the optional backend capability of removing
// conntrack entries.
type conntrackCleaner interface {
	// ClearConntrack deletes the UDP entries matching any filter and
	// returns how many it deleted. Entries that vanish meanwhile are not
	// errors.
	ClearConntrack(filters []ctFilter) (int, error)
}

var _ conntrackCleaner = (*nftBackend)(nil)

// ctFilter matches UDP conntrack entries: original destination dst (any
// when invalid, for node ports) and port dport, answered by replySrc.
type ctFilter struct {
	dst      netip.Addr
	dport    uint16
	replySrc netip.Addr
}

// staleUDP returns filters for the UDP flows that prev sent to endpoints
// next no longer sends the same traffic to.
func staleUDP(prev, next *Ruleset) []ctFilter {
	if prev == nil {
		return nil
	}
	var out []ctFilter
	for i := range prev.Services {
		sp := &prev.Services[i]
		if sp.Protocol != corev1.ProtocolUDP {
			continue
		}
		nsp := next.Service(sp.Key())
		// left reports whether ep no longer gets the traffic now(sp) got.
		left := func(ep Endpoint, now func(*ServicePort) []Endpoint) bool {
			if nsp == nil {
				return true
			}
			return !slices.ContainsFunc(now(nsp), func(e Endpoint) bool { return e.Addr == ep.Addr && e.Port == ep.Port })
		}
		for _, ep := range sp.ClusterTargets() {
			if left(ep, (*ServicePort).ClusterTargets) {
				out = append(out, ctFilter{dst: sp.ClusterIP, dport: sp.Port, replySrc: ep.Addr})
			}
		}
		var gone []netip.Addr
		for _, ep := range sp.ExternalTargets() {
			if left(ep, (*ServicePort).ExternalTargets) {
				gone = append(gone, ep.Addr)
			}
		}
		for _, a := range gone {
			for _, ext := range sp.ExternalAddrs {
				out = append(out, ctFilter{dst: ext, dport: sp.Port, replySrc: a})
			}
			if sp.NodePort != 0 {
				out = append(out, ctFilter{dport: sp.NodePort, replySrc: a})
			}
		}
	}
	return out
}

// Conntrack netlink message and attribute types (linux/netfilter/nfnetlink_conntrack.h).
const (
	ipctnlMsgCtGet    = 1
	ipctnlMsgCtDelete = 2

	ctaTupleOrig  = 1
	ctaTupleReply = 2
	ctaTupleIP    = 1
	ctaTupleProto = 2
	ctaIPv4Src    = 1
	ctaIPv4Dst    = 2
	ctaProtoNum   = 1
	ctaProtoDst   = 3
)

// ctTuple is the part of a conntrack tuple the filters look at.
type ctTuple struct {
	src, dst netip.Addr
	proto    uint8
	dport    uint16
}

// ClearConntrack implements conntrackCleaner: it dumps the IPv4
// conntrack table and deletes the matching UDP entries by their original
// tuple.
func (b *nftBackend) ClearConntrack(filters []ctFilter) (int, error) {
	if len(filters) == 0 {
		return 0, nil
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: b.netns})
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrConntrack, err)
	}
	defer c.Close()
	header := []byte{unix.AF_INET, unix.NFNETLINK_V0, 0, 0}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_CTNETLINK<<8 | ipctnlMsgCtGet), Flags: netlink.Request | netlink.Dump},
		Data:   header,
	})
	if err != nil {
		return 0, fmt.Errorf("%w: dump: %w", ErrConntrack, err)
	}
	deleted := 0
	var errs error
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		rawOrig, orig, reply, ok := parseFlow(m.Data[4:])
		if !ok || orig.proto != unix.IPPROTO_UDP || !matchesAny(orig, reply, filters) {
			continue
		}
		attrs, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: ctaTupleOrig | unix.NLA_F_NESTED, Data: rawOrig}})
		if err != nil {
			return deleted, fmt.Errorf("%w: %w", ErrConntrack, err)
		}
		_, err = c.Execute(netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_CTNETLINK<<8 | ipctnlMsgCtDelete), Flags: netlink.Request | netlink.Acknowledge},
			Data:   append(slices.Clone(header), attrs...),
		})
		switch {
		case err == nil:
			deleted++
		case errors.Is(err, os.ErrNotExist), errors.Is(err, unix.ENOENT):
		default:
			errs = errors.Join(errs, err)
		}
	}
	if errs != nil {
		return deleted, fmt.Errorf("%w: %w", ErrConntrack, errs)
	}
	return deleted, nil
}

func matchesAny(orig, reply ctTuple, filters []ctFilter) bool {
	for _, f := range filters {
		if (!f.dst.IsValid() || f.dst == orig.dst) && f.dport == orig.dport && f.replySrc == reply.src {
			return true
		}
	}
	return false
}

// parseFlow reads the original (also returned raw) and reply tuples of a
// conntrack entry's attributes.
func parseFlow(b []byte) (rawOrig []byte, orig, reply ctTuple, ok bool) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, orig, reply, false
	}
	var haveOrig, haveReply bool
	for ad.Next() {
		switch ad.Type() {
		case ctaTupleOrig:
			rawOrig = slices.Clone(ad.Bytes())
			orig, haveOrig = parseTuple(rawOrig)
		case ctaTupleReply:
			reply, haveReply = parseTuple(ad.Bytes())
		}
	}
	return rawOrig, orig, reply, ad.Err() == nil && haveOrig && haveReply
}

func parseTuple(b []byte) (ctTuple, bool) {
	var t ctTuple
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return t, false
	}
	for ad.Next() {
		switch ad.Type() {
		case ctaTupleIP:
			ip, err := netlink.NewAttributeDecoder(ad.Bytes())
			if err != nil {
				return t, false
			}
			for ip.Next() {
				if a, ok := netip.AddrFromSlice(ip.Bytes()); ok && len(ip.Bytes()) == 4 {
					switch ip.Type() {
					case ctaIPv4Src:
						t.src = a
					case ctaIPv4Dst:
						t.dst = a
					}
				}
			}
		case ctaTupleProto:
			pr, err := netlink.NewAttributeDecoder(ad.Bytes())
			if err != nil {
				return t, false
			}
			for pr.Next() {
				switch v := pr.Bytes(); {
				case pr.Type() == ctaProtoNum && len(v) == 1:
					t.proto = v[0]
				case pr.Type() == ctaProtoDst && len(v) == 2:
					t.dport = binary.BigEndian.Uint16(v)
				}
			}
		}
	}
	return t, ad.Err() == nil && t.src.IsValid() && t.dst.IsValid()
}
