package provider

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	tfpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

const logForwardAddr = "steward_log_forward.l"

// TestLogForward_invalidConfig: a forwarder no agent would run fails at
// plan time, naming the attribute and what it accepts.
func TestLogForward_invalidConfig(t *testing.T) {
	requireTerraform(t)
	cases := []struct{ name, body, summary, message string }{
		{"no sources", `target = { address = "10.0.0.1:514", protocol = "tcp" }`,
			"Invalid Log Forward", `want a journal block or at least one file`},
		{"address without port", `journal = {}
  target = { address = "logs.example.com", protocol = "tcp" }`,
			"Invalid Log Forward", `target.address "logs.example.com": want host:port`},
		{"unknown protocol", `journal = {}
  target = { address = "10.0.0.1:514", protocol = "relp" }`,
			"Invalid Attribute Value Match", `target.protocol value must be one of`},
		{"tls without ca", `journal = {}
  target = { address = "10.0.0.1:6514", protocol = "tls" }`,
			"Invalid Log Forward", `target.ca_file: required with protocol "tls"`},
		{"ca with tcp", `journal = {}
  target = { address = "10.0.0.1:514", protocol = "tcp", ca_file = "/etc/ssl/ca.pem" }`,
			"Invalid Log Forward", `target.ca_file: only with protocol "tls", not "tcp"`},
		{"relative file", `files = [{ path = "/var/log/app.log" }, { path = "app.log" }]
  target = { address = "10.0.0.1:514", protocol = "tcp" }`,
			"Invalid Log Forward", `files[1].path "app.log": want an absolute, clean path`},
		{"unit with a space", `journal = { units = ["nginx.service", "bad unit"] }
  target = { address = "10.0.0.1:514", protocol = "tcp" }`,
			"Invalid Log Forward", `journal.units[1] "bad unit": want a unit name or glob`},
		{"bad priority", `journal = { priority = "loud" }
  target = { address = "10.0.0.1:514", protocol = "tcp" }`,
			"Invalid Attribute Value Match", `journal.priority value must be one of`},
		{"tiny messages", `journal = {}
  target = { address = "10.0.0.1:514", protocol = "tcp", max_message_bytes = 100 }`,
			"Invalid Log Forward", `target.max_message_bytes 100: want 0 (the default) or 480 to 65507`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			config := providerBlock("") + fmt.Sprintf("resource \"steward_log_forward\" \"l\" {\n  host = { host = \"h\", trust_on_first_use = true }\n  name = \"app\"\n  %s\n}\n", tc.body)
			// Terraform shows an attribute nested in an object literal at
			// the resource's line; the detail names it (and specAttrPath's
			// test checks the path the diagnostic carries).
			words := strings.Fields(tc.message)
			for i, w := range words {
				words[i] = regexp.QuoteMeta(w)
			}
			expectPlanError(t, config, `(?s)Error: `+regexp.QuoteMeta(tc.summary)+`\s.*`+strings.Join(words, `\s+`))
		})
	}
	t.Run("valid", func(t *testing.T) {
		expectValid(t, providerBlock("")+`resource "steward_log_forward" "l" {
  host    = { host = "h", trust_on_first_use = true }
  name    = "app"
  journal = { units = ["nginx.service"], priority = "info" }
  files   = [{ path = "/var/log/app.log", tag = "app", facility = "local3" }]
  target  = { address = "[2001:db8::1]:6514", protocol = "tls", ca_file = "/etc/steward/ca.pem" }
}
`)
	})
}

// TestLogForward_specAttrPath: the agent's messages blame the attribute
// they start with, nested paths included; messages naming none blame none.
func TestLogForward_specAttrPath(t *testing.T) {
	t.Parallel()
	cases := []struct {
		msg  string
		want tfpath.Path
		ok   bool
	}{
		{`files[1].path "app.log": want an absolute path`, tfpath.Root("files").AtListIndex(1).AtName("path"), true},
		{`journal.units[0] "x y": want a unit name`, tfpath.Root("journal").AtName("units").AtListIndex(0), true},
		{`target.ca_file /etc/ca.pem: no such file`, tfpath.Root("target").AtName("ca_file"), true},
		{`target.cert_file and target.key_file: give both or neither`, tfpath.Root("target").AtName("cert_file"), true},
		{`start_at "middle": want one of`, tfpath.Root("start_at"), true},
		{`log forward "app": want a journal block or at least one file`, tfpath.Empty(), false},
	}
	for _, tc := range cases {
		got, ok := specAttrPath(tc.msg)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("specAttrPath(%q) = %s, %t; want %s, %t", tc.msg, got, ok, tc.want, tc.ok)
		}
	}
}

// TestLogForward_lifecycleOnTwin runs steward_log_forward through the
// managed-object platform against the twin (which runs no daemon): create
// with the read saying so, edits by hand of nested attributes (each a plan
// that shows the configuration's value, then one apply that converges), an
// update, import, and the agent's refusals blamed on their attribute.
func TestLogForward_lifecycleOnTwin(t *testing.T) {
	requireTerraform(t)
	twin := newHostTwin(t)
	if err := os.MkdirAll(twin.file("/var/log/app"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := twin.file("/etc/steward/log_forward/app.json")
	config := func(extra string) string {
		return fmt.Sprintf(`
resource "steward_log_forward" "l" {
  host    = { host = "192.0.2.1", trust_on_first_use = true }
  name    = "app"
  journal = { units = ["nginx.service"], identifiers = ["nginx"] }
  files   = [{ path = "/var/log/app/app.log", tag = "app" }]
  target  = { address = "192.0.2.9:514", protocol = "tcp" }
%s
}
`, extra)
	}
	edit := func(from, to string) func() {
		return func() {
			b, err := os.ReadFile(spec)
			if err == nil && !bytes.Contains(b, []byte(from)) {
				err = fmt.Errorf("no %s in %s", from, b)
			}
			if err == nil {
				err = os.WriteFile(spec, bytes.Replace(b, []byte(from), []byte(to), 1), 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	update := func(checks ...plancheck.PlanCheck) resource.ConfigPlanChecks {
		return resource.ConfigPlanChecks{PreApply: append([]plancheck.PlanCheck{plancheck.ExpectResourceAction(logForwardAddr, plancheck.ResourceActionUpdate)}, checks...)}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: twinFactories(twin),
		Steps: []resource.TestStep{
			{
				Config: config(""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("id"), knownvalue.StringExact(twin.hostID+"/app")),
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("files").AtSliceIndex(0).AtMapKey("severity"), knownvalue.Null()),
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("connected"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("last_error"), knownvalue.StringRegexp(regexp.MustCompile(`^the agent daemon does not answer on `))),
				},
			},
			{
				// An identifier changed by hand: the plan puts back the configuration's.
				PreConfig:        edit(`"nginx"`, `"sshd"`),
				Config:           config(""),
				ConfigPlanChecks: update(plancheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("journal").AtMapKey("identifiers").AtSliceIndex(0), knownvalue.StringExact("nginx"))),
			},
			{
				// A file's tag removed and a severity added by hand.
				PreConfig: edit(`"tag": "app"`, `"severity": "err"`),
				Config:    config(""),
				ConfigPlanChecks: update(
					plancheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("files").AtSliceIndex(0).AtMapKey("tag"), knownvalue.StringExact("app")),
					plancheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("files").AtSliceIndex(0).AtMapKey("severity"), knownvalue.Null()),
				),
			},
			{
				Config:           config(`  start_at = "beginning"`),
				ConfigPlanChecks: update(),
				Check:            func(*terraform.State) error { return fileContains(spec, `"start_at": "beginning"`) },
			},
			{
				ResourceName:            logForwardAddr,
				ImportState:             true,
				ImportStateId:           "deploy@192.0.2.1/app",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"host"},
			},
			{
				// The agent refuses what only the host can tell, naming the attribute.
				Config:      strings.Replace(config(""), "/var/log/app/app.log", "/var/log/nowhere/app.log", 1),
				ExpectError: regexp.MustCompile(`(?s)Error: Log File Directory Not Found.*files\[0\]\.path\s+/var/log/nowhere/app.log:\s+directory\s+/var/log/nowhere`),
			},
			{
				Config:      strings.Replace(config(""), `protocol = "tcp"`, `protocol = "tls", ca_file = "/etc/ssl/none.pem"`, 1),
				ExpectError: regexp.MustCompile(`(?s)Error: Unusable Log Forward TLS File.*target\.ca_file\s+/etc/ssl/none.pem:\s+no\s+such\s+file`),
			},
		},
	})
}

func fileContains(path, want string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(want)) {
		return fmt.Errorf("%s does not contain %s:\n%s", path, want, b)
	}
	return nil
}
