package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Fixed chain names (see the package documentation for the layout).
const (
	chainNatPrerouting  = "nat-prerouting"
	chainNatOutput      = "nat-output"
	chainNatPostrouting = "nat-postrouting"
	chainFilterInput    = "filter-input"
	chainFilterForward  = "filter-forward"
	chainFilterOutput   = "filter-output"
	chainServices       = "services"
	chainNodePorts      = "nodeports"
	chainMarkMasq       = "mark-for-masquerade"
	chainNoEndpoints    = "no-endpoints"
)

// filterPriority runs the reject/drop checks before Docker's and
// iptables-nft's filter chains (priority 0) and, on output, before DNAT.
var filterPriority = nftables.ChainPriority(-110)

// baseChain is the hook of a base chain.
type baseChain struct {
	typ  nftables.ChainType
	hook *nftables.ChainHook
	prio *nftables.ChainPriority
}

// chainSpec is one chain to create and its rules.
type chainSpec struct {
	name  string
	base  *baseChain // nil for a regular chain
	rules []ruleSpec
}

// ruleSpec is one rule. When vmap is set, the rule's expressions are
// followed by "numgen random mod len(vmap) vmap { i : goto vmap[i] }".
type ruleSpec struct {
	exprs []expr.Any
	vmap  []string
}

// setSpec is a named dynamic set of client addresses (session affinity).
type setSpec struct {
	name    string
	timeout time.Duration
}

// plan is the whole table as data, computed from a Ruleset.
type plan struct {
	chains []*chainSpec
	sets   []setSpec
}

// rules returns the number of rules in the plan.
func (p *plan) rules() int {
	n := 0
	for _, c := range p.chains {
		n += len(c.rules)
	}
	return n
}

// fingerprint identifies the chain's hook and rules.
func (c *chainSpec) fingerprint() (string, error) {
	h := sha256.New()
	if c.base != nil {
		fmt.Fprintf(h, "%s %d %d\n", c.base.typ, *c.base.hook, *c.base.prio)
	}
	for _, r := range c.rules {
		for _, e := range r.exprs {
			b, err := expr.Marshal(byte(nftables.TableFamilyIPv4), e)
			if err != nil {
				return "", err
			}
			h.Write(b)
		}
		fmt.Fprintf(h, "|%q\n", r.vmap)
	}
	return string(h.Sum(nil)), nil
}

func (c *chainSpec) add(exprs ...[]expr.Any) {
	c.rules = append(c.rules, ruleSpec{exprs: concat(exprs...)})
}

// buildPlan lays out the table for r. mark is the masquerade mark bit.
func buildPlan(r *Ruleset, mark uint32) *plan {
	p := &plan{}
	chain := func(name string, base *baseChain) *chainSpec {
		c := &chainSpec{name: name, base: base}
		p.chains = append(p.chains, c)
		return c
	}
	nat := func(h *nftables.ChainHook, prio *nftables.ChainPriority) *baseChain {
		return &baseChain{typ: nftables.ChainTypeNAT, hook: h, prio: prio}
	}
	filter := func(h *nftables.ChainHook) *baseChain {
		return &baseChain{typ: nftables.ChainTypeFilter, hook: h, prio: &filterPriority}
	}
	jump := func(c string) []expr.Any { return []expr.Any{verdict(expr.VerdictJump, c)} }
	gotoChain := func(c string) []expr.Any { return []expr.Any{verdict(expr.VerdictGoto, c)} }

	chain(chainNatPrerouting, nat(nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)).add(jump(chainServices))
	chain(chainNatOutput, nat(nftables.ChainHookOutput, nftables.ChainPriorityNATDest)).add(jump(chainServices))
	post := chain(chainNatPostrouting, nat(nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource))
	post.add(matchMarkClear(mark), []expr.Any{verdict(expr.VerdictReturn, "")})
	post.add(setMark(mark, true), []expr.Any{&expr.Masq{FullyRandom: true}})
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
	}{{chainFilterInput, nftables.ChainHookInput}, {chainFilterForward, nftables.ChainHookForward}, {chainFilterOutput, nftables.ChainHookOutput}} {
		chain(h.name, filter(h.hook)).add(matchCtNew(), jump(chainNoEndpoints))
	}
	chain(chainMarkMasq, nil).add(setMark(mark, false))
	services := chain(chainServices, nil)
	nodePorts := chain(chainNodePorts, nil)
	noEndpoints := chain(chainNoEndpoints, nil)

	for i := range r.Services {
		sp := &r.Services[i]
		id := nameSuffix(sp)
		l4 := matchL4(sp.Protocol)
		vipMatch := concat(matchDaddr(sp.ClusterIP), l4, matchDport(sp.Port))

		// Endpoint chains, shared by cluster and external traffic.
		epChains := make(map[Endpoint]string)
		epSets := make(map[Endpoint]string)
		for _, list := range [][]Endpoint{sp.ClusterTargets(), sp.ExternalTargets()} {
			for _, ep := range list {
				if _, ok := epChains[ep]; ok {
					continue
				}
				suffix := id + "__" + ep.Addr.String() + "/" + strconv.Itoa(int(ep.Port))
				name := chainName("endpoint", suffix)
				epChains[ep] = name
				c := chain(name, nil)
				c.add(matchSaddr(ep.Addr), jump(chainMarkMasq)) // hairpin
				if sp.Affinity > 0 {
					set := chainName("affinity", suffix)
					epSets[ep] = set
					p.sets = append(p.sets, setSpec{name: set, timeout: sp.Affinity})
					c.add(updateSet(set, sp.Affinity))
				}
				c.add(l4, dnat(ep))
			}
		}
		// pick appends to c the rules choosing one of eps: the one a
		// client is pinned to, else a random one.
		pick := func(c *chainSpec, eps []Endpoint) {
			if sp.Affinity > 0 {
				for _, ep := range eps {
					c.add(inSet(epSets[ep]), gotoChain(epChains[ep]))
				}
			}
			if len(eps) == 1 {
				c.add(gotoChain(epChains[eps[0]]))
				return
			}
			targets := make([]string, len(eps))
			for i, ep := range eps {
				targets[i] = epChains[ep]
			}
			c.rules = append(c.rules, ruleSpec{vmap: targets})
		}

		// Cluster IP traffic.
		svcChain := ""
		switch {
		case len(sp.ClusterTargets()) > 0:
			svcChain = chainName("service", id)
			c := chain(svcChain, nil)
			if r.ClusterCIDR.IsValid() {
				// Not the node's own connections: their replies come
				// back to it anyway, and masquerading them with random
				// ports collides with the backend's TIME_WAIT sockets
				// (SYNs dropped by PAWS, 1-second stalls).
				c.add(matchPrefix(offSaddr, r.ClusterCIDR, true), matchNotLocal(false), jump(chainMarkMasq))
			}
			pick(c, sp.ClusterTargets())
			services.add(vipMatch, gotoChain(svcChain))
		case len(sp.Endpoints) == 0:
			noEndpoints.add(vipMatch, []expr.Any{reject()})
		default: // internalTrafficPolicy Local without local endpoints
			noEndpoints.add(vipMatch, []expr.Any{verdict(expr.VerdictDrop, "")})
		}

		// Node port and external address traffic.
		if !sp.External() {
			continue
		}
		var extMatches [][]expr.Any
		for _, a := range sp.ExternalAddrs {
			extMatches = append(extMatches, concat(matchDaddr(a), l4, matchDport(sp.Port)))
		}
		if len(sp.Endpoints) == 0 {
			for _, m := range extMatches {
				noEndpoints.add(m, []expr.Any{reject()})
			}
			if sp.NodePort != 0 {
				noEndpoints.add(matchLocal(true), l4, matchDport(sp.NodePort), []expr.Any{reject()})
			}
			continue
		}
		extChain := chainName("external", id)
		c := chain(extChain, nil)
		if !sp.ExternalLocal {
			c.add(jump(chainMarkMasq))
			pick(c, sp.ExternalTargets())
		} else {
			// Traffic from pods and from the node itself is cluster
			// traffic (kube-proxy's short-circuit); the rest keeps its
			// source and goes to local endpoints only, or is dropped.
			if svcChain != "" {
				if r.ClusterCIDR.IsValid() {
					c.add(matchPrefix(offSaddr, r.ClusterCIDR, false), gotoChain(svcChain))
				}
				c.add(matchLocal(false), jump(chainMarkMasq))
				c.add(matchLocal(false), gotoChain(svcChain))
			}
			if len(sp.LocalEndpoints) == 0 {
				c.add([]expr.Any{verdict(expr.VerdictDrop, "")})
			} else {
				pick(c, sp.LocalEndpoints)
			}
		}
		for _, m := range extMatches {
			services.add(m, gotoChain(extChain))
		}
		if sp.NodePort != 0 {
			nodePorts.add(l4, matchDport(sp.NodePort), gotoChain(extChain))
		}
	}
	if len(nodePorts.rules) > 0 {
		// Node ports on every local address but loopback (DNAT from
		// 127.0.0.1 needs route_localnet, which kube-proxy's nftables
		// mode does not set either).
		services.add(matchLocal(true), matchPrefix(offDaddr, loopback, true), jump(chainNodePorts))
	}
	return p
}

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// chainName returns prefix-HASH-suffix, at most 200 bytes: the hash keeps
// truncated names unique, the suffix keeps `nft list` readable.
func chainName(prefix, suffix string) string {
	sum := sha256.Sum256([]byte(prefix + suffix))
	h := base32.StdEncoding.EncodeToString(sum[:])[:8]
	name := prefix + "-" + h + "-" + suffix
	if len(name) > 200 {
		name = name[:200]
	}
	return name
}

// nameSuffix is "namespace/name/protocol/portName" in lower case.
func nameSuffix(sp *ServicePort) string {
	return sp.Namespace + "/" + sp.Name + "/" + strings.ToLower(string(sp.Protocol)) + "/" + sp.PortName
}
