package proxy

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Sentinel errors.
var (
	// ErrApply means the kernel refused a batch; nothing of it was applied
	// (nftables transactions are atomic) and the next sync rebuilds the
	// whole table.
	ErrApply = errors.New("proxy: applying nftables rules")
	// ErrCleanup means the table could not be removed.
	ErrCleanup = errors.New("proxy: removing nftables table")
	// ErrRunning means Run was called a second time.
	ErrRunning = errors.New("proxy: already run")
)

// backend programs a Ruleset. The Proxy calls it from one goroutine.
type backend interface {
	// Apply replaces whatever was applied before with r, atomically, and
	// returns the number of rules in force. With refresh it rewrites
	// everything it owns even where it believes nothing changed. After an
	// error nothing of r is applied and the previous rules stay.
	Apply(r *Ruleset, refresh bool) (rules int, err error)
	// Cleanup removes everything the backend owns. It is idempotent: no
	// table is not an error.
	Cleanup() error
}

// socketBuffer is the netlink socket buffer size asked for: a batch for
// thousands of services is several megabytes, and the kernel acknowledges
// every message of it.
const socketBuffer = 64 << 20

// nftBackend owns one "ip" family table and changes it in one netlink
// batch per Apply. It remembers a fingerprint of every chain it wrote:
// chains whose content changed are flushed and refilled, chains no longer
// wanted deleted, new ones added, and the rest left alone, so that a
// change to one service costs a few messages and session affinity sets
// keep their entries. A refresh refills every chain. When it does not
// know the table's content (first Apply, or after an error) it deletes
// and recreates the table in the same batch instead.
type nftBackend struct {
	netns int // network namespace fd; 0 for the caller's
	table string
	mark  uint32

	prevChains map[string]string // name → fingerprint; nil: unknown, rebuild
	prevSets   map[string]bool
}

var _ backend = (*nftBackend)(nil)

func newNFTBackend(netns int, table string, mark uint32) *nftBackend {
	return &nftBackend{netns: netns, table: table, mark: mark}
}

func (b *nftBackend) conn() (*nftables.Conn, *nftables.Table, error) {
	c, err := nftables.New(nftables.WithNetNSFd(b.netns), nftables.WithSockOptions(largeBuffers))
	if err != nil {
		return nil, nil, err
	}
	return c, &nftables.Table{Name: b.table, Family: nftables.TableFamilyIPv4}, nil
}

// largeBuffers raises the socket buffers past the system limits when the
// process may (CAP_NET_ADMIN), and to the limits otherwise.
func largeBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var forced error
	if err := rc.Control(func(fd uintptr) {
		forced = errors.Join(
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBuffer),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer))
	}); err != nil {
		return err
	}
	if forced != nil {
		_ = c.SetWriteBuffer(socketBuffer)
		_ = c.SetReadBuffer(socketBuffer)
	}
	return nil
}

// Apply implements backend.
func (b *nftBackend) Apply(r *Ruleset, refresh bool) (int, error) {
	p := buildPlan(r, b.mark)
	c, t, err := b.conn()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrApply, err)
	}
	// Fingerprints before set IDs are filled in: IDs differ per batch.
	wantChains := make(map[string]string, len(p.chains))
	for _, ch := range p.chains {
		fp, err := ch.fingerprint()
		if err != nil {
			return 0, fmt.Errorf("%w: chain %s: %w", ErrApply, ch.name, err)
		}
		wantChains[ch.name] = fp
	}
	// rewrite reports whether the chain's rules must be (re)written.
	rewrite := func(name string) bool {
		prev, ok := b.prevChains[name]
		return !ok || refresh || prev != wantChains[name]
	}
	wantSets := make(map[string]bool, len(p.sets))
	for _, s := range p.sets {
		wantSets[s.name] = true
	}

	full := b.prevChains == nil
	c.AddTable(t) // creates it if missing, so that a delete cannot fail
	if full {
		c.DelTable(t)
		c.AddTable(t)
	} else {
		// Flush first: a chain can only be deleted once no rule jumps to
		// it, and every rule naming a deleted chain is in a changed one.
		for name := range b.prevChains {
			if _, keep := wantChains[name]; !keep || rewrite(name) {
				c.FlushChain(&nftables.Chain{Name: name, Table: t})
			}
		}
		for name := range b.prevChains {
			if _, keep := wantChains[name]; !keep {
				c.DelChain(&nftables.Chain{Name: name, Table: t})
			}
		}
		for name := range b.prevSets {
			if !wantSets[name] {
				c.DelSet(&nftables.Set{Name: name, Table: t})
			}
		}
	}

	chains := make(map[string]*nftables.Chain, len(p.chains))
	for _, spec := range p.chains {
		ch := &nftables.Chain{Name: spec.name, Table: t}
		if spec.base != nil {
			ch.Type, ch.Hooknum, ch.Priority = spec.base.typ, spec.base.hook, spec.base.prio
		}
		chains[spec.name] = ch
		if _, ok := b.prevChains[spec.name]; full || !ok {
			c.AddChain(ch)
		}
	}
	// Set IDs identify sets created in this batch; rules name the others.
	nextID := uint32(1)
	newSets := make(map[string]uint32)
	for _, s := range p.sets {
		if !full && b.prevSets[s.name] {
			continue
		}
		set := &nftables.Set{
			Table: t, ID: nextID, Name: s.name, KeyType: nftables.TypeIPAddr,
			HasTimeout: true, Dynamic: true, Timeout: s.timeout,
		}
		nextID++
		if err := c.AddSet(set, nil); err != nil {
			return 0, fmt.Errorf("%w: set %s: %v", ErrApply, s.name, err)
		}
		newSets[s.name] = set.ID
	}
	for _, spec := range p.chains {
		if !full && !rewrite(spec.name) {
			continue
		}
		for _, rule := range spec.rules {
			exprs := rule.exprs
			for _, e := range exprs {
				switch e := e.(type) {
				case *expr.Lookup:
					e.SetID = newSets[e.SetName]
				case *expr.Dynset:
					e.SetID = newSets[e.SetName]
				}
			}
			if rule.vmap != nil {
				m := &nftables.Set{
					Table: t, ID: nextID, Name: "__map%d", Anonymous: true, Constant: true, IsMap: true,
					KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict, KeyByteOrder: binaryutil.NativeEndian,
				}
				nextID++
				elems := make([]nftables.SetElement, len(rule.vmap))
				for i, target := range rule.vmap {
					elems[i] = nftables.SetElement{
						Key:         binaryutil.NativeEndian.PutUint32(uint32(i)),
						VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: target},
					}
				}
				if err := c.AddSet(m, elems); err != nil {
					return 0, fmt.Errorf("%w: map in chain %s: %v", ErrApply, spec.name, err)
				}
				exprs = concat(exprs, randomVmap(m, len(rule.vmap)))
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: chains[spec.name], Exprs: exprs})
		}
	}
	if err := c.Flush(); err != nil {
		b.prevChains, b.prevSets = nil, nil
		return 0, fmt.Errorf("%w: %w", ErrApply, err)
	}
	b.prevChains, b.prevSets = wantChains, wantSets
	return p.rules(), nil
}

// Cleanup implements backend.
func (b *nftBackend) Cleanup() error {
	b.prevChains, b.prevSets = nil, nil
	c, t, err := b.conn()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCleanup, err)
	}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("%w: %w", ErrCleanup, err)
	}
	return nil
}
