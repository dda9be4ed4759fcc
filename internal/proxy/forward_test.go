package proxy

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/coreos/go-iptables/iptables"
)

// TestDockerForward programs a DOCKER-USER chain in a throwaway network
// namespace with the real iptables, as Docker Engine leaves it.
func TestDockerForward(t *testing.T) {
	ns := newTestNetns(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		requirePrivileges(t, "tool iptables", err)
	}
	cidr := netip.MustParsePrefix("10.42.0.0/16")
	var f dockerForward
	ns.do(func() {
		ipt, err := iptables.New()
		if err != nil {
			t.Error(err)
			return
		}
		f = dockerForward{ipt: ipt, rule: forwardRule(cidr, "gantry-a")}
	})
	if f.ipt == nil {
		t.FailNow()
	}
	run := func(what string, op func() error) {
		t.Helper()
		var err error
		ns.do(func() { err = op() })
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Without Docker's chain there is nothing to do.
	run("ensure without DOCKER-USER", f.ensure)
	run("remove without DOCKER-USER", f.remove)
	if out := ns.sh(t, "iptables -S"); strings.Contains(out, "gantry-a") {
		t.Fatalf("a rule was added without DOCKER-USER:\n%s", out)
	}

	ns.sh(t, "iptables -N DOCKER-USER")
	ns.sh(t, "iptables -A DOCKER-USER -j RETURN")
	run("ensure", f.ensure)
	run("ensure again", f.ensure) // idempotent
	out := ns.sh(t, "iptables -S DOCKER-USER")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := `-A DOCKER-USER -d 10.42.0.0/16 -m conntrack --ctstate DNAT -m comment --comment "gantry-a: service traffic to pods" -j ACCEPT`
	if len(lines) != 3 || lines[1] != want || lines[2] != "-A DOCKER-USER -j RETURN" {
		t.Fatalf("DOCKER-USER after ensure:\n%s\nwant the rule once, before RETURN:\n%s", out, want)
	}

	// Another node's rule on the same host stays when this one is removed.
	other := dockerForward{ipt: f.ipt, rule: forwardRule(cidr, "gantry-b")}
	run("ensure the other node's rule", other.ensure)
	run("remove", f.remove)
	run("remove again", f.remove)
	out = ns.sh(t, "iptables -S DOCKER-USER")
	if strings.Contains(out, "gantry-a") || !strings.Contains(out, "gantry-b") {
		t.Fatalf("DOCKER-USER after removing gantry-a's rule:\n%s", out)
	}
}

func TestDockerForwardZeroValue(t *testing.T) {
	var f dockerForward
	if err := f.ensure(); err != nil {
		t.Fatal(err)
	}
	if err := f.remove(); err != nil {
		t.Fatal(err)
	}
	if g := newDockerForward(3, netip.MustParsePrefix("10.42.0.0/16"), "t"); g.ipt != nil {
		t.Fatal("a proxy programming another network namespace touched the host's DOCKER-USER chain")
	}
}
