package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// The channels' secrets and the command channel's program live on the
// host, under accDir; the program appends what it is given to accNotes.
const (
	accDir   = "/etc/steward-acc"
	accNotes = "/var/tmp/steward-acc-notes"
)

// notifyScript is the command channel's program: it appends the event and
// the notification JSON it reads on stdin as one line to the file $1.
const notifyScript = `#!/bin/sh
set -e
printf '%s %s\n' "$STEWARD_EVENT" "$(cat)" >> "$1"
`

// channelsAccConfig is a monitored host with one channel of each kind
// that talks to a receiver elsewhere (alertmanager, slack, command, email)
// and a rule on a textfile metric sending to all four.
func channelsAccConfig(f fleet, h fleetHost, alertmanager, slackURL string, smtpPort int, extra string) string {
	return monitoredHost(f, h, "") + fmt.Sprintf(`
resource "steward_notification_channel" "am" {
  host         = steward_host.h.host_connection
  name         = "am"
  type         = "alertmanager"
  alertmanager = { urls = [%[1]q], resend_interval = "10s" }
  retry_min    = "1s"
  retry_max    = "5s"
}

resource "steward_notification_channel" "slack" {
  host      = steward_host.h.host_connection
  name      = "slack"
  type      = "slack"
  slack     = { url_file = "%[5]s/slack.url", url_sha256 = sha256(%[2]q) }
  retry_min = "1s"
  retry_max = "5s"
}

resource "steward_notification_channel" "cmd" {
  host      = steward_host.h.host_connection
  name      = "cmd"
  type      = "command"
  command   = { args = ["%[5]s/notify.sh", %[6]q] }
  retry_min = "1s"
  retry_max = "5s"
}

resource "steward_notification_channel" "mail" {
  host = steward_host.h.host_connection
  name = "mail"
  type = "email"
  email = {
    host          = %[3]q
    port          = %[4]d
    tls           = "starttls"
    ca_file       = "%[5]s/smtp-ca.pem"
    from          = "Steward <steward@fleet.test>"
    to            = ["oncall@fleet.test"]
    username      = "steward"
    password_file = "%[5]s/smtp.password"
  }
  test_on_create = true
  retry_min      = "1s"
  retry_max      = "5s"
}
%[7]s
%[8]s`, alertmanager, slackURL, f.BridgeAddress, smtpPort, accDir, accNotes,
		accQueueRule("[for c in [steward_notification_channel.am, steward_notification_channel.slack, steward_notification_channel.cmd, steward_notification_channel.mail] : c.name]"),
		extra)
}

// commandNotes reads what the command channel's program was given on h.
func commandNotes(t *testing.T, f fleet, h fleetHost) (events []string, notes []api.Notification) {
	t.Helper()
	out, err := onHost(t, f, h, "cat "+accNotes+" 2>/dev/null || true")
	if err != nil {
		t.Fatalf("read %s on %s: %v\n%s", accNotes, h.Name, err, out)
	}
	for line := range strings.Lines(out) {
		event, js, _ := strings.Cut(strings.TrimSpace(line), " ")
		var n api.Notification
		if err := json.Unmarshal([]byte(js), &n); err != nil {
			t.Fatalf("the command channel's program got %q on stdin, not a notification: %v", js, err)
		}
		events, notes = append(events, event), append(notes, n)
	}
	return events, notes
}

// waitCommandNotes waits until the program was run n times.
func waitCommandNotes(t *testing.T, f fleet, h fleetHost, n int, within time.Duration) ([]string, []api.Notification) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		events, notes := commandNotes(t, f, h)
		if len(notes) >= n {
			return events, notes
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command channel ran its program %d times within %s, want %d: %+v", len(notes), within, n, notes)
		}
		time.Sleep(time.Second)
	}
}

// TestAccAlert_channels: one rule on a fleet host sends to four channels
// at once, each against its real receiver on the bridge: a real
// Alertmanager (the alert shows in its /api/v2/alerts with the rule's
// labels and is routed on to a webhook; after the resolve it is no longer
// active and the routed resolve carries endsAt), a Slack incoming webhook,
// a command on the host (the notification JSON on its stdin) and e-mail
// through an SMTP server requiring STARTTLS and AUTH (the test send on
// create arrives). With the password file on the host wrong, the server
// refuses the login: the error shows in the channel's last_error, in
// steward_alert_history and in `steward-agent alerts`, the other channels
// deliver as usual and the agent keeps running; once the file is fixed,
// the queued notification arrives, then the resolve.
func TestAccAlert_channels(t *testing.T) {
	f := testFleet(t, 2)
	testAgent(t)
	t.Parallel() // on a host of its own; waits for the serial tests to end
	h := f.Hosts[1]
	cleanHost(t, f, h)
	const within = notifyWithin
	const password = "correct horse battery staple"
	amHook, amPayloads := webhookReceiver(t, f)
	am := startAlertmanager(t, f, amHook)
	slackURL, slack := slackReceiver(t, f)
	smtp := startSMTP(t, f, "steward", password)

	setup := fmt.Sprintf("set -e; umask 077; rm -rf %[1]s %[2]s; mkdir -p %[1]s; printf '%%s\\n' %[3]s > %[1]s/slack.url; printf '%%s\\n' %[4]s > %[1]s/smtp.password; printf '%%s' %[5]s > %[1]s/smtp-ca.pem; printf '%%s' %[6]s > %[1]s/notify.sh; chmod 755 %[1]s/notify.sh",
		accDir, accNotes, shellQuote(slackURL), shellQuote(password), shellQuote(string(smtp.CAPEM)), shellQuote(notifyScript))
	if out, err := onHost(t, f, h, setup); err != nil {
		t.Fatalf("put the channels' files on %s: %v\n%s", h.Name, err, out)
	}
	t.Cleanup(func() { _, _ = onHost(t, f, h, "rm -rf "+accDir+" "+accNotes) })
	setPassword := func(p string) {
		t.Helper()
		if out, err := onHost(t, f, h, fmt.Sprintf("printf '%%s\\n' %s > %s/smtp.password", shellQuote(p), accDir)); err != nil {
			t.Fatalf("write the SMTP password file on %s: %v\n%s", h.Name, err, out)
		}
	}
	setValue := func(v string) {
		t.Helper()
		setTextfileMetric(t, f, h, "acc", "acc_queue_depth", v)
	}
	setValue("1")

	base := channelsAccConfig(f, h, am, slackURL, smtp.Port, "")
	history := channelsAccConfig(f, h, am, slackURL, smtp.Port, `
data "steward_alert_history" "mail" {
  host    = steward_host.h.host_connection
  channel = steward_notification_channel.mail.name
}
`)
	mail := "steward_notification_channel.mail"
	summary := "queue is 10 deep on " + h.Name
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				// test_on_create: the test e-mail went through STARTTLS
				// and AUTH before the create returned (a test is recorded
				// in the history, not counted as a notification).
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(mail, tfjsonpath.New("delivered"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(mail, tfjsonpath.New("last_error"), knownvalue.StringExact("")),
				},
				Check: func(*terraform.State) error {
					e := expectEmail(t, smtp, "[TEST] Steward notification channel test on "+h.Name, 5*time.Second)
					if e.Header.Get("From") != `"Steward" <steward@fleet.test>` || e.Header.Get("To") != "<oncall@fleet.test>" {
						return fmt.Errorf("test e-mail From %q To %q: want the channel's from and to", e.Header.Get("From"), e.Header.Get("To"))
					}
					select {
					case a := <-smtp.Auths:
						if !a.OK {
							return fmt.Errorf("the test e-mail's AUTH %+v was refused", a)
						}
					case <-time.After(5 * time.Second):
						return errors.New("the SMTP server saw no AUTH for the test e-mail")
					}
					return nil
				},
			},
			{
				// Over the threshold with a wrong SMTP password: the
				// other three channels deliver; the mail server refuses
				// the login, again at every retry.
				PreConfig: func() {
					setPassword("not the password")
					setValue("10")
					as := waitAlertmanager(t, am, "acc-queue", func(as []amAlert) bool { return len(as) == 1 && as[0].Status.State == "active" },
						"the firing alert, active", within)
					if a := as[0]; a.Labels["severity"] != "page" || a.Labels["host"] != h.Name || a.Annotations["summary"] != summary ||
						len(a.Receivers) != 1 || a.Receivers[0].Name != "hook" || !a.EndsAt.After(time.Now()) {
						t.Fatalf("Alertmanager's alert %+v: want the rule's labels and summary, routed to hook, ending in the future", a)
					}
					if p := expectPayload(t, amPayloads, "acc-queue", api.AlertFiring); p.Alerts[0].Labels["host"] != h.Name {
						t.Errorf("Alertmanager routed %+v: want the host label", p)
					}
					m := expectSlack(t, slack, "acc-queue", api.AlertFiring, within)
					if m.Text != "*[FIRING:1] acc-queue on "+h.Name+"*" || m.Attachments[0].Text != summary {
						t.Errorf("slack message %+v: want the subject as its text and the summary", m)
					}
					events, notes := waitCommandNotes(t, f, h, 1, within)
					if n := notes[0]; events[0] != api.DeliveryNotification || n.Channel != "cmd" || n.Host != h.Name || n.HostID != h.MachineID ||
						len(n.Alerts) != 1 || n.Alerts[0].Rule != "acc-queue" || n.Alerts[0].State != api.AlertFiring || n.Alerts[0].Annotations["summary"] != summary {
						t.Errorf("the command got %s %+v: want the firing notification of acc-queue", events[0], n)
					}
					deadline := time.After(within)
					for refused := false; !refused; {
						select {
						case a := <-smtp.Auths:
							refused = !a.OK
						case <-deadline:
							t.Fatalf("the SMTP server saw no AUTH with the wrong password within %s", within)
						}
					}
					waitHostAlerts(t, f, h, "acc-queue", func(a hostAlerts) bool {
						for _, d := range a.History.Deliveries {
							if d.Channel == "mail" && d.Result == api.DeliveryFailed && strings.Contains(d.Error, "535") {
								return true
							}
						}
						return false
					}, "a failed mail delivery")
					select {
					case e := <-smtp.Emails:
						t.Fatalf("an e-mail arrived with the wrong password: %q", e.Data)
					default:
					}
				},
				Config: history,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(mail, tfjsonpath.New("last_error"),
						knownvalue.StringRegexp(regexp.MustCompile(`authenticate as steward \(PLAIN\): 535 "?5\.7\.8 Authentication credentials invalid`))),
					statecheck.ExpectKnownValue(mail, tfjsonpath.New("queue_length"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(mail, tfjsonpath.New("delivered"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue("steward_notification_channel.slack", tfjsonpath.New("delivered"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue("steward_notification_channel.cmd", tfjsonpath.New("delivered"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("firing"), knownvalue.Int64Exact(1)),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchTypeSetElemNestedAttrs("data.steward_alert_history.mail", "deliveries.*", map[string]*regexp.Regexp{
						"channel": regexp.MustCompile(`^mail$`), "event": regexp.MustCompile(`^notification$`), "result": regexp.MustCompile(`^failed$`),
						"alerts.0.rule": regexp.MustCompile(`^acc-queue$`), "alerts.0.state": regexp.MustCompile(`^firing$`),
						"error": regexp.MustCompile(`535 "?5\.7\.8`),
					}),
					hostCheck(t, f, h, `/usr/local/lib/steward/current alerts --rule acc-queue | grep -Eq 'mail +notification +failed +acc-queue:firing +smtp .*535 .?5\.7\.8' && echo listed`, "listed"),
					// Nothing crashed: the daemon that started is still the one running.
					hostCheck(t, f, h, "systemctl is-active steward-agent; systemctl show -p NRestarts --value steward-agent", "active\n0"),
				),
			},
			{
				// The password file fixed: the queued notification goes
				// out, then the resolve, on every channel; Alertmanager
				// no longer lists the alert as active.
				PreConfig: func() {
					setPassword(password)
					if e := expectEmail(t, smtp, "[FIRING:1] acc-queue on "+h.Name, within); !strings.Contains(e.Body, summary) {
						t.Errorf("firing e-mail %q: want the summary in it", e.Body)
					}
					setValue("1")
					waitAlertmanager(t, am, "acc-queue", func(as []amAlert) bool { return len(as) == 0 }, "the resolved alert gone from the active ones", within)
					if p := expectPayload(t, amPayloads, "acc-queue", api.AlertResolved); p.Alerts[0].EndsAt.IsZero() || p.Alerts[0].EndsAt.After(time.Now()) {
						t.Errorf("Alertmanager's resolve %+v: want the endsAt Steward sent", p)
					}
					expectSlack(t, slack, "acc-queue", api.AlertResolved, within)
					if e := expectEmail(t, smtp, "[RESOLVED] acc-queue on "+h.Name, within); !strings.Contains(e.Body, "[RESOLVED] acc-queue") {
						t.Errorf("resolve e-mail %q: want the alert in it", e.Body)
					}
					events, notes := waitCommandNotes(t, f, h, 2, within)
					if len(notes) != 2 || events[1] != api.DeliveryNotification || notes[1].Alerts[0].State != api.AlertResolved || notes[1].Alerts[0].EndsAt.IsZero() {
						t.Errorf("the command got %v %+v: want the firing notification, then the resolve", events, notes)
					}
				},
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(mail, tfjsonpath.New("queue_length"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(mail, tfjsonpath.New("delivered"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(alertRuleAddr, tfjsonpath.New("firing"), knownvalue.Int64Exact(0)),
				},
			},
		},
	})
}
