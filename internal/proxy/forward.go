package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/coreos/go-iptables/iptables"
)

// dockerUserChain is where Docker Engine lets administrators accept
// forwarded traffic before its own rules; the FORWARD chain's policy is
// DROP once Docker runs, and a packet dropped by any netfilter base chain
// is dropped whatever another table accepts.
const dockerUserChain = "DOCKER-USER"

// forwardRule is the filter rule that lets service traffic the proxy
// DNATed to a pod through Docker's FORWARD policy: NodePort and
// LoadBalancer connections from other machines are forwarded from the
// host's interface to the pod bridge. Each node has its own rule (the
// comment names its table), so that nodes sharing a host remove only
// their own.
func forwardRule(cidr netip.Prefix, table string) []string {
	return []string{
		"-d", cidr.String(),
		"-m", "conntrack", "--ctstate", "DNAT",
		"-m", "comment", "--comment", table + ": service traffic to pods",
		"-j", "ACCEPT",
	}
}

// iptablesRunner is the part of go-iptables the proxy uses; tests fake it.
type iptablesRunner interface {
	ListChains(table string) ([]string, error)
	Exists(table, chain string, rule ...string) (bool, error)
	Insert(table, chain string, pos int, rule ...string) error
	DeleteIfExists(table, chain string, rule ...string) error
}

// dockerForward keeps the proxy's rule in Docker's DOCKER-USER chain. Its
// zero value (no runner) does nothing: hosts without Docker's chain or
// without iptables, and tests in throwaway network namespaces.
type dockerForward struct {
	ipt  iptablesRunner
	rule []string
}

func newDockerForward(netns int, cidr netip.Prefix, table string) dockerForward {
	if netns != 0 || !cidr.IsValid() {
		return dockerForward{}
	}
	ipt, err := iptables.New()
	if err != nil {
		return dockerForward{} // no iptables binary: no Docker rules either
	}
	return dockerForward{ipt: ipt, rule: forwardRule(cidr, table)}
}

// ensure inserts the rule at the top of DOCKER-USER unless it is there.
// A host without that chain (no Docker, or Docker without iptables
// management) needs nothing.
func (f dockerForward) ensure() error {
	if f.ipt == nil {
		return nil
	}
	chains, err := f.ipt.ListChains("filter")
	if err != nil {
		return fmt.Errorf("proxy: listing filter chains: %w", err)
	}
	if !slices.Contains(chains, dockerUserChain) {
		return nil
	}
	ok, err := f.ipt.Exists("filter", dockerUserChain, f.rule...)
	if err != nil || ok {
		return err
	}
	if err := f.ipt.Insert("filter", dockerUserChain, 1, f.rule...); err != nil {
		return fmt.Errorf("proxy: accepting service traffic in %s: %w", dockerUserChain, err)
	}
	return nil
}

// remove deletes the rule; a missing rule or chain is not an error.
func (f dockerForward) remove() error {
	if f.ipt == nil {
		return nil
	}
	err := f.ipt.DeleteIfExists("filter", dockerUserChain, f.rule...)
	var e *iptables.Error
	if errors.As(err, &e) && e.IsNotExist() {
		return nil
	}
	return err
}
