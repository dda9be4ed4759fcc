package clusterdns

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkQueries measures queries/s against the in-process server over
// loopback UDP: the A record of a ClusterIP service, one client socket per
// parallel goroutine (-cpu sets GOMAXPROCS; -test.parallelism multiplies
// the clients). Run with
//
//	go test -run '^$' -bench Queries -benchtime 5s ./internal/clusterdns
func BenchmarkQueries(b *testing.B) {
	cfg := testConfig()
	r := startServer(b, cfg, testObjects()...)
	for _, bb := range []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"serviceA", "web.default.svc.cluster.local.", dns.TypeA},
		{"headlessSRV", "_pg._tcp.db.default.svc.cluster.local.", dns.TypeSRV},
		{"nxdomain", "nope.default.svc.cluster.local.", dns.TypeA},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
				conn, err := c.Dial(r.addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				m := new(dns.Msg)
				m.SetQuestion(bb.qname, bb.qtype)
				for pb.Next() {
					m.Id = dns.Id()
					if err := conn.WriteMsg(m); err != nil {
						b.Error(err)
						return
					}
					resp, err := conn.ReadMsg()
					if err != nil {
						b.Error(err)
						return
					}
					if resp.Id != m.Id || len(resp.Answer) == 0 && resp.Rcode == dns.RcodeSuccess {
						b.Errorf("bad answer %v", resp)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}

// BenchmarkAnswer measures the answer computation alone (no sockets).
func BenchmarkAnswer(b *testing.B) {
	s, _ := newSyncedServer(b, testConfig(), testObjects()...)
	req := new(dns.Msg)
	req.SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if resp, _ := s.answer(ctx, req); len(resp.Answer) != 1 {
			b.Fatal(resp)
		}
	}
}
