package provider

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// hoverRule is a rule with hysteresis: it fires above 10 and resolves
// only once the value has stayed at 5 or below for 10 s.
const hoverRule = `
resource "steward_alert_rule" "hover" {
  host              = steward_host.h.host_connection
  name              = "acc-hover"
  metric            = "acc_hover"
  op                = ">"
  threshold         = 10
  resolve_threshold = 5
  clear_for         = "10s"
  channels          = [steward_notification_channel.c.name]
}
`

// expiringSilence covers acc-queue for 30 s from its creation (the
// terraform_data keeps that time, so later plans are empty).
const expiringSilence = `
resource "terraform_data" "silence_start" {
  input = timestamp()
  lifecycle { ignore_changes = [input] }
}

resource "steward_silence" "s" {
  host      = steward_host.h.host_connection
  name      = "expiring"
  matchers  = [{ label = "alertname", value = steward_alert_rule.r.name }]
  starts_at = terraform_data.silence_start.output
  ends_at   = timeadd(terraform_data.silence_start.output, "30s")
  comment   = "acceptance test: it ends while the alert still fires"
}
`

// TestAccAlert_faults: faults on a fleet host, each with a real webhook
// receiver on the bridge. The receiver is down (connections refused)
// while an alert fires and resolves: both are queued, and delivered once
// each, in order, when it is back. The agent restarted with systemctl
// while an alert fires sends no second firing notification, and still
// the resolve. A silence that ends while its alert still fires lets the
// notification go out then. A value hovering around a threshold with a
// resolve threshold and clear_for is notified once when it fires and once
// when it resolves, not at every wobble.
func TestAccAlert_faults(t *testing.T) {
	f := testFleet(t, 1)
	testAgent(t)
	t.Parallel() // on a host of its own; waits for the serial tests to end
	h := f.Hosts[0]
	cleanHost(t, f, h)
	hook := newWebhookOutage(t, f) // down until the outage ends
	payloads := hook.Payloads
	setQueue := func(v string) {
		t.Helper()
		setTextfileMetric(t, f, h, "acc", "acc_queue_depth", v)
	}
	setHover := func(v string) {
		t.Helper()
		setTextfileMetric(t, f, h, "hover", "acc_hover", v)
	}
	setQueue("1")
	setHover("0")
	delivered := func(a hostAlerts, result, errPart string) bool {
		return slices.ContainsFunc(a.History.Deliveries, func(d api.DeliveryRecord) bool {
			return d.Channel == "hook" && d.Result == result && strings.Contains(d.Error, errPart)
		})
	}

	base := alertAccConfig(f, h, hook.URL, "", hoverRule)
	silenced := alertAccConfig(f, h, hook.URL, expiringSilence, hoverRule)
	history := alertAccConfig(f, h, hook.URL, expiringSilence, hoverRule+`
data "steward_alert_history" "h" {
  host = steward_host.h.host_connection
  rule = steward_alert_rule.r.name
}

data "steward_alert_history" "hover" {
  host = steward_host.h.host_connection
  rule = steward_alert_rule.hover.name
}
`)
	var restartedAt, silenceEnds time.Time
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: base},
			{
				// The receiver down: the firing alert and its resolve
				// wait in the queue, retried.
				PreConfig: func() {
					setQueue("10")
					waitHostAlerts(t, f, h, "acc-queue", func(a hostAlerts) bool { return delivered(a, api.DeliveryFailed, "connection refused") },
						"a failed delivery to the receiver that is down")
					setQueue("1")
					waitHostAlerts(t, f, h, "acc-queue", func(a hostAlerts) bool { return alertIn(a.Status, "acc-queue", api.AlertResolved, 1) },
						"the alert resolved")
				},
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(channelAddr, tfjsonpath.New("queue_length"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(channelAddr, tfjsonpath.New("delivered"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(channelAddr, tfjsonpath.New("last_error"), knownvalue.StringRegexp(regexp.MustCompile(`connection refused`))),
				},
			},
			{
				// Back: both arrive, in order, once.
				PreConfig: func() {
					hook.up()
					expectPayload(t, payloads, "acc-queue", api.AlertFiring)
					expectPayload(t, payloads, "acc-queue", api.AlertResolved)
					expectNoPayload(t, payloads, 5*time.Second)
				},
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(channelAddr, tfjsonpath.New("queue_length"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(channelAddr, tfjsonpath.New("delivered"), knownvalue.Int64Exact(2)),
				},
			},
			{
				// The agent restarted while the alert fires: the daemon
				// evaluates again and sends nothing new.
				PreConfig: func() {
					setQueue("10")
					expectPayload(t, payloads, "acc-queue", api.AlertFiring)
					restartedAt = time.Now()
					if out, err := onHost(t, f, h, "systemctl restart steward-agent && systemctl is-active steward-agent"); err != nil {
						t.Fatalf("restart the agent on %s: %v\n%s", h.Name, err, out)
					}
					waitHostAlerts(t, f, h, "acc-queue", func(a hostAlerts) bool {
						return a.Status.LastEvaluation.After(restartedAt) && alertIn(a.Status, "acc-queue", api.AlertFiring, 10)
					}, "an evaluation after the restart, the alert still firing")
					expectNoPayload(t, payloads, 10*time.Second) // two more evaluations
				},
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("alerts").AtSliceIndex(0).AtMapKey("state"), knownvalue.StringExact(api.AlertFiring)),
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("alerts").AtSliceIndex(0).AtMapKey("notified"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("hook")})),
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("alerts").AtSliceIndex(0).AtMapKey("fired_at"), knownvalue.StringFunc(func(v string) error {
						if at, err := time.Parse(time.RFC3339, v); err != nil || !at.Before(restartedAt) {
							return fmt.Errorf("fired_at %q: want the firing from before the restart at %s", v, restartedAt.Format(time.RFC3339))
						}
						return nil
					})),
				},
			},
			{
				// The resolve after the restart is still sent.
				PreConfig: func() {
					setQueue("1")
					expectPayload(t, payloads, "acc-queue", api.AlertResolved)
				},
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(channelAddr, tfjsonpath.New("firing"), knownvalue.Int64Exact(0)),
				},
			},
			{
				Config: silenced,
				Check: resource.TestCheckResourceAttrWith(silenceAddr, "ends_at", func(v string) (err error) {
					silenceEnds, err = time.Parse(time.RFC3339, v)
					return err
				}),
			},
			{
				// The alert fires under the silence: nothing is sent
				// until the silence ends; then the notification goes out.
				PreConfig: func() {
					setQueue("10")
					waitHostAlerts(t, f, h, "acc-queue", func(a hostAlerts) bool {
						return slices.ContainsFunc(a.Status.Alerts, func(i api.AlertInstance) bool {
							return i.State == api.AlertFiring && slices.Equal(i.Silenced, []string{"expiring"})
						})
					}, "the alert firing, silenced")
					left := time.Until(silenceEnds)
					if left < 3*time.Second {
						t.Fatalf("the silence ends at %s, too soon after the alert fired under it to tell anything (the steps before took too long)", silenceEnds)
					}
					t.Logf("the alert fires under the silence, %s before it ends", left.Round(time.Second))
					expectNoPayload(t, payloads, time.Until(silenceEnds))
					expectPayload(t, payloads, "acc-queue", api.AlertFiring)
					if time.Now().Before(silenceEnds) {
						t.Fatalf("notified at %s, before the silence ended at %s", time.Now(), silenceEnds)
					}
				},
				Config: silenced,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(silenceAddr, tfjsonpath.New("active"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("alerts").AtSliceIndex(0).AtMapKey("notified"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("hook")})),
				},
			},
			{
				// Hysteresis: above 10 it fires; between 5 and 10, and
				// above 10 again, it stays firing; at 2 it resolves once
				// clear_for has passed. Two notifications in all.
				PreConfig: func() {
					setQueue("1")
					expectPayload(t, payloads, "acc-queue", api.AlertResolved)
					setHover("12")
					expectPayload(t, payloads, "acc-hover", api.AlertFiring)
					for _, v := range []float64{8, 11, 6, 12, 9} {
						setHover(fmt.Sprint(v))
						waitHostAlerts(t, f, h, "acc-hover", func(a hostAlerts) bool { return alertIn(a.Status, "acc-hover", api.AlertFiring, v) },
							fmt.Sprintf("the alert still firing at %g", v))
					}
					setHover("2")
					cleared := time.Now()
					expectPayload(t, payloads, "acc-hover", api.AlertResolved)
					if d := time.Since(cleared); d < 10*time.Second {
						t.Errorf("resolved %s after the value cleared: want clear_for (10s) first", d)
					}
				},
				Config: history,
				Check: resource.ComposeAggregateTestCheckFunc(
					// The firing under the silence is in the history as such.
					resource.TestCheckTypeSetElemNestedAttrs("data.steward_alert_history.h", "transitions.*",
						map[string]string{"rule": "acc-queue", "to": api.AlertFiring, "silenced.#": "1", "silenced.0": "expiring"}),
					resource.TestCheckResourceAttr("data.steward_alert_history.hover", "deliveries.#", "2"),
					resource.TestCheckTypeSetElemNestedAttrs("data.steward_alert_history.hover", "deliveries.*",
						map[string]string{"result": api.DeliveryDelivered, "alerts.0.state": api.AlertFiring}),
					resource.TestCheckTypeSetElemNestedAttrs("data.steward_alert_history.hover", "deliveries.*",
						map[string]string{"result": api.DeliveryDelivered, "alerts.0.state": api.AlertResolved}),
				),
			},
		},
	})
}
