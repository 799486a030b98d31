package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

const firewallAddr = "steward_firewall.fw"

// firewallConfig is a deployed host with a firewall whose SSH rule admits
// sshSources, and a web port.
func firewallConfig(f fleet, h fleetHost, sshSources string) string {
	return hostConfig(f, h, "") + fmt.Sprintf(`
resource "steward_firewall" "fw" {
  host            = steward_host.h.host_connection
  name            = "main"
  log_drops       = true
  confirm_timeout = "15s"
  rule = [
    { ports = ["22"], sources = [%s], comment = "ssh" },
    { ports = ["8080"], rate_limit = "50/second" },
  ]
}
`, sshSources)
}

// TestAccFirewall: on a fleet host, a firewall applied and confirmed by a
// fresh login; a rule added by hand and the table deleted show as drift
// and one apply converges; a plan with no rule for the SSH port is
// refused; and a firewall that locks the operator out for real is
// reverted by the host's timer, a fresh login works again and the apply
// fails saying why. Last, a change left unconfirmed because its rpc
// session ended (as when the SSH connection is cut mid-apply) is reverted
// by the host on its own.
func TestAccFirewall(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	t.Cleanup(func() { cleanHost(t, f, h) })
	bridgeNet := fmt.Sprintf("%q", f.BridgeAddress+"/24")
	good := firewallConfig(f, h, bridgeNet)
	nft := func(cmd string) string {
		t.Helper()
		out, err := onHost(t, f, h, cmd)
		if err != nil {
			t.Fatalf("on %s: %s: %v\n%s", h.Name, cmd, err, out)
		}
		return out
	}
	var lockoutStart time.Time
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: hostConfig(f, h, "")}, // the host first: its connection is known to the next plan
			{
				// Drop policy, no rule for port 22: refused at plan time.
				Config: hostConfig(f, h, "") + `
resource "steward_firewall" "fw" {
  host = steward_host.h.host_connection
  name = "main"
  rule = [{ ports = ["80", "443"] }]
}
`,
				ExpectError: regexp.MustCompile(`(?s)Firewall Would Lock Out Steward.*no\s+rule\s+admits\s+TCP\s+port\s+22`),
			},
			{
				Config: good,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(firewallAddr, tfjsonpath.New("drift"), knownvalue.StringExact("")),
					statecheck.ExpectKnownValue(firewallAddr, tfjsonpath.New("ruleset"), knownvalue.StringRegexp(regexp.MustCompile(`tcp dport 22 accept comment "ssh"`))),
				},
				Check: resource.ComposeTestCheckFunc(
					hostCheck(t, f, h, "nft list table inet steward | grep -c 'policy drop'", "1"),
					// Confirmed: no revert timer is left, the audit log says so.
					hostCheck(t, f, h, "systemctl list-timers --all --no-legend 'steward-revert-*' | wc -l", "0"),
					hostCheck(t, f, h, "grep -c '\"action\":\"confirm\"' /var/log/steward/audit.log", "1"),
				),
			},
			{
				// A rule added by hand: drift, named in the plan.
				PreConfig: func() { nft("nft add rule inet steward input tcp dport 3306 accept") },
				Config:    good,
				PlanOnly:  true, ExpectNonEmptyPlan: true,
			},
			{
				Config: good,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(firewallAddr, plancheck.ResourceActionUpdate),
					expectBefore(firewallAddr, "drift", regexp.MustCompile(`^\+ tcp dport 3306 accept$`)),
					plancheck.ExpectKnownValue(firewallAddr, tfjsonpath.New("drift"), knownvalue.StringExact("")),
				}},
				Check: hostCheck(t, f, h, "nft list table inet steward | grep -c 3306 || true", "0"),
			},
			{
				// The table deleted by hand: drift; one apply loads it again.
				PreConfig: func() { nft("nft delete table inet steward") },
				Config:    good,
				PlanOnly:  true, ExpectNonEmptyPlan: true,
			},
			{
				Config: good,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					expectBefore(firewallAddr, "drift", regexp.MustCompile(`^table inet steward is missing$`)),
				}},
				Check: hostCheck(t, f, h, "nft list table inet steward | grep -c 'dport 22'", "1"),
			},
			{
				// SSH only from a network the test machine is not on: the
				// fresh login fails, the host reverts, the apply says why.
				PreConfig:   func() { lockoutStart = time.Now() },
				Config:      firewallConfig(f, h, `"192.0.2.0/24"`),
				ExpectError: regexp.MustCompile(`(?s)Change Would Lock Out the Operator.*192\.0\.2\.0/24.*fresh\s+SSH\s+login.*failed.*fresh\s+login\s+after\s+the\s+revert\s+works\s+again`),
			},
			{
				// The host is as before the failed apply: no change planned.
				PreConfig: func() {
					if d := time.Since(lockoutStart); d > 60*time.Second {
						t.Errorf("the lockout took %s to report; want about confirm_timeout (15s) plus the grace", d)
					}
					if out := nft("nft list table inet steward"); !strings.Contains(out, f.BridgeAddress[:strings.LastIndex(f.BridgeAddress, ".")]) {
						t.Errorf("after the revert the table does not admit the bridge network:\n%s", out)
					}
				},
				Config:   good,
				PlanOnly: true,
			},
		},
	})
}

// TestAccFirewall_revertWithoutTheProvider: a lockout configured through
// the agent's rpc alone, whose session then ends (an SSH connection cut
// mid-apply, a provider killed): nobody confirms, the host's timer puts the
// previous table back, and a fresh login works.
func TestAccFirewall_revertWithoutTheProvider(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	t.Cleanup(func() { cleanHost(t, f, h) })
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: hostConfig(f, h, ""),
			Check: func(*terraform.State) error {
				spec := api.Firewall{Name: "cut", InputPolicy: "drop", Established: false, Loopback: true,
					Rules:          []api.FirewallRule{{Protocol: "tcp", Ports: []string{"22"}, Sources: []string{"192.0.2.0/24"}}},
					ConfirmTimeout: "10s"}
				req, err := api.NewRequest(api.FirewallKind.Configure().Name, api.Operator{SSHUser: "root"}, spec)
				if err != nil {
					return err
				}
				b, _ := json.Marshal(req)
				start := time.Now()
				// Established traffic is not accepted: this very session
				// stalls once the table is loaded, and ssh gives up.
				out, _ := onHost(t, f, h, fmt.Sprintf("echo %s | timeout 5 /usr/local/lib/steward/current rpc", client.ShellQuote(string(b))))
				if strings.Contains(out, `"error"`) {
					return fmt.Errorf("configure refused: %s", out)
				}
				deadline := start.Add(40 * time.Second)
				for {
					out, err := onHost(t, f, h, "nft list table inet steward 2>&1; echo; grep -c '\"action\":\"revert\"' /var/log/steward/audit.log")
					if err == nil && strings.Contains(out, "No such file") && strings.HasSuffix(strings.TrimSpace(out), "1") {
						t.Logf("reverted and a fresh login works %s after the configure", time.Since(start).Round(time.Second))
						return nil
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("within 40 s of a 10 s confirm_timeout the host did not revert (or no fresh login works): %v\n%s", err, out)
					}
					time.Sleep(2 * time.Second)
				}
			},
		}},
	})
}

// expectBefore is a plan check that the resource's attribute, as the host
// reported it, matches want.
func expectBefore(addr, attr string, want *regexp.Regexp) plancheck.PlanCheck {
	return beforeCheck{addr: addr, attr: attr, want: want}
}

type beforeCheck struct {
	addr, attr string
	key        string // of a map attribute; "" for a string attribute
	want       *regexp.Regexp
}

func (c beforeCheck) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address == c.addr {
			before, _ := rc.Change.Before.(map[string]any)
			v, _ := before[c.attr].(string)
			if c.key != "" {
				m, _ := before[c.attr].(map[string]any)
				v, _ = m[c.key].(string)
			}
			if !c.want.MatchString(v) {
				resp.Error = fmt.Errorf("%s: %s %s is %q before the change, want %s", c.addr, c.attr, c.key, v, c.want)
			}
			return
		}
	}
	resp.Error = fmt.Errorf("%s is not in the plan", c.addr)
}
