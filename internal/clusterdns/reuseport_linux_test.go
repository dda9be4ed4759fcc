package clusterdns

import "testing"

// Two nodes on one host serve the same address with ReusePort; without
// it the second bind fails.
func TestListenReusePort(t *testing.T) {
	first, err := listen("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	defer first.close()
	addr := first.tcp.Addr().String()
	second, err := listen(addr, true)
	if err != nil {
		t.Fatalf("second listener on %s with SO_REUSEPORT: %v", addr, err)
	}
	second.close()
	if l, err := listen(addr, false); err == nil {
		l.close()
		t.Fatalf("listener on %s without SO_REUSEPORT succeeded while another holds it", addr)
	}
}
