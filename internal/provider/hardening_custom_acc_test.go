package provider

import (
	"encoding/base64"
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

// customControlHCL is one custom_control entry; every command goes through
// hcl(), so HCL passes it to the provider byte for byte.
type customControlHCL struct{ id, check, expected, apply, refs string }

// hardeningCustomConfig is hardeningConfig's baseline profile with these
// custom controls.
func hardeningCustomConfig(f fleet, h fleetHost, cs ...customControlHCL) string {
	var b strings.Builder
	b.WriteString("  custom_control = [\n")
	for _, c := range cs {
		fmt.Fprintf(&b, "    {\n      id       = %s\n      title    = %s\n      check    = %s\n      expected = %s\n      apply    = %s\n",
			hcl(c.id), hcl("the test's "+c.id), hcl(c.check), hcl(c.expected), hcl(c.apply))
		if c.refs != "" {
			fmt.Fprintf(&b, "      refs     = %s\n", c.refs)
		}
		b.WriteString("    },\n")
	}
	b.WriteString("  ]\n")
	return strings.TrimSuffix(hardeningConfig(f, h, "baseline", ""), "}\n") + b.String() + "}\n"
}

// shq quotes s for /bin/sh, as a profile's author would.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'" }

// TestAccHardening_customControls: custom controls on a fleet host, treated
// like the catalogue's. One whose check fails at first is applied at create;
// a path with quotes, $(), backquotes and a newline reaches /bin/sh as the
// author wrote it (nothing runs that the quotes protect); a mode changed by
// hand shows in the plan naming the control and one plain apply puts it
// back (audited), then the plan is empty; the compliance report at the
// terminal and in steward_compliance has them as family custom with their
// refs; a bad or repeated id is refused at plan time; and an apply that
// does not make its check pass fails naming the control and what the check
// printed.
func TestAccHardening_customControls(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	const dir = "/etc/steward-test"
	t.Cleanup(func() {
		_, _ = onHost(t, f, h, "rm -rf "+dir+" /pwned /root/pwned /home/deploy/pwned; chown root:root /etc/issue.net; chmod 0644 /etc/issue.net")
		cleanHost(t, f, h)
	})
	run := func(cmd string) { t.Helper(); mustOnHost(t, f, h, cmd) }
	run("rm -rf " + dir + " /pwned /root/pwned /home/deploy/pwned")
	mode := customControlHCL{id: "custom.issue_net_mode", check: "stat -c '%a %U:%G' /etc/issue.net", expected: "644 root:root",
		apply: "chown root:root /etc/issue.net && chmod 0644 /etc/issue.net"}
	notice := customControlHCL{id: "custom.notice", check: "cat " + dir + "/notice", expected: "authorised use only\n",
		apply: "mkdir -p " + dir + " && echo 'authorised use only' > " + dir + "/notice", refs: `["ACME 1.2", "ANSSI R28"]`}
	// Were any of it expanded, by Steward or by a shell Steward wrapped it
	// in, cat would look for another file and the $() would leave a file
	// named pwned behind.
	odd := dir + "/it's \"q\" $(touch pwned) `touch pwned`\nz"
	quoted := customControlHCL{id: "custom.quoted", check: "cat -- " + shq(odd), expected: "ok",
		apply: "mkdir -p " + dir + "\nprintf 'ok\\n' > " + shq(odd)}
	never := customControlHCL{id: "custom.never", check: "echo no", expected: "yes", apply: "true"}
	cfg := hardeningCustomConfig(f, h, mode, notice, quoted)
	status := func(id string) tfjsonpath.Path { return tfjsonpath.New("status").AtMapKey(id) }
	passed, _, _ := baselineCounts()
	first := len(api.Catalogue) // the first custom control in the report
	bad := mode
	bad.id = "custom.Issue-Net"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: hostConfig(f, h, "")},
			{
				Config: hardeningCustomConfig(f, h, bad), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)custom_control\[0\]\.id.*must\s+be\s+"custom\."\s+and\s+a\s+lower_snake_case\s+name`),
			},
			{
				Config: hardeningCustomConfig(f, h, mode, notice, mode), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Invalid\s+Hardening\s+Profile.*custom_control\[2\]\.id\s+"custom\.issue_net_mode":\s+custom_control\[0\]\s+has\s+the\s+same\s+id`),
			},
			{
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(hardeningAddr, status("custom.issue_net_mode"), knownvalue.StringExact("pass")),
					statecheck.ExpectKnownValue(hardeningAddr, status("custom.notice"), knownvalue.StringExact("pass")),
					statecheck.ExpectKnownValue(hardeningAddr, status("custom.quoted"), knownvalue.StringExact("pass")),
					statecheck.ExpectKnownValue(hardeningAddr, status("sshd.max_auth_tries"), knownvalue.StringExact("pass")),
				},
				Check: resource.ComposeTestCheckFunc(
					hostCheck(t, f, h, "cat "+dir+"/notice", "authorised use only"),
					// The file has the name with the quotes, $(), backquotes
					// and the newline, and nothing in it ran.
					hostCheck(t, f, h, "cd "+dir+" && for n in it*; do printf '%s' \"$n\" | base64 -w0; done",
						base64.StdEncoding.EncodeToString([]byte(strings.TrimPrefix(odd, dir+"/")))),
					hostCheck(t, f, h, "ls -d "+dir+"/pwned /pwned /root/pwned /home/deploy/pwned 2>/dev/null | wc -l", "0"),
				),
			},
			{
				// A mode changed by hand: the plan names the control and
				// what its check printed; one apply runs its apply command.
				PreConfig: func() { run("chmod 0600 /etc/issue.net") },
				Config:    cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(hardeningAddr, plancheck.ResourceActionUpdate),
					expectStatusBefore("custom.issue_net_mode", regexp.MustCompile(`^fail: 600 root:root \(check: exit status 0\)$`)),
					plancheck.ExpectKnownValue(hardeningAddr, status("custom.issue_net_mode"), knownvalue.StringExact("pass")),
				}},
				Check: resource.ComposeTestCheckFunc(
					hostCheck(t, f, h, "stat -c '%a %U:%G' /etc/issue.net", "644 root:root"),
					// The repair is audited: a configure of the same spec.
					hostCheck(t, f, h, `tail -n1 /var/log/steward/audit.log | grep -c '"object":"hardening/base","action":"configure","before":"\(sha256:[0-9a-f]*\)","after":"\1","result":"ok"'`, "1"),
				),
			},
			{Config: cfg, PlanOnly: true},
			{
				// The compliance report, in Terraform and at the terminal.
				Config: cfg + `
data "steward_compliance" "c" {
  host    = steward_host.h.host_connection
  profile = "base"
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.steward_compliance.c", tfjsonpath.New("failed"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue("data.steward_compliance.c", tfjsonpath.New("passed"), knownvalue.Int64Exact(int64(passed+3))),
					statecheck.ExpectKnownValue("data.steward_compliance.c", tfjsonpath.New("controls").AtSliceIndex(first+1), knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"id": knownvalue.StringExact("custom.notice"), "family": knownvalue.StringExact("custom"), "status": knownvalue.StringExact("pass"),
						"title": knownvalue.StringExact("the test's custom.notice"), "expected": knownvalue.StringExact("authorised use only"),
						"actual": knownvalue.StringExact("authorised use only"),
						"refs":   knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("ACME 1.2"), knownvalue.StringExact("ANSSI R28")}),
					})),
				},
				Check: hostCheck(t, f, h, "/usr/local/lib/steward/current compliance | awk '$2 ~ /^custom\\./ {print $2, $3}' | tr '\\n' ' '",
					"custom.issue_net_mode pass custom.notice pass custom.quoted pass"),
			},
			{
				// An apply command that does not make its check pass.
				Config:      hardeningCustomConfig(f, h, mode, notice, quoted, never),
				ExpectError: regexp.MustCompile(`(?s)custom\.never:\s+the\s+check\s+still\s+fails\s+after\s+the\s+apply\s+command\s+ran:\s+it\s+printed\s+"no"\s+\(check:\s+exit\s+status\s+0\),\s+want\s+"yes"`),
			},
			{
				PreConfig: func() {
					// The host's audit log has the failure, naming the control.
					if out, _ := onHost(t, f, h, "grep -c 'custom.never: the check still fails' /var/log/steward/audit.log"); strings.TrimSpace(out) != "1" {
						t.Errorf("audit entries of the failed apply: %q, want 1", out)
					}
				},
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(hardeningAddr, status("custom.issue_net_mode"), knownvalue.StringExact("pass")),
				},
			},
			{Config: cfg, PlanOnly: true},
		},
	})
}
