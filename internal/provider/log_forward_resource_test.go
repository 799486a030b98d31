package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	tfpath "github.com/hashicorp/terraform-plugin-framework/path"
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
