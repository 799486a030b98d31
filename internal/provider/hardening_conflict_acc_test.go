package provider

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestAccHardening_profilesDisagree: on a fleet host with a profile
// applied, a second profile in the same configuration that wants another
// sshd.max_auth_tries fails the plan naming both and the control, and
// nothing reaches the host; a profile renamed (planned twice, as a
// replacement) beside a new profile with its old name and the same values
// plans.
func TestAccHardening_profilesDisagree(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	t.Cleanup(func() { cleanHost(t, f, h) })
	base := hardeningConfig(f, h, "baseline", "")
	second := func(name, maxAuthTries string) string {
		return `
resource "steward_hardening_profile" "second" {
  host = steward_host.h.host_connection
  name = "` + name + `"
  controls = {
    "sshd.permit_root_login" = { value = "prohibit-password", reason = "the test fleet's helpers log in as root with a key" }
    "sshd.max_auth_tries"    = { value = "` + maxAuthTries + `", reason = "the other team's" }
  }
}
`
	}
	renamed := strings.Replace(base, `name            = "base"`, `name            = "base2"`, 1)
	if renamed == base {
		t.Fatal("hardeningConfig no longer names its profile base")
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: hostConfig(f, h, "")},
			{Config: base},
			{
				Config: base + second("second", "6"), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Hardening\s+Profiles\s+Disagree.*(steward_hardening_profile\s+"second"\s+and\s+steward_hardening_profile\s+"base"|` +
					`steward_hardening_profile\s+"base"\s+and\s+steward_hardening_profile\s+"second")\s+are\s+both\s+planned\s+for\s+` + regexp.QuoteMeta(h.Address) +
					`:22\s+and\s+disagree\s+about\s+control\s+sshd\.max_auth_tries`),
			},
			{
				Config: base + second("base", "3"), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Two\s+Hardening\s+Profiles\s+With\s+One\s+Name.*named\s+"base"`),
			},
			{
				PreConfig: func() {
					if out, _ := onHost(t, f, h, "ls /etc/steward/hardening"); strings.TrimSpace(out) != "base.json" {
						t.Errorf("after the refused plans the host has profiles %q, want base.json alone", out)
					}
				},
				// The profile renamed (a replacement, which Terraform plans
				// twice) beside a new one with its old name: no conflict
				// with itself, none with the name it leaves.
				Config: renamed + second("base", "3"), PlanOnly: true, ExpectNonEmptyPlan: true,
			},
			{Config: base, PlanOnly: true},
		},
	})
}
