package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestAccHost_convergence: each change made by hand to what Steward put on
// the host shows in the plan, in the attribute that reports it, and one plain
// apply repairs it, after which the plan is empty.
func TestAccHost_convergence(t *testing.T) {
	f := testFleet(t, 2)
	h := f.Hosts[1]
	bin := testAgent(t)
	cleanHost(t, f, h)
	t.Cleanup(func() { cleanHost(t, f, h) })
	unitSum := sha256.Sum256([]byte(api.AgentUnit))
	const unit = "/etc/systemd/system/steward-agent.service"
	const dropIns = unit + ".d"
	unitIntact := fmt.Sprintf("sha256sum <%s | cut -d' ' -f1; systemctl show -p LoadState -p NeedDaemonReload --value steward-agent; systemctl is-active steward-agent", unit)
	unitWant := hex.EncodeToString(unitSum[:]) + "\nloaded\nno\nactive"
	cases := []struct {
		name, change string
		shows        []string // attributes whose planned value differs from the host's
		verify, want string
	}{
		{"unit edited", "sed -i 's/^Restart=on-failure/Restart=no/' " + unit,
			[]string{"unit_sha256", "unit_state"}, unitIntact, unitWant},
		{"unit deleted", "rm -f " + unit,
			[]string{"unit_sha256", "files"}, unitIntact, unitWant},
		{"unit masked", "ln -sf /dev/null " + unit + " && systemctl daemon-reload",
			[]string{"unit_sha256", "unit_state", "files"}, unitIntact, unitWant},
		{"drop-in override", "mkdir -p " + dropIns + " && printf '[Service]\\nEnvironment=STEWARD_TEST=1\\n' >" + dropIns + "/override.conf && systemctl daemon-reload",
			[]string{"files"},
			// Disabled, not deleted: the content stays beside it, and systemd no longer reads it.
			"ls " + dropIns + " | sed 's/[0-9TZ]*$//'; cat " + dropIns + "/override.conf.*; systemctl show -p DropInPaths --value steward-agent",
			"override.conf.disabled-by-steward-\n[Service]\nEnvironment=STEWARD_TEST=1"},
		{"binary replaced", "t=$(readlink -f /usr/local/lib/steward/current) && cp /bin/true $t.x && mv -f $t.x $t",
			[]string{"agent_sha256"}, "sha256sum </usr/local/lib/steward/current | cut -d' ' -f1", bin.SHA256},
		{"binary deleted", "rm -f $(readlink -f /usr/local/lib/steward/current)",
			[]string{"agent_sha256", "files"}, "sha256sum </usr/local/lib/steward/current | cut -d' ' -f1", bin.SHA256},
		{"binary made world-writable", "chmod 0777 $(readlink -f /usr/local/lib/steward/current)",
			[]string{"files"}, "stat -L -c '%a %u' /usr/local/lib/steward/current", "755 0"},
		{"config directory opened", "chmod 0755 /etc/steward",
			[]string{"files"}, "stat -c %a /etc/steward", "700"},
	}
	cfg := hostConfig(f, h, "")
	steps := []resource.TestStep{{Config: cfg}}
	for _, tc := range cases {
		shows := []plancheck.PlanCheck{plancheck.ExpectResourceAction(hostAddr, plancheck.ResourceActionUpdate)}
		for _, attr := range tc.shows {
			shows = append(shows, expectDrift(hostAddr, attr))
		}
		steps = append(steps,
			resource.TestStep{
				// Changed by hand: the plan shows it (terraform plan -detailed-exitcode would exit 2).
				PreConfig: func() {
					if out, err := onHost(t, f, h, tc.change); err != nil {
						t.Fatalf("%s: %v\n%s", tc.name, err, out)
					}
				},
				Config:             cfg,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks:   resource.ConfigPlanChecks{PostApplyPostRefresh: shows},
			},
			resource.TestStep{
				// One plain apply repairs it.
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(hostAddr, plancheck.ResourceActionUpdate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: hostCheck(t, f, h, tc.verify, tc.want),
			},
			// And the plan after it is empty.
			resource.TestStep{Config: cfg, PlanOnly: true},
		)
	}
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: testAccProtoV6ProviderFactories, Steps: steps})
}

// expectDrift is a plan check that the resource's attribute is planned to a
// value other than the one the host reported.
func expectDrift(addr, attr string) plancheck.PlanCheck { return driftCheck{addr, attr} }

type driftCheck struct{ addr, attr string }

func (c driftCheck) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != c.addr {
			continue
		}
		before, _ := rc.Change.Before.(map[string]any)
		after, _ := rc.Change.After.(map[string]any)
		unknown, _ := rc.Change.AfterUnknown.(map[string]any)
		if u, _ := unknown[c.attr].(bool); u {
			return // Known only after the apply: a change.
		}
		if reflect.DeepEqual(before[c.attr], after[c.attr]) {
			resp.Error = fmt.Errorf("%s: %s is planned unchanged (%v): the plan does not show the change made on the host", c.addr, c.attr, after[c.attr])
		}
		return
	}
	resp.Error = fmt.Errorf("%s is not in the plan", c.addr)
}
