package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/gantry-dev/gantry/internal/container"
)

// errNoIP means every address of the node's pod CIDR is in use.
var errNoIP = errors.New("agent: no free IP in the node's pod CIDR")

// ipam hands out pod IPs from the node's pod CIDR. The runtime is the
// record of what is in use (sandboxes carry their IP), so the allocator is
// rebuilt from it when the agent starts. It moves a cursor forward so that
// an IP just released is not reused at once.
type ipam struct {
	mu       sync.Mutex
	base     uint32
	size     uint32
	reserved map[uint32]bool
	used     map[uint32]bool
	next     uint32
}

func newIPAM(cidr *net.IPNet, gateway net.IP) *ipam {
	ones, bits := cidr.Mask.Size()
	m := &ipam{
		base:     binary.BigEndian.Uint32(cidr.IP.To4()),
		size:     uint32(1) << uint(bits-ones),
		reserved: map[uint32]bool{},
		used:     map[uint32]bool{},
		next:     2,
	}
	m.reserved[0] = true        // network
	m.reserved[m.size-1] = true // broadcast
	m.reserved[1] = true        // first address: a gateway by convention
	if g := gateway.To4(); g != nil && cidr.Contains(g) {
		m.reserved[binary.BigEndian.Uint32(g)-m.base] = true
	}
	return m
}

// recover marks the IPs of the node's existing sandboxes as used.
func (m *ipam) recover(ctx context.Context, rt container.SandboxManager) error {
	sbs, err := rt.ListSandboxes(ctx, container.SandboxFilter{State: container.SandboxReady})
	if err != nil {
		return fmt.Errorf("agent: list sandboxes: %w", err)
	}
	for _, sb := range sbs {
		m.claim(sb.IP)
	}
	return nil
}

// allocate returns a free IP.
func (m *ipam) allocate() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := uint32(0); i < m.size; i++ {
		off := (m.next + i) % m.size
		if m.reserved[off] || m.used[off] {
			continue
		}
		m.used[off] = true
		m.next = off + 1
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, m.base+off)
		return ip.String(), nil
	}
	return "", errNoIP
}

// claim marks ip as used (adopted sandboxes).
func (m *ipam) claim(ip string) {
	if off, ok := m.offset(ip); ok {
		m.mu.Lock()
		m.used[off] = true
		m.mu.Unlock()
	}
}

// release frees ip. Idempotent.
func (m *ipam) release(ip string) {
	if off, ok := m.offset(ip); ok {
		m.mu.Lock()
		delete(m.used, off)
		m.mu.Unlock()
	}
}

func (m *ipam) offset(ip string) (uint32, bool) {
	p := net.ParseIP(ip).To4()
	if p == nil {
		return 0, false
	}
	v := binary.BigEndian.Uint32(p)
	if v < m.base || v-m.base >= m.size {
		return 0, false
	}
	return v - m.base, true
}
