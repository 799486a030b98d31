package provider

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

const alertRuleAddr = "steward_alert_rule.r"

// alertRuleConfig is a rule on a host no test reaches (plan-time only).
func alertRuleConfig(body string) string {
	return providerBlock("") + "resource \"steward_alert_rule\" \"r\" {\n  host = { host = \"192.0.2.1\", trust_on_first_use = true }\n  name = \"disk\"\n" + body + "}\n"
}

// TestAlertRule_invalidConfig: a rule the agent would refuse fails at plan
// time, naming the attribute and what it accepts.
func TestAlertRule_invalidConfig(t *testing.T) {
	requireTerraform(t)
	threshold := "  metric = \"node_filesystem_avail_bytes\"\n  op = \"<\"\n  threshold = 1e9\n"
	cases := []struct{ name, body, want string }{
		{"template does not parse", threshold + "  annotations = { summary = \"{{ .Value \" }\n",
			blamedAt("annotations", `annotations\["summary"\].*template does not parse`)},
		{"template field missing", threshold + "  labels = { team = \"{{ .Vaule }}\" }\n",
			blamedAt("labels", `labels\["team"\].*template fails on sample data.*\.Value`)},
		{"duration", threshold + "  for = \"five minutes\"\n", blamedAt("for", `for must be a duration such as "30s"`)},
		{"for below every interval", threshold + "  for = \"500ms\"\n", blamedAt("for", `for 500ms is shorter than the collection\s+interval 1s`)},
		{"op", "  metric = \"node_load1\"\n  op = \"=>\"\n", blamedAt("op", `op value must be one of`)},
		{"op missing", "  metric = \"node_load1\"\n", `(?s)Invalid Alert Rule.*op "": want one of >, >=`},
		{"metric missing", "  op = \">\"\n", `(?s)Invalid Alert Rule.*metric: required for kind threshold`},
		{"aggregation without window", threshold + "  aggregation = \"avg\"\n", blamedAt("aggregation", `set both`)},
		{"resolve on the wrong side", threshold + "  resolve_threshold = 5e8\n", blamedAt("resolve_threshold", `want at\s+least 1e\+09`)},
		{"matcher regexp", threshold + "  matchers = [{ label = \"mountpoint\", op = \"=~\", value = \"(\" }]\n",
			blamedAt("matchers", `matchers\[0\].*is not a regular expression`)},
		{"builtin with metric", "  kind = \"unit_failed\"\n  metric = \"node_load1\"\n", blamedAt("kind", `set by the kind; leave them out`)},
		{"backup_stale without max_age", "  kind = \"backup_stale\"\n", `(?s)Invalid Alert Rule.*max_age: required for kind backup_stale`},
		{"reserved label", threshold + "  labels = { alertname = \"x\" }\n", blamedAt("labels", `is set by the engine`)},
		{"channel name", threshold + "  channels = [\"Ops Team\"]\n", blamedAt("channels", `must be a channel name`)},
		{"repeat too short", threshold + "  repeat_interval = \"30s\"\n", blamedAt("repeat_interval", `want at least 1m`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			expectPlanError(t, alertRuleConfig(tc.body), tc.want)
		})
	}
}

// blamedAt wants an error shown at the attribute's line of the
// configuration (Terraform quotes it) with the message msg, which
// Terraform may wrap at any space.
func blamedAt(attr, msg string) string {
	return `(?s)\d+:\s+` + attr + `\s+=.*` + wrapped(msg)
}

// wrapped matches msg wrapped at any space.
func wrapped(msg string) string { return strings.ReplaceAll(msg, " ", `\s+`) }

// TestAlertRule_planWarnings: what only the host can decide is a warning,
// and the plan goes ahead: a metric outside the default collectors, and a
// `for` shorter than the default collection interval.
func TestAlertRule_planWarnings(t *testing.T) {
	requireTerraform(t)
	cases := []struct{ name, body, want string }{
		{"custom metric", "  metric = \"app_queue_depth\"\n  op = \">\"\n  threshold = 100\n",
			`metric "app_queue_depth" is not one the agent collects by default`},
		{"for below the default interval", "  metric = \"node_load1\"\n  op = \">\"\n  threshold = 4\n  for = \"5s\"\n",
			`for 5s is shorter than the collection interval 10s`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			expectPlanWarning(t, alertRuleConfig(tc.body), tc.want)
		})
	}
	expectValid(t, alertRuleConfig("  metric = \"node_load1\"\n  op = \">\"\n  threshold = 4\n  for = \"30s\"\n"))
}

// expectPlanWarning plans config, which must pass, and wants a warning
// matching want in the provider's diagnostics.
func expectPlanWarning(t *testing.T, config, want string) {
	t.Helper()
	re := regexp.MustCompile(want)
	var mu sync.Mutex
	var found bool
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: warningRecorder(func(_, detail string) {
			mu.Lock()
			defer mu.Unlock()
			found = found || re.MatchString(detail)
		}),
		Steps: []resource.TestStep{{Config: config, PlanOnly: true, ExpectNonEmptyPlan: true}},
	})
	mu.Lock()
	defer mu.Unlock()
	if !found {
		t.Errorf("no warning matching %s", want)
	}
}

// warningRecorder is the provider under test, reporting the warnings its
// configuration validation returns to record.
func warningRecorder(record func(summary, detail string)) map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"steward": func() (tfprotov6.ProviderServer, error) {
			s, err := providerserver.NewProtocol6WithError(New("test")())()
			return warningServer{ProviderServer: s, record: record}, err
		},
	}
}

type warningServer struct {
	tfprotov6.ProviderServer
	record func(summary, detail string)
}

func (w warningServer) ValidateResourceConfig(ctx context.Context, req *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, error) {
	resp, err := w.ProviderServer.ValidateResourceConfig(ctx, req)
	if resp != nil {
		for _, d := range resp.Diagnostics {
			if d.Severity == tfprotov6.DiagnosticSeverityWarning {
				w.record(d.Summary, d.Detail)
			}
		}
	}
	return resp, err
}
