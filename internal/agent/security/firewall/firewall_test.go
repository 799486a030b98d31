package firewall

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// netns runs nft in a network namespace of its own, so the tests load real
// rulesets with the real nft without touching this machine's firewall.
func netns(t *testing.T) func(ctx context.Context, args ...string) (string, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace (CI runs as root)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("nft is missing: make deps installs nftables")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "steward-fwtest-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	return func(ctx context.Context, args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", name, "nft"}, args...)...).CombinedOutput()
		if err != nil {
			return string(out), &exec.ExitError{}
		}
		return string(out), nil
	}
}

var sshOnly = api.Firewall{Name: "main", InputPolicy: "drop", Established: true, Loopback: true, ICMP: true, LogDrops: true,
	Rules: []api.FirewallRule{
		{Protocol: "tcp", Ports: []string{"22"}, Sources: []string{"10.213.7.0/24", "2001:db8::/32"}, Comment: "ssh"},
		{Protocol: "tcp", Ports: []string{"80", "8000-8080"}, RateLimit: "20/second"},
		{Protocol: "udp", Ports: []string{"53"}, Sources: []string{"192.0.2.7/32"}},
	}}

// What Render writes is what nft loads, and replaces the table whole.
func TestRender_nftLoadsIt(t *testing.T) {
	nft := netns(t)
	ctx := context.Background()
	file := t.TempDir() + "/r.nft"
	for _, spec := range []api.Firewall{sshOnly, {Name: "open", InputPolicy: "accept"}} {
		if err := os.WriteFile(file, []byte(Render(spec)), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := nft(ctx, "-f", file); err != nil {
			t.Fatalf("nft -f of\n%s\n%s", Render(spec), out)
		}
		// Loaded twice: the second replaces the first, nothing doubles.
		if out, err := nft(ctx, "-f", file); err != nil {
			t.Fatalf("second load: %s", out)
		}
		live, _ := nft(ctx, "list", "table", "inet", "steward")
		if !strings.Contains(live, "policy "+spec.InputPolicy) || strings.Count(live, "chain input") != 1 {
			t.Errorf("live table:\n%s", live)
		}
	}
	live, _ := nft(ctx, "list", "table", "inet", "steward")
	if strings.Contains(live, "dport 22") {
		t.Errorf("the rules of the first ruleset survived the second:\n%s", live)
	}
}

func TestRender_rules(t *testing.T) {
	r := Render(sshOnly)
	for _, want := range []string{
		`ip saddr { 10.213.7.0/24 } tcp dport { 22 } accept comment "ssh"`,
		`ip6 saddr { 2001:db8::/32 } tcp dport { 22 } accept comment "ssh"`,
		`tcp dport { 80, 8000-8080 } ct state new limit rate 20/second accept`,
		`ip saddr { 192.0.2.7/32 } udp dport { 53 } accept`,
		`policy drop;`, `iif "lo" accept`, `log prefix "steward-drop: "`,
	} {
		if !strings.Contains(r, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, r)
		}
	}
}

// The controller against a real nft: a first apply saves a way back that
// removes the table; in sync, nothing is planned; a rule added by hand is
// drift, planned again, and the way back restores the hand-made table.
func TestController_driftAndWayBack(t *testing.T) {
	nft := netns(t)
	ctx := context.Background()
	p := coretest.NewHost(t)
	c := &controller{deps: core.Deps{Paths: p, Services: noServices{}}, nft: nft}
	if err := c.Check(ctx, sshOnly); err != nil {
		t.Fatal(err)
	}
	plan, err := c.Guard(ctx, sshOnly)
	if err != nil || plan == nil {
		t.Fatalf("guard of a new firewall: %+v, %v", plan, err)
	}
	if back := string(plan.Files[len(plan.Files)-1].Content); back != replaceTable {
		t.Errorf("way back from no table:\n%s", back)
	}
	if a, err := c.Apply(ctx, sshOnly, nil); err != nil || !a.Changed {
		t.Fatalf("apply: %+v, %v", a, err)
	}
	if plan, err := c.Guard(ctx, sshOnly); err != nil || plan != nil {
		t.Fatalf("guard in sync: %+v, %v; want nothing to guard", plan, err)
	}
	obs, err := c.Observe(ctx, sshOnly)
	if err != nil || !obs.Present || !obs.InSync {
		t.Fatalf("observe: %+v, %v", obs, err)
	}
	if _, err := nft(ctx, "add", "rule", "inet", "steward", "input", "tcp", "dport", "3306", "accept"); err != nil {
		t.Fatal(err)
	}
	obs, _ = c.Observe(ctx, sshOnly)
	if obs.InSync || !strings.Contains(obs.Ruleset, "3306") {
		t.Fatalf("a rule added by hand: %+v; want out of sync", obs)
	}
	plan, err = c.Guard(ctx, sshOnly)
	if err != nil || plan == nil || !strings.Contains(string(plan.Files[len(plan.Files)-1].Content), "3306") {
		t.Fatalf("guard of drift: %+v, %v; want a way back to the hand-made table", plan, err)
	}
	if _, err := c.Apply(ctx, sshOnly, nil); err != nil {
		t.Fatal(err)
	}
	if obs, _ = c.Observe(ctx, sshOnly); !obs.InSync || strings.Contains(obs.Ruleset, "3306") {
		t.Fatalf("after apply: %+v", obs)
	}
	// The way back, run as the revert runs it, brings the hand-made table back.
	if err := os.WriteFile(c.revertFile(), plan.Files[len(plan.Files)-1].Content, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := nft(ctx, "-f", c.revertFile()); err != nil {
		t.Fatal(out)
	}
	if live, _ := c.live(ctx); !strings.Contains(live, "3306") {
		t.Errorf("after the way back:\n%s", live)
	}
	if err := c.Remove(ctx, sshOnly); err != nil {
		t.Fatal(err)
	}
	if live, _ := c.live(ctx); live != "" {
		t.Errorf("after remove:\n%s", live)
	}
}

// A ruleset nft refuses never reaches the host.
func TestController_checkRefusesWhatNftRefuses(t *testing.T) {
	nft := netns(t)
	c := &controller{deps: core.Deps{Paths: coretest.NewHost(t)}, nft: nft}
	bad := sshOnly
	bad.Rules = []api.FirewallRule{{Protocol: "tcp", Ports: []string{"22"}, Comment: "x"}}
	bad.InputPolicy = "drop; flush ruleset" // Validate refuses this; Check must too
	if err := c.Check(context.Background(), bad); err == nil {
		t.Fatal("Check accepted a ruleset nft refuses")
	}
}

type noServices struct{}

func (noServices) DaemonReload(context.Context) error           { return nil }
func (noServices) NeedsReload(context.Context, string) bool     { return false }
func (noServices) Enable(context.Context, string) (bool, error) { return true, nil }
func (noServices) Restart(context.Context, string) error        { return nil }
func (noServices) IsActive(context.Context, string) bool        { return true }
func (noServices) DisableNow(context.Context, string) error     { return nil }
