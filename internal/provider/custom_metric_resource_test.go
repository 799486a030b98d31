package provider

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

const customAddr = "steward_custom_metric.q"

// blamed matches a diagnostic with summary, shown at the configuration
// line of attr, whose detail says message (terraform wraps it).
func blamed(summary, attr, message string) *regexp.Regexp {
	words := strings.Fields(message)
	for i, w := range words {
		words[i] = regexp.QuoteMeta(w)
	}
	return regexp.MustCompile(`(?s)Error: ` + regexp.QuoteMeta(summary) + `\s.*\d+:\s+` + attr + ` = .*` + strings.Join(words, `\s+`))
}

// TestCustomMetric_invalidConfig: a command no agent would run fails at
// plan time, naming the attribute and what it accepts.
func TestCustomMetric_invalidConfig(t *testing.T) {
	requireTerraform(t)
	good := map[string]string{"name": `"queue_depth"`, "command": `["/usr/local/bin/queue-depth", "--queue", "mail"]`}
	cases := []struct{ name, attr, value, summary, message string }{
		{"relative program", "command", `["queue-depth", "--queue", "mail"]`, "Invalid Custom Metric Command", `command[0] "queue-depth": want the program's clean absolute path`},
		{"shell line", "command", `["sh -c 'wc -l /var/spool/mail'"]`, "Invalid Custom Metric Command", `command[0] "sh -c 'wc -l /var/spool/mail'": want the program's clean absolute path`},
		{"empty command", "command", `[]`, "Invalid Custom Metric Command", "command: empty: want the program's absolute path and its arguments"},
		{"dash in name", "name", `"queue-depth"`, "Invalid Custom Metric Name", `name "queue-depth": want 1 to 63 of a-z, 0-9 and _, starting with a letter`},
		{"digit first", "name", `"9lives"`, "Invalid Custom Metric Name", `name "9lives": want 1 to 63 of a-z, 0-9 and _, starting with a letter`},
		{"bad timeout", "timeout", `"a while"`, "Invalid Attribute Value", "timeout must be a positive duration of at most 1h"},
		{"long timeout", "timeout", `"2h"`, "Invalid Attribute Value", "timeout must be a positive duration of at most 1h"},
		{"help on two lines", "help", `"one\ntwo"`, "Invalid Attribute Value", "help must be one line of text"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := ""
			for k, v := range good {
				if k != tc.attr {
					body += fmt.Sprintf("  %s = %s\n", k, v)
				}
			}
			body += fmt.Sprintf("  %s = %s\n", tc.attr, tc.value)
			expectPlanError(t, providerBlock("")+"resource \"steward_custom_metric\" \"q\" {\n  host = { host = \"h\", trust_on_first_use = true }\n"+body+"}\n",
				blamed(tc.summary, tc.attr, tc.message).String())
		})
	}
	t.Run("valid", func(t *testing.T) {
		expectValid(t, providerBlock("")+`resource "steward_custom_metric" "q" {
  host    = { host = "h", trust_on_first_use = true }
  name    = "queue_depth"
  command = ["/usr/local/bin/queue-depth"]
  timeout = "500ms"
  help    = "Mails waiting."
}
`)
	})
}

// TestCustomMetric_lifecycleOnTwin runs steward_custom_metric through the
// managed-object platform against the twin (which runs no daemon): create,
// an edit and a deletion by hand (each a plan, then one apply that
// converges), an update, import, and the agent's refusals blamed on their
// attribute.
func TestCustomMetric_lifecycleOnTwin(t *testing.T) {
	requireTerraform(t)
	twin := newHostTwin(t)
	for _, prog := range []string{"/usr/bin/cat", "/usr/local/bin/queue-depth"} {
		if err := os.MkdirAll(filepath.Dir(twin.file(prog)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(twin.file(prog), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec := twin.file("/etc/steward/custom_metrics/queue_depth.json")
	config := func(command, extra string) string {
		return fmt.Sprintf(`
resource "steward_custom_metric" "q" {
  host    = { host = "192.0.2.1", trust_on_first_use = true }
  name    = "queue_depth"
  command = %s
%s
}
`, command, extra)
	}
	base := config(`["/usr/local/bin/queue-depth", "--queue", "mail"]`, "")
	onTwin := func(f func() error) func() {
		return func() {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}
	}
	action := func(a plancheck.ResourceActionType) resource.ConfigPlanChecks {
		return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(customAddr, a)}}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: twinFactories(twin),
		Steps: []resource.TestStep{
			{
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("id"), knownvalue.StringExact(twin.hostID+"/queue_depth")),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("metric_name"), knownvalue.StringExact("steward_custom_queue_depth")),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("config_sha256"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f]{64}$`))),
					// The twin runs no daemon: the read says so instead of failing.
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("collecting"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("last_error"), knownvalue.StringRegexp(regexp.MustCompile(`^the agent daemon does not answer on `))),
				},
			},
			{
				// Edited by hand: the configuration's value shows in the plan.
				PreConfig: onTwin(func() error {
					b, err := os.ReadFile(spec)
					if err == nil {
						err = os.WriteFile(spec, bytes.Replace(b, []byte(`"mail"`), []byte(`"spam"`), 1), 0o600)
					}
					return err
				}),
				Config: base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(customAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(customAddr, tfjsonpath.New("command").AtSliceIndex(2), knownvalue.StringExact("mail")),
				}},
			},
			{
				Config:           config(`["/usr/local/bin/queue-depth", "--queue", "mail"]`, `  timeout = "3s"`),
				ConfigPlanChecks: action(plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("timeout"), knownvalue.StringExact("3s")),
				},
			},
			{
				// A timeout removed by hand is drift too.
				PreConfig: onTwin(func() error {
					b, err := os.ReadFile(spec)
					if err == nil && !bytes.Contains(b, []byte(`"timeout": "3s"`)) {
						err = fmt.Errorf("no timeout in %s", b)
					}
					if err == nil {
						err = os.WriteFile(spec, bytes.Replace(b, []byte(",\n  \"timeout\": \"3s\""), nil, 1), 0o600)
					}
					return err
				}),
				Config: config(`["/usr/local/bin/queue-depth", "--queue", "mail"]`, `  timeout = "3s"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(customAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(customAddr, tfjsonpath.New("timeout"), knownvalue.StringExact("3s")),
				}},
			},
			{
				// Deleted on the host: planned as a create.
				PreConfig:        onTwin(func() error { return os.Remove(spec) }),
				Config:           base,
				ConfigPlanChecks: action(plancheck.ResourceActionCreate),
			},
			{
				Config:           config(`["/usr/bin/cat", "/var/tmp/depth"]`, `  help = "Mails waiting."`),
				ConfigPlanChecks: action(plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("help"), knownvalue.StringExact("Mails waiting.")),
				},
			},
			{
				ResourceName:            customAddr,
				ImportState:             true,
				ImportStateId:           "deploy@192.0.2.1/queue_depth",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"host"},
			},
			{
				// The agent refuses what only the host can tell, blaming the attribute.
				Config:      config(`["/usr/bin/no-such-tool"]`, ""),
				ExpectError: blamed("Custom Metric Program Not Found", "command", "command[0] /usr/bin/no-such-tool: no such file on the host"),
			},
			{
				Config:      config(`["/usr/bin/cat", "/var/tmp/depth"]`, `  timeout = "30s"`),
				ExpectError: blamed("Custom Metric Timeout Too Long", "timeout", "timeout 30s: want at most the host's collection interval, 10s"),
			},
		},
	})
}
