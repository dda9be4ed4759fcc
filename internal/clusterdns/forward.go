package clusterdns

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// forwarder sends questions outside the cluster zone to the upstream
// resolvers, in their configured order (as the C library does): an
// upstream that fails, or answers SERVFAIL or REFUSED, passes the
// question to the next.
type forwarder struct {
	upstreams []string
	timeout   time.Duration
	udp, tcp  *dns.Client
}

func newForwarder(upstreams []string, timeout time.Duration) *forwarder {
	return &forwarder{
		upstreams: upstreams,
		timeout:   timeout,
		udp:       &dns.Client{Net: "udp"},
		tcp:       &dns.Client{Net: "tcp"},
	}
}

// exchange forwards req over UDP, again over TCP when the answer is
// truncated. It returns the first usable answer, else the last SERVFAIL
// or REFUSED one, else an error joining each upstream's.
func (f *forwarder) exchange(ctx context.Context, req *dns.Msg) (*dns.Msg, error) {
	if len(f.upstreams) == 0 {
		return nil, ErrNoUpstreams
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	per := f.timeout / time.Duration(len(f.upstreams))
	var (
		errs []error
		last *dns.Msg
	)
	for _, u := range f.upstreams {
		if ctx.Err() != nil {
			break
		}
		r, err := f.one(ctx, per, req, u)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		if r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused {
			last = r
			continue
		}
		return r, nil
	}
	if last != nil {
		return last, nil
	}
	if len(errs) == 0 {
		errs = append(errs, ctx.Err())
	}
	return nil, errors.Join(errs...)
}

func (f *forwarder) one(ctx context.Context, timeout time.Duration, req *dns.Msg, upstream string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, _, err := f.udp.ExchangeContext(ctx, req, upstream)
	if err == nil && r.Truncated {
		r, _, err = f.tcp.ExchangeContext(ctx, req, upstream)
	}
	return r, err
}
