package provider

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// webhookPayload is what a receiver of Alertmanager's webhook (version 4)
// reads.
type webhookPayload struct {
	Version string `json:"version"`
	Status  string `json:"status"`
	Alerts  []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		EndsAt      time.Time         `json:"endsAt"`
	} `json:"alerts"`
}

// webhookReceiver serves a webhook on the fleet's bridge address, which
// the hosts reach, and hands every payload to the returned channel.
func webhookReceiver(t *testing.T, f fleet) (url string, payloads <-chan webhookPayload) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(f.BridgeAddress, "0"))
	if err != nil {
		t.Fatalf("listen on the bridge address %s: %v", f.BridgeAddress, err)
	}
	ch := make(chan webhookPayload, 64)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: webhookHandler(t, ch)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/hook", ch
}

// webhookHandler hands every payload POSTed to it to ch.
func webhookHandler(t *testing.T, ch chan<- webhookPayload) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p webhookPayload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		ch <- p
	})
}

// setTextfileMetric writes the textfile name.prom on h with one sample of
// metric, atomically, as a textfile collector's producer should.
func setTextfileMetric(t *testing.T, f fleet, h fleetHost, name, metric, value string) {
	t.Helper()
	cmd := fmt.Sprintf("set -e; mkdir -p %[1]s; printf '%[3]s %[4]s\\n' > %[1]s/.%[2]s.tmp; mv %[1]s/.%[2]s.tmp %[1]s/%[2]s.prom", api.TextfileDir, name, metric, value)
	if out, err := onHost(t, f, h, cmd); err != nil {
		t.Fatalf("write the textfile %s on %s: %v\n%s", name, h.Name, err, out)
	}
}

// notifyWithin bounds the wait for what a fleet host does about a new
// value: the 5 s collection interval, the daemon reading new files, a retry.
const notifyWithin = 40 * time.Second

// expectPayload waits for the next payload and wants one alert of rule in
// status.
func expectPayload(t *testing.T, payloads <-chan webhookPayload, rule, status string) webhookPayload {
	t.Helper()
	select {
	case p := <-payloads:
		if p.Version != "4" || p.Status != status || len(p.Alerts) != 1 || p.Alerts[0].Status != status || p.Alerts[0].Labels["alertname"] != rule {
			t.Fatalf("webhook payload %+v: want one %s alert of %s in Alertmanager's version 4 format", p, status, rule)
		}
		return p
	case <-time.After(notifyWithin):
		t.Fatalf("no %s notification of %s within %s", status, rule, notifyWithin)
	}
	return webhookPayload{}
}

// expectNoPayload wants the receiver to get nothing for d.
func expectNoPayload(t *testing.T, payloads <-chan webhookPayload, d time.Duration) {
	t.Helper()
	select {
	case p := <-payloads:
		t.Fatalf("unexpected notification: %+v", p)
	case <-time.After(d):
	}
}

// alertAccConfig is a monitored host with a webhook channel, a rule on a
// textfile metric sending to it and, with silence, a silence over the rule.
func alertAccConfig(f fleet, h fleetHost, hookURL, silence, extra string) string {
	return monitoredHost(f, h, "") + fmt.Sprintf(`
resource "steward_notification_channel" "c" {
  host      = steward_host.h.host_connection
  name      = "hook"
  type      = "webhook"
  webhook   = { url = %q }
  retry_min = "1s"
  retry_max = "5s"
}
%s
%s
%s`, hookURL, accQueueRule("[steward_notification_channel.c.name]"), silence, extra)
}

// accQueueRule is the rule the alerting acceptance tests flip: acc-queue,
// over the textfile metric acc_queue_depth, sending to channels (an HCL
// list).
func accQueueRule(channels string) string {
	return fmt.Sprintf(`
resource "steward_alert_rule" "r" {
  host      = steward_host.h.host_connection
  name      = "acc-queue"
  metric    = "acc_queue_depth"
  op        = ">"
  threshold = 5
  severity  = "page"
  channels  = %s
  annotations = { summary = "queue is {{ .Value }} deep on {{ .Host }}" }
}
`, channels)
}

// TestAccAlert_webhook: on a fleet host, a rule on a custom textfile
// metric that the test flips: the webhook served by the test gets the
// firing alert and then the resolve in Alertmanager's format; the rule
// file edited by hand shows in the plan and one plain apply converges; a
// silence covering the rule holds its notifications back (the history
// records them as silenced); steward_alert_history reads the transitions
// and deliveries. First of all, a template that does not parse fails the
// plan naming the attribute, before anything reaches the host.
func TestAccAlert_webhook(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	hook, payloads := webhookReceiver(t, f)
	const within = notifyWithin
	setValue := func(v string) {
		t.Helper()
		setTextfileMetric(t, f, h, "acc", "acc_queue_depth", v)
	}
	setValue("1")
	rule := alertRuleAddr
	base := alertAccConfig(f, h, hook, "", "")
	now := time.Now().UTC()
	silence := fmt.Sprintf(`
resource "steward_silence" "s" {
  host      = steward_host.h.host_connection
  name      = "maint"
  matchers  = [{ label = "alertname", value = steward_alert_rule.r.name }]
  starts_at = %q
  ends_at   = %q
  comment   = "acceptance test: the queue is drained by hand"
}
`, now.Add(-time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
	silenced := alertAccConfig(f, h, hook, silence, "")
	history := alertAccConfig(f, h, hook, silence, `
data "steward_alert_history" "h" {
  host = steward_host.h.host_connection
  rule = steward_alert_rule.r.name
}
`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				// A template that does not parse: the plan fails naming it.
				Config: alertAccConfig(f, h, hook, "", "") + "\n" + `
resource "steward_alert_rule" "bad" {
  host        = steward_host.h.host_connection
  name        = "bad"
  metric      = "node_load1"
  op          = ">"
  threshold   = 100
  annotations = { summary = "{{ .Value " }
}
`,
				ExpectError: regexp.MustCompile(`(?s)annotations\s*=.*annotations\["summary"\].*template\s+does\s+not\s+parse`),
			},
			{
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(rule, tfjsonpath.New("host_id"), knownvalue.StringExact(h.MachineID)),
					statecheck.ExpectKnownValue(rule, tfjsonpath.New("config_sha256"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f]{64}$`))),
					statecheck.ExpectKnownValue(channelAddr, tfjsonpath.New("config_sha256"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f]{64}$`))),
				},
			},
			{
				// Over the threshold: the webhook gets the firing alert,
				// and the rule's alerts show it.
				PreConfig: func() {
					expectNoPayload(t, payloads, 12*time.Second) // below the threshold: nothing
					setValue("10")
					p := expectPayload(t, payloads, "acc-queue", api.AlertFiring)
					if p.Alerts[0].Labels["severity"] != "page" || p.Alerts[0].Annotations["summary"] != "queue is 10 deep on "+p.Alerts[0].Labels["host"] {
						t.Errorf("firing alert %+v: want severity page and the summary rendered from its template", p.Alerts[0])
					}
				},
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(rule, tfjsonpath.New("firing"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(rule, tfjsonpath.New("alerts").AtSliceIndex(0).AtMapKey("state"), knownvalue.StringExact(api.AlertFiring)),
					statecheck.ExpectKnownValue(rule, tfjsonpath.New("alerts").AtSliceIndex(0).AtMapKey("notified"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("hook")})),
				},
			},
			{
				// Back under it: the resolve arrives, with endsAt.
				PreConfig: func() {
					setValue("2")
					if p := expectPayload(t, payloads, "acc-queue", api.AlertResolved); p.Alerts[0].EndsAt.IsZero() {
						t.Errorf("resolve without endsAt: %+v", p)
					}
				},
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(rule, tfjsonpath.New("firing"), knownvalue.Int64Exact(0)),
				},
			},
			{
				// The rule file edited by hand: the plan shows it, and this
				// one plain apply converges (the step's plan after it is empty).
				PreConfig: func() {
					if out, err := onHost(t, f, h, `sed -i 's/"threshold": 5,/"threshold": 50,/' /etc/steward/alert_rules/acc-queue.json && grep -q '"threshold": 50,' /etc/steward/alert_rules/acc-queue.json`); err != nil {
						t.Fatalf("edit the rule file on %s: %v\n%s", h.Name, err, out)
					}
				},
				Config: base,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(rule, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(rule, tfjsonpath.New("threshold"), knownvalue.Float64Exact(5)),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: hostCheck(t, f, h, `grep -c '"threshold": 5,' /etc/steward/alert_rules/acc-queue.json`, "1"),
			},
			{
				// The channel file edited by hand: the same.
				PreConfig: func() {
					if out, err := onHost(t, f, h, `sed -i 's/"retry_max": "5s"/"retry_max": "9s"/' /etc/steward/channels/hook.json && grep -q '"retry_max": "9s"' /etc/steward/channels/hook.json`); err != nil {
						t.Fatalf("edit the channel file on %s: %v\n%s", h.Name, err, out)
					}
				},
				Config: base,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(channelAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(channelAddr, tfjsonpath.New("retry_max"), knownvalue.StringExact("5s")),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: hostCheck(t, f, h, `grep -c '"retry_max": "5s"' /etc/steward/channels/hook.json`, "1"),
			},
			{Config: silenced},
			{
				// Over the threshold under the silence: nothing is sent, and
				// the alert fires silenced.
				PreConfig: func() {
					setValue("10")
					expectNoPayload(t, payloads, within)
				},
				Config: silenced,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(silenceAddr, tfjsonpath.New("active"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(rule, tfjsonpath.New("firing"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(rule, tfjsonpath.New("alerts").AtSliceIndex(0).AtMapKey("silenced"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("maint")})),
				},
			},
			{
				// The resolve under the silence is not sent either; the
				// history has every transition and delivery.
				PreConfig: func() {
					setValue("1")
					expectNoPayload(t, payloads, 20*time.Second)
				},
				Config: history,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("data.steward_alert_history.h", "id", h.MachineID),
					resource.TestCheckTypeSetElemNestedAttrs("data.steward_alert_history.h", "transitions.*",
						map[string]string{"rule": "acc-queue", "to": api.AlertFiring, "silenced.#": "0"}),
					resource.TestCheckTypeSetElemNestedAttrs("data.steward_alert_history.h", "transitions.*",
						map[string]string{"rule": "acc-queue", "to": api.AlertFiring, "silenced.0": "maint"}),
					resource.TestCheckTypeSetElemNestedAttrs("data.steward_alert_history.h", "transitions.*",
						map[string]string{"rule": "acc-queue", "to": api.AlertResolved, "silenced.0": "maint"}),
					resource.TestCheckTypeSetElemNestedAttrs("data.steward_alert_history.h", "deliveries.*",
						map[string]string{"channel": "hook", "event": api.DeliveryNotification, "result": api.DeliveryDelivered,
							"alerts.0.rule": "acc-queue", "alerts.0.state": api.AlertResolved}),
				),
			},
		},
	})
}
