package provider

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

const (
	channelAddr = "steward_notification_channel.c"
	silenceAddr = "steward_silence.s"
)

// alertingConfig is a channel, a rule sending to it and a silence over the
// rule, on the host at 192.0.2.1 (the twin in unit tests).
func alertingConfig(threshold, forDuration string) string {
	return fmt.Sprintf(`
resource "steward_notification_channel" "c" {
  host    = { host = "192.0.2.1", trust_on_first_use = true }
  name    = "ops"
  type    = "webhook"
  webhook = { url = "http://192.0.2.9:9000/hook" }
}

resource "steward_alert_rule" "r" {
  host      = { host = "192.0.2.1", trust_on_first_use = true }
  name      = "load"
  metric    = "node_load1"
  op        = ">"
  threshold = %s
  for       = %q
  matchers  = [{ label = "instance", op = "!=", value = "" }]
  severity  = "warning"
  channels  = [steward_notification_channel.c.name]
  annotations = { summary = "load is {{ printf \"%%.1f\" .Value }}" }
}

resource "steward_silence" "s" {
  host     = { host = "192.0.2.1", trust_on_first_use = true }
  name     = "maint"
  matchers = [{ label = "alertname", value = steward_alert_rule.r.name }]
  schedule = "0 2 * * 0"
  duration = "2h"
  comment  = "weekly maintenance"
}
`, threshold, forDuration)
}

// TestAlerting_lifecycleOnTwin runs the three alerting resources through
// the managed-object lifecycle against the in-process twin of a host:
// create, a rule file edited by hand (the plan shows the host's value, one
// apply converges), deleted by hand (planned as a create), an update,
// import of each, and a `for` the host's own interval refuses at apply,
// blamed on the attribute.
func TestAlerting_lifecycleOnTwin(t *testing.T) {
	requireTerraform(t)
	twin := newHostTwin(t)
	ruleFile := twin.file("/etc/steward/alert_rules/load.json")
	sha := knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f]{64}$`))
	onTwin := func(f func() error) func() {
		return func() {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: twinFactories(twin),
		Steps: []resource.TestStep{
			{
				Config: alertingConfig("4", "30s"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("id"), knownvalue.StringExact(twin.hostID+"/load")),
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("config_sha256"), sha),
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("kind"), knownvalue.StringExact("threshold")),
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("alerts"), knownvalue.ListExact([]knownvalue.Check{})),
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("firing"), knownvalue.Int64Exact(0)),
					// The twin runs no daemon: the status says so instead of failing.
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("note"), knownvalue.StringRegexp(regexp.MustCompile(`not observed`))),
					statecheck.ExpectKnownValue(channelAddr, tfjsonpath.New("config_sha256"), sha),
					statecheck.ExpectKnownValue(channelAddr, tfjsonpath.New("queue_length"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(channelAddr, tfjsonpath.New("last_error"), knownvalue.StringExact("")),
					statecheck.ExpectKnownValue(silenceAddr, tfjsonpath.New("config_sha256"), sha),
					statecheck.ExpectKnownValue(silenceAddr, tfjsonpath.New("active"), knownvalue.Bool(false)),
				},
			},
			{
				// The rule file edited by hand: the plan shows the host's
				// threshold going back to the configuration's.
				PreConfig: onTwin(func() error {
					b, err := os.ReadFile(ruleFile)
					if err == nil {
						err = os.WriteFile(ruleFile, bytes.Replace(b, []byte(`"threshold": 4`), []byte(`"threshold": 40`), 1), 0o600)
					}
					return err
				}),
				Config: alertingConfig("4", "30s"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(alertRuleAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("threshold"), knownvalue.Float64Exact(4)),
					plancheck.ExpectResourceAction(channelAddr, plancheck.ResourceActionNoop),
				}},
			},
			{
				// Deleted by hand: planned as a create.
				PreConfig: onTwin(func() error { return os.Remove(ruleFile) }),
				Config:    alertingConfig("4", "30s"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(alertRuleAddr, plancheck.ResourceActionCreate),
				}},
			},
			{
				Config: alertingConfig("8", "1m"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(alertRuleAddr, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("threshold"), knownvalue.Float64Exact(8)),
				},
			},
			{ResourceName: alertRuleAddr, ImportState: true, ImportStateId: "deploy@192.0.2.1/load", ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"host"}},
			{ResourceName: channelAddr, ImportState: true, ImportStateId: "deploy@192.0.2.1/ops", ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"host"}},
			{ResourceName: silenceAddr, ImportState: true, ImportStateId: "deploy@192.0.2.1/maint", ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"host"}},
			{
				// The host collects every 2m: a `for` of 1m passes the
				// plan (the host's interval is not known there) and the
				// agent refuses it at apply, blaming `for`.
				PreConfig: onTwin(func() error {
					cfg := twin.file("/etc/steward/agent.json")
					if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
						return err
					}
					return os.WriteFile(cfg, []byte(`{"host_id":"`+twin.hostID+`","listen_address":"127.0.0.1:9276","heartbeat_interval":"10s","monitoring":{"interval":"2m"}}`), 0o600)
				}),
				Config:      alertingConfig("8", "90s"),
				ExpectError: regexp.MustCompile(`(?s)Invalid Alert Rule.*for 1m30s is shorter than the collection\s+interval 2m0s`),
			},
		},
	})
}
