package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
)

// ErrFull is returned by allocate when every node range is taken.
var ErrFull = errors.New("nodeipam: cluster CIDR is full")

// maxSubnetBits bounds the number of node ranges (2^maxSubnetBits), as
// Kubernetes does: a larger difference between the cluster prefix and the
// node mask size is a configuration error.
const maxSubnetBits = 16

// cidrSet hands out the node-sized subnets of one cluster CIDR. It is not
// safe for concurrent use; Controller guards it.
type cidrSet struct {
	base     netip.Prefix
	maskSize int
	count    int          // number of subnets
	used     map[int]bool // subnet index → taken
	next     int          // where the next search starts
}

func newCIDRSet(clusterCIDR string, maskSize int) (*cidrSet, error) {
	base, err := netip.ParsePrefix(clusterCIDR)
	if err != nil {
		return nil, fmt.Errorf("nodeipam: cluster CIDR %q: %w", clusterCIDR, err)
	}
	base = base.Masked()
	if maskSize < base.Bits() || maskSize > base.Addr().BitLen() {
		return nil, fmt.Errorf("nodeipam: node mask size /%d does not fit in cluster CIDR %s", maskSize, base)
	}
	if maskSize-base.Bits() > maxSubnetBits {
		return nil, fmt.Errorf("nodeipam: node mask size /%d makes more than 2^%d ranges in %s", maskSize, maxSubnetBits, base)
	}
	return &cidrSet{base: base, maskSize: maskSize, count: 1 << (maskSize - base.Bits()), used: map[int]bool{}}, nil
}

// subnet returns the subnet with index i.
func (s *cidrSet) subnet(i int) netip.Prefix {
	shift := uint(s.base.Addr().BitLen() - s.maskSize)
	n := new(big.Int).SetBytes(s.base.Addr().AsSlice())
	n.Add(n, new(big.Int).Lsh(big.NewInt(int64(i)), shift))
	b := make([]byte, s.base.Addr().BitLen()/8)
	n.FillBytes(b)
	addr, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(addr, s.maskSize)
}

// index returns the index of the subnet containing addr.
func (s *cidrSet) index(addr netip.Addr) int {
	shift := uint(s.base.Addr().BitLen() - s.maskSize)
	n := new(big.Int).SetBytes(addr.AsSlice())
	n.Sub(n, new(big.Int).SetBytes(s.base.Addr().AsSlice()))
	return int(n.Rsh(n, shift).Int64())
}

// span returns the indexes [first, last] of the subnets p overlaps, or
// false when p lies outside the cluster CIDR or is of another family.
func (s *cidrSet) span(p netip.Prefix) (first, last int, ok bool) {
	p = p.Masked()
	if p.Addr().Is4() != s.base.Addr().Is4() || !s.base.Overlaps(p) {
		return 0, 0, false
	}
	if p.Bits() < s.base.Bits() { // p covers the whole cluster CIDR
		return 0, s.count - 1, true
	}
	first = s.index(p.Addr())
	if p.Bits() >= s.maskSize {
		return first, first, true
	}
	return first, first + 1<<(s.maskSize-p.Bits()) - 1, true
}

// allocate takes the next free subnet.
func (s *cidrSet) allocate() (netip.Prefix, error) {
	for k := range s.count {
		i := (s.next + k) % s.count
		if !s.used[i] {
			s.used[i] = true
			s.next = (i + 1) % s.count
			return s.subnet(i), nil
		}
	}
	return netip.Prefix{}, ErrFull
}

// occupy marks every subnet p overlaps as taken. It reports false when p
// is not in the cluster CIDR.
func (s *cidrSet) occupy(p netip.Prefix) bool {
	first, last, ok := s.span(p)
	for i := first; ok && i <= last; i++ {
		s.used[i] = true
	}
	return ok
}

// release frees every subnet p overlaps.
func (s *cidrSet) release(p netip.Prefix) {
	first, last, ok := s.span(p)
	for i := first; ok && i <= last; i++ {
		delete(s.used, i)
	}
}

// free returns the number of subnets not taken.
func (s *cidrSet) free() int { return s.count - len(s.used) }
