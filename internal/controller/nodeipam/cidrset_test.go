package nodeipam

import (
	"errors"
	"net/netip"
	"testing"
)

func TestCIDRSetAllocate(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		mask    int
		want    []string
	}{
		{"ipv4 /24 of /16", "10.42.0.0/16", 24, []string{"10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"}},
		{"ipv4 unaligned base is masked", "10.42.7.9/16", 24, []string{"10.42.0.0/24", "10.42.1.0/24"}},
		{"ipv4 /26 of /24", "192.168.1.0/24", 26, []string{"192.168.1.0/26", "192.168.1.64/26", "192.168.1.128/26", "192.168.1.192/26"}},
		{"ipv6 /64 of /56", "fd00:42::/56", 64, []string{"fd00:42::/64", "fd00:42:0:1::/64", "fd00:42:0:2::/64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newCIDRSet(tt.cluster, tt.mask)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				got, err := s.allocate()
				if err != nil {
					t.Fatalf("allocation %d: %v", i, err)
				}
				if got.String() != want {
					t.Fatalf("allocation %d = %s, want %s", i, got, want)
				}
			}
		})
	}
}

func TestCIDRSetFullOccupyRelease(t *testing.T) {
	s, err := newCIDRSet("10.0.0.0/24", 26)
	if err != nil {
		t.Fatal(err)
	}
	// Existing ranges (a restart) are never handed out again.
	if !s.occupy(netip.MustParsePrefix("10.0.0.64/26")) {
		t.Fatal("occupy in range reported false")
	}
	if s.occupy(netip.MustParsePrefix("10.1.0.0/26")) {
		t.Fatal("occupy outside the cluster CIDR reported true")
	}
	if s.occupy(netip.MustParsePrefix("fd00::/64")) {
		t.Fatal("occupy of another family reported true")
	}
	got := map[string]bool{}
	for range 3 {
		p, err := s.allocate()
		if err != nil {
			t.Fatal(err)
		}
		got[p.String()] = true
	}
	if got["10.0.0.64/26"] || len(got) != 3 {
		t.Fatalf("allocated %v, want the three ranges other than 10.0.0.64/26", got)
	}
	if _, err := s.allocate(); !errors.Is(err, ErrFull) {
		t.Fatalf("allocate on a full set = %v, want ErrFull", err)
	}
	if s.free() != 0 {
		t.Fatalf("free = %d, want 0", s.free())
	}
	s.release(netip.MustParsePrefix("10.0.0.128/26"))
	p, err := s.allocate()
	if err != nil || p.String() != "10.0.0.128/26" {
		t.Fatalf("allocate after release = %v, %v; want 10.0.0.128/26", p, err)
	}
	// A larger prefix occupies every range it covers.
	s2, _ := newCIDRSet("10.0.0.0/24", 26)
	s2.occupy(netip.MustParsePrefix("10.0.0.0/25"))
	if s2.free() != 2 {
		t.Fatalf("free after occupying a /25 = %d, want 2", s2.free())
	}
}

func TestNewCIDRSetRejects(t *testing.T) {
	for _, tt := range []struct {
		cluster string
		mask    int
	}{
		{"not-a-cidr", 24},
		{"10.42.0.0/16", 8},  // mask shorter than the cluster prefix
		{"10.42.0.0/16", 33}, // longer than an address
		{"10.0.0.0/8", 30},   // 2^22 ranges
	} {
		if _, err := newCIDRSet(tt.cluster, tt.mask); err == nil {
			t.Errorf("newCIDRSet(%q, %d) succeeded", tt.cluster, tt.mask)
		}
	}
}
