package clusterdns

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// FuzzServeDNS feeds arbitrary packets to the query handler, as the
// server would after decoding them: it must never panic, and whatever it
// answers must be a packable response to the same ID. The seed corpus in
// testdata/fuzz/FuzzServeDNS holds a query of every kind the server
// answers; run with
//
//	go test -run '^$' -fuzz FuzzServeDNS -fuzztime 60s ./internal/clusterdns
func FuzzServeDNS(f *testing.F) {
	up := startUpstream(f)
	cfg := testConfig()
	cfg.Upstreams = []string{up.addr}
	s, _ := newSyncedServer(f, cfg, testObjects()...)
	f.Fuzz(func(t *testing.T, packet []byte, tcp bool) {
		req := new(dns.Msg)
		if err := req.Unpack(packet); err != nil {
			return // the server drops (or FORMERRs) what does not decode
		}
		w := &recorder{tcp: tcp}
		s.ServeDNS(w, req)
		if w.msg == nil {
			return
		}
		if w.msg.Id != req.Id || !w.msg.Response {
			t.Fatalf("answer id %d response %v to query id %d", w.msg.Id, w.msg.Response, req.Id)
		}
		if _, err := w.msg.Pack(); err != nil && w.err == nil {
			t.Fatalf("answer does not pack: %v", err)
		}
	})
}

// recorder is a dns.ResponseWriter that keeps the message written.
type recorder struct {
	tcp bool
	msg *dns.Msg
	err error
}

var _ dns.ResponseWriter = (*recorder)(nil)

func (r *recorder) LocalAddr() net.Addr {
	if r.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
}

func (r *recorder) RemoteAddr() net.Addr {
	if r.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}

func (r *recorder) WriteMsg(m *dns.Msg) error {
	r.msg = m
	_, r.err = m.Pack() // as the server's writer does
	return r.err
}

func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}
