package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

const hardeningAddr = "steward_hardening_profile.p"

// hardeningConfig is a deployed host with a baseline profile; the fleet's
// own helpers log in as root with a key, so root keeps key logins. extra
// adds control overrides.
func hardeningConfig(f fleet, h fleetHost, level, extra string) string {
	return hostConfig(f, h, "") + fmt.Sprintf(`
resource "steward_hardening_profile" "p" {
  host            = steward_host.h.host_connection
  name            = "base"
  level           = %q
  confirm_timeout = "15s"
  controls = {
    "sshd.permit_root_login" = { value = "prohibit-password", reason = "the test fleet's helpers log in as root with a key" }
%s  }
}
`, level, extra)
}

// TestAccHardening: on a fleet host, the baseline profile applied with the
// effective values read back (sshd -T, file modes; kernel parameters, which
// the container cannot set, not applicable with the reason); a plan that would lock
// out a root login refused naming the control; a world-readable
// /etc/shadow and an earlier sshd drop-in that overrides Steward's value
// shown as drift (the latter naming the file), the first converged by one
// apply, the second refused until the file goes; an sshd value sshd -t
// refuses changes nothing; and an AllowGroups without the operator's group
// is reverted by the host after its fresh login fails.
func TestAccHardening(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	t.Cleanup(func() {
		_, _ = onHost(t, f, h, "rm -f /etc/ssh/sshd_config.d/00-early.conf; chmod 0640 /etc/shadow")
		cleanHost(t, f, h)
	})
	run := func(cmd string) { t.Helper(); mustOnHost(t, f, h, cmd) }
	base := hardeningConfig(f, h, "baseline", "")
	status := func(id string) tfjsonpath.Path { return tfjsonpath.New("status").AtMapKey(id) }
	passed, notApplicable, off := baselineCounts()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: hostConfig(f, h, "")},
			{
				// Logging in as root while the profile turns root logins off.
				Config: hostConfig(f, h, "") + fmt.Sprintf(`
resource "steward_hardening_profile" "p" {
  host = { host = %s, host_key = %s, user = "root" }
  name = "base"
}
`, hcl(h.Address), hcl(h.HostKey)),
				ExpectError: regexp.MustCompile(`(?s)Hardening Would Lock Out the Operator.*sshd\.permit_root_login`),
			},
			{
				// An unknown control: refused at plan time.
				Config:      hardeningConfig(f, h, "baseline", `    "sshd.no_such_thing" = { enabled = false, reason = "typo" }`+"\n"),
				ExpectError: regexp.MustCompile(`no\s+such\s+control`),
			},
			{
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(hardeningAddr, status("sshd.max_auth_tries"), knownvalue.StringExact("pass")),
					statecheck.ExpectKnownValue(hardeningAddr, status("sshd.permit_root_login"), knownvalue.StringExact("pass")),
					statecheck.ExpectKnownValue(hardeningAddr, status("files.shadow"), knownvalue.StringExact("pass")),
					statecheck.ExpectKnownValue(hardeningAddr, status("sshd.allow_groups"), knownvalue.StringRegexp(regexp.MustCompile(`^off`))),
					statecheck.ExpectKnownValue(hardeningAddr, status("sysctl.randomize_va_space"),
						knownvalue.StringRegexp(regexp.MustCompile(`^not_applicable: kernel\.randomize_va_space is read-only here \(a container`))),
					statecheck.ExpectKnownValue(hardeningAddr, status("sysctl.tcp_syncookies"), knownvalue.StringExact("pass")),
				},
				Check: resource.ComposeTestCheckFunc(
					hostCheck(t, f, h, "sshd -T | grep -E '^(maxauthtries|disableforwarding|permitrootlogin) ' | sort | tr '\\n' ' '",
						"disableforwarding yes maxauthtries 3 permitrootlogin without-password"),
					hostCheck(t, f, h, "grep -c '\"action\":\"confirm\"' /var/log/steward/audit.log", "1"),
				),
			},
			{
				// /etc/shadow made world-readable: drift, one apply fixes it.
				PreConfig: func() { run("chmod o+r /etc/shadow") },
				Config:    base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					expectStatusBefore("files.shadow", regexp.MustCompile(`^fail: /etc/shadow 0644 root:shadow`)),
					plancheck.ExpectKnownValue(hardeningAddr, status("files.shadow"), knownvalue.StringExact("pass")),
				}},
				Check: hostCheck(t, f, h, "stat -c %a /etc/shadow", "640"),
			},
			{
				// The compliance report, as a review pipeline reads it, and
				// at the host's terminal.
				Config: base + `
data "steward_compliance" "c" {
  host = steward_host.h.host_connection
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.steward_compliance.c", tfjsonpath.New("failed"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue("data.steward_compliance.c", tfjsonpath.New("passed"), knownvalue.Int64Exact(int64(passed))),
					// The fleet's containers mount /proc/sys read-only but for
					// net.*: the kernel's parameters are the machine's, never
					// counted as passed.
					statecheck.ExpectKnownValue("data.steward_compliance.c", tfjsonpath.New("not_applicable"), knownvalue.Int64Exact(int64(notApplicable))),
					statecheck.ExpectKnownValue("data.steward_compliance.c", tfjsonpath.New("off"), knownvalue.Int64Exact(int64(off))),
					statecheck.ExpectKnownValue("data.steward_compliance.c", tfjsonpath.New("score"), knownvalue.Float64Exact(100)),
					statecheck.ExpectKnownValue("data.steward_compliance.c", tfjsonpath.New("controls").AtSliceIndex(0).AtMapKey("reason"),
						knownvalue.StringExact("overridden: the test fleet's helpers log in as root with a key")),
					statecheck.ExpectKnownValue("data.steward_compliance.c", tfjsonpath.New("controls").AtSliceIndex(0).AtMapKey("refs"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("CIS 5.1.20")})),
				},
				Check: hostCheck(t, f, h, "/usr/local/lib/steward/current compliance | tail -1",
					fmt.Sprintf("score 100.0%%: %d passed, 0 failed, 0 errors; %d not applicable, %d off (neither counted as passed)", passed, notApplicable, off)),
			},
			{Config: base, PlanOnly: true},
			{
				// A drop-in sshd reads first overrides Steward's value:
				// drift that names the file; the apply refuses to edit it.
				PreConfig: func() {
					run("echo 'MaxAuthTries 6' > /etc/ssh/sshd_config.d/00-early.conf && systemctl reload ssh")
				},
				Config:   base,
				PlanOnly: true, ExpectNonEmptyPlan: true,
			},
			{
				Config:      base,
				ExpectError: regexp.MustCompile(`(?s)MaxAuthTries\s+6\s+is\s+set\s+in\s+/etc/ssh/sshd_config\.d/00-early\.conf:1`),
			},
			{
				PreConfig:        func() { run("rm /etc/ssh/sshd_config.d/00-early.conf && systemctl reload ssh") },
				Config:           base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				// sshd -t refuses the value: nothing changes.
				Config:      hardeningConfig(f, h, "baseline", `    "sshd.max_startups" = { value = "10:300:60", reason = "a typo" }`+"\n"),
				ExpectError: regexp.MustCompile(`sshd\s+refuses\s+the\s+settings`),
			},
			{
				PreConfig: func() {
					out, _ := onHost(t, f, h, "sshd -T | grep ^maxstartups")
					if strings.TrimSpace(out) != "maxstartups 10:30:60" {
						t.Errorf("after the refused value sshd has %q, want maxstartups 10:30:60", out)
					}
				},
				Config:           base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				// Only a group nobody is in may log in: the fresh login
				// fails, the host puts the drop-in back, the apply says why.
				Config: hardeningConfig(f, h, "strict",
					`    "sshd.allow_groups" = { value = "steward-nobody", reason = "the lockout test" }`+"\n"),
				ExpectError: regexp.MustCompile(`(?s)Change Would Lock Out the Operator.*sshd\s+settings\s+\(\S+\)\s+of\s+hardening\s+profile\s+base.*fresh\s+login\s+after\s+the\s+revert\s+works\s+again`),
			},
			{
				PreConfig: func() {
					if out, _ := onHost(t, f, h, "sshd -T | grep -c ^allowgroups || true"); strings.TrimSpace(out) != "0" {
						t.Errorf("AllowGroups survived the revert: %s", out)
					}
				},
				Config:           base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// expectStatusBefore is a plan check that the profile's status of a
// control, as the host reported it, matches want.
func expectStatusBefore(id string, want *regexp.Regexp) plancheck.PlanCheck {
	return beforeCheck{addr: hardeningAddr, attr: "status", key: id, want: want}
}

// baselineCounts is how the baseline's controls report on a fleet host:
// those the fleet's containers cannot have (the kernel's own parameters
// and modules are the machine's; systemd-coredump is not installed) not
// applicable, the strict ones off, the rest passed once applied. A fleet
// host has its own network namespace, and its net.* parameters are its
// own, writable as in any container with a network of its own.
func baselineCounts() (passed, notApplicable, off int) {
	for _, c := range api.Catalogue {
		switch {
		case c.Level != "baseline":
			off++
		case c.Family == "sysctl" && !strings.HasPrefix(c.Sysctl, "net.") || c.Family == "modules" || strings.HasPrefix(c.ID, "coredump.") && c.Needs != "":
			notApplicable++
		default:
			passed++
		}
	}
	return passed, notApplicable, off
}
